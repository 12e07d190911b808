"""Pages first from the start of a signed-in session's script run, not from the first line of app.py.

Streamlit prepares each run before it executes app.py (a script thread with its context and event loop, the
page's script looked up and compiled, the run announced): about 2 ms of a 10 ms home rerun at the median, up to
5 ms at p95 beside a training job, which that work ran beside while the hold began in app.py (a probe on
bench/ui.py's job, 2026-12-07: home's p95 x1.33-1.46 with the hold from app.py, x1.30-1.33 from the start of the
script thread, running against paused; docs/benchmarks.md). Streamlit has no hook before a run, so `install`
wraps its script runner's thread (a private method, checked by tests/ui/test_run_hold.py on the pinned version):
a session in which a person signed in on an earlier run is held from the thread's start to its end. A session that
has not signed in is never held (anyone who reaches the app can rerun the sign-in screen); its first signed-in run
is held by app.py's own `pages_first()`, which does nothing inside a hold already taken here.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
_MARK = "_studio_run_hold"


def install(signed_in: Callable[[Any], bool], hold: Callable[[], Any]) -> bool:
    """Wrap Streamlit's script thread (once per process): a run whose session state passes `signed_in` runs inside
    the context manager `hold()`. Returns whether the hook is in place (False, logged, where Streamlit changed)."""
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    real = getattr(ScriptRunner, "_run_script_thread", None)
    if real is None:
        log.warning("Streamlit's ScriptRunner has no _run_script_thread: pages first holds from app.py only.")
        return False
    if getattr(real, _MARK, False):
        return True

    @functools.wraps(real)
    def run_script_thread(self: ScriptRunner) -> None:
        state = getattr(self, "_session_state", None)
        if state is None or not signed_in(state):
            real(self)
            return
        with hold():
            real(self)

    setattr(run_script_thread, _MARK, True)
    ScriptRunner._run_script_thread = run_script_thread  # type: ignore[method-assign]
    return True
