"""The hold on this process's own search work while the app runs a page (studio/worker/yielding.py sets it).

The worker stops its compute processes while a page runs, but the search's driver runs in the worker process
itself (Optuna's sampling, the trial bookkeeping, the job's log and progress writes): beside pages it cost them
another 3-16 %. The driver waits here between its steps; the hold never lasts longer than the worker's cap.
"""

from __future__ import annotations

import threading

#: The longest a page holds this process and its compute (studio/worker/yielding.py enforces it).
MAX_HOLD_S = 1.0

_free = threading.Event()
_free.set()


def hold(held: bool) -> None:
    """Set (True) or lift (False) the hold."""
    if held:
        _free.clear()
    else:
        _free.set()


def wait(limit_s: float = MAX_HOLD_S) -> None:
    """Return when no page holds this process, or after `limit_s`."""
    _free.wait(limit_s)
