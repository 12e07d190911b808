"""Pages first from the start of a signed-in session's script run, not from the first line of app.py.

Streamlit prepares each run before it executes app.py (a script thread with its context and event loop, the page's
script looked up and compiled, the run announced): about 2 ms of a 10 ms home rerun at the median, up to 5 ms at p95
beside a training job, which that work ran beside while the hold began in app.py (a probe on bench/ui.py's job,
2026-12-07: home's p95 1-1.7 ms lower with the hold from the start of the script thread in each of three runs, and
no lower with it from app.py's first line; docs/benchmarks.md). Streamlit has no hook before a run, so `install`
wraps its script runner's thread (a private method, checked by tests/ui/test_run_hold.py on the pinned version): a
session in which a person signed in on an earlier run is held from the thread's start to its end. A session that has
not signed in is never held (anyone who reaches the app can rerun the sign-in screen); its first signed-in run is
held by app.py's own `pages_first()`, which does nothing inside a hold already taken here.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
_MARK = "_studio_run_hold"
_hook: dict[str, Callable[..., Any]] = {}  # the latest install's callables: the wrapper is installed once


def install(signed_in: Callable[[Any], bool], hold: Callable[[], Any]) -> bool:
    """Wrap Streamlit's script thread (once per process): a run whose session state passes `signed_in` runs inside
    the context manager `hold()`. Returns whether the hook is in place (False, logged, where Streamlit changed)."""
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    _hook.update(signed_in=signed_in, hold=hold)
    real = getattr(ScriptRunner, "_run_script_thread", None)
    if real is None:
        log.warning("Streamlit's ScriptRunner has no _run_script_thread: pages first holds from app.py only.")
        return False
    if getattr(real, _MARK, False):
        return True

    @functools.wraps(real)
    def run_script_thread(self: ScriptRunner) -> None:
        with contextlib.ExitStack() as held:
            try:
                state = getattr(self, "_session_state", None)
                if state is not None and _hook["signed_in"](state):
                    held.enter_context(_hook["hold"]())
            except Exception:  # whatever went wrong, the page runs (beside the training), never not at all
                log.exception("Pages first could not hold this run; it runs beside the training.")
            real(self)

    setattr(run_script_thread, _MARK, True)
    ScriptRunner._run_script_thread = run_script_thread  # type: ignore[method-assign]
    return True
