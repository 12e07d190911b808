"""The fitted models of a job's best trials, kept in the process that fitted them (a Dask worker, or the job's own
process for trials run inline), so the job's final phase can evaluate the chosen configuration on the held-out
rows without fitting it again: the registered model is then the one fit on all rows.

Each process keeps, per job, the last validation split's fitted pipeline of its KEEP best trials (by their
validation score) and of each algorithm's best (the ensemble's shortlist always holds those), for the JOBS jobs it
ran last, in at most MAX_BYTES (a deep forest on many rows holds hundreds of MB: the worst kept model goes first,
and a model larger than the cap is not kept). A restarted worker has lost its models: the final phase then fits the
chosen configuration on the training rows as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

#: Models kept per job and process: the ensemble's shortlist is the best dozen trials (ensemble.MAX_CANDIDATES),
#: which one worker may have run most of.
KEEP = 12
#: Jobs whose models a process keeps (a remote cluster may run trials of more than one job).
JOBS = 2
#: What the kept models may hold in one process, in bytes (`footprint`).
MAX_BYTES = 256 * 2**20
#: A native booster's trees are held by the library, not as arrays: counted at this many bytes each (31 leaves or
#: depth 6 hold 3-5 KB).
BYTES_PER_NATIVE_TREE = 8 * 2**10


@dataclass(frozen=True)
class KeepAs:
    """Where a trial's fitted model is kept: its job's key (the study's name), its trial number and its algorithm."""

    job: str
    trial: int
    algorithm: str = ""


_kept: OrderedDict[str, dict[int, tuple[float, int, Any, str]]] = OrderedDict()  # job -> trial -> (loss, bytes,
#                                                                                    model, algorithm)
_lock = threading.Lock()  # a Dask worker with several threads runs several trials at once


def keep(at: KeepAs | None, loss: float, model: Any) -> None:
    """Keep `model` if its `loss` (lower is better) is among the job's KEEP best so far in this process, within
    MAX_BYTES (`at` None: nowhere to keep it)."""
    if at is None:
        return
    size = footprint(model)
    if size > MAX_BYTES:
        return
    with _lock:
        models = _kept.setdefault(at.job, {})
        _kept.move_to_end(at.job)
        while len(_kept) > JOBS:
            _kept.popitem(last=False)
        models[at.trial] = (loss, size, model, at.algorithm)
        if len(models) > KEEP and (worst := _worst(models)) is not None:
            del models[worst]
        while _held() > MAX_BYTES:  # an earlier job's models go first, then this job's worst large one
            if len(_kept) > 1:
                _kept.popitem(last=False)
            else:
                del models[_evicted(models)]


def _worst(models: dict[int, tuple[float, int, Any, str]]) -> int | None:
    """The trial whose model goes first: the highest loss, sparing each algorithm's best."""
    leaders = {min((n for n in models if models[n][3] == a), key=lambda n: models[n][0])
               for a in {m[3] for m in models.values()}}
    rest = [n for n in models if n not in leaders]
    return max(rest, key=lambda n: models[n][0]) if rest else None


def _evicted(models: dict[int, tuple[float, int, Any, str]]) -> int:
    """The trial whose model goes when the job's models are over MAX_BYTES: the worst of the large ones (a KEEP-th
    of the cap or more), the worst of all where none is. Dropping a small model frees nothing: on digits, 10-class
    LightGBMs of 1,800 rounds (18,000 trees) filled the cap, and dropping by score alone took the linear models,
    a few KB each, until one the ensemble chose was gone and the final phase had to fit again on one busy core."""
    large = [n for n in models if models[n][1] >= MAX_BYTES // KEEP]
    return max(large or models, key=lambda n: models[n][0])


def _held() -> int:
    return sum(entry[1] for models in _kept.values() for entry in models.values())


def take(job: str, trial: int) -> Any | None:
    """The model kept for `trial` of `job` in this process, or None (never kept, or dropped). Run on the worker
    that fitted it."""
    with _lock:
        found = _kept.get(job, {}).get(trial)
    return None if found is None else found[2]


def forget(job: str) -> None:
    """Drop a finished job's models (the final phase has what it needs)."""
    with _lock:
        _kept.pop(job, None)


def footprint(model: Any) -> int:
    """About how many bytes a fitted model holds: its NumPy arrays (scikit-learn's trees by their nodes and
    values), and BYTES_PER_NATIVE_TREE per tree of an XGBoost or LightGBM booster."""
    return _bytes(model, set(), 0)


def _bytes(obj: Any, seen: set[int], depth: int) -> int:
    import numpy as np

    if id(obj) in seen or depth > 8:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if hasattr(obj, "node_count") and hasattr(obj, "value"):  # sklearn.tree._tree.Tree: nodes of 64 bytes
        return int(obj.node_count) * 64 + int(np.asarray(obj.value).nbytes)
    if hasattr(obj, "booster_") and hasattr(obj.booster_, "num_trees"):  # a fitted LightGBM model
        return int(obj.booster_.num_trees()) * BYTES_PER_NATIVE_TREE
    if hasattr(obj, "get_booster") and hasattr(obj, "n_features_in_"):  # a fitted XGBoost model: a tree per round
        classes = int(getattr(obj, "n_classes_", 0) or 0)  # and per class above two
        return int(obj.get_booster().num_boosted_rounds()) * (classes if classes > 2 else 1) * BYTES_PER_NATIVE_TREE
    if isinstance(obj, dict):
        return sum(_bytes(v, seen, depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_bytes(v, seen, depth + 1) for v in obj)
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return sum(_bytes(v, seen, depth + 1) for v in vars(obj).values())
    return 0
