"""Optuna storage: one journal file per study under STUDIO_HOME by default, or an RDB URL from settings."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import optuna

from studio.db import normalize_url
from studio.errors import TrackingError
from studio.paths import confined
from studio.settings import Settings
from studio.training.search import TrialOutcome


def storage_for(settings: Settings, study_name: str) -> optuna.storages.BaseStorage | str:
    """A journal file per study (safe for several processes on one machine), or the configured RDB URL
    (PostgreSQL when workers on several machines share studies)."""
    if settings.optuna_storage:
        return normalize_url(settings.optuna_storage)
    # One file per study: loading a study replays only its own journal, however many jobs the studio has run.
    return _journal(confined(settings.optuna_dir, f"{study_name}.log"))


def _journal(path: Path) -> optuna.storages.BaseStorage:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(path)))


#: Journal readers kept in this process, one per study file, the most recently used last. A reader replays its
#: file once and afterwards only the lines added since (Optuna's JournalStorage keeps its replay and the byte
#: offsets), so the Jobs page refreshing a running job every 2 s reads its new trials, not the whole study again.
_READERS: OrderedDict[Path, optuna.storages.BaseStorage] = OrderedDict()
_READERS_LOCK = threading.Lock()
MAX_READERS = 16


def _reader(settings: Settings, study_name: str) -> optuna.storages.BaseStorage | str:
    if settings.optuna_storage:
        return storage_for(settings, study_name)
    path = confined(settings.optuna_dir, f"{study_name}.log")
    with _READERS_LOCK:
        reader = _READERS.pop(path, None) or _journal(path)
        _READERS[path] = reader
        while len(_READERS) > MAX_READERS:
            _READERS.popitem(last=False)
        return reader


def load_trials(settings: Settings, study_name: str) -> list[optuna.trial.FrozenTrial]:
    """The trials of a finished or running study, for charts."""
    if not settings.optuna_storage and not confined(settings.optuna_dir, f"{study_name}.log").exists():
        raise TrackingError(f"No Optuna study '{study_name}' in {settings.optuna_dir}.")
    try:
        study = optuna.load_study(study_name=study_name, storage=_reader(settings, study_name))
    except KeyError:
        raise TrackingError(f"No Optuna study '{study_name}' in the configured storage.") from None
    return study.get_trials(deepcopy=False)


def trial_outcomes(settings: Settings, study_name: str) -> list[TrialOutcome]:
    from studio.training.search import outcome_of

    return [outcome_of(t) for t in load_trials(settings, study_name) if t.state.is_finished()]
