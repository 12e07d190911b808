"""Optuna storage: one journal file per study under STUDIO_HOME by default, or an RDB URL from settings."""

from __future__ import annotations

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
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    # One file per study: loading a study replays only its own journal, however many jobs the studio has run.
    return JournalStorage(JournalFileBackend(str(confined(settings.optuna_dir, f"{study_name}.log"))))


def load_trials(settings: Settings, study_name: str) -> list[optuna.trial.FrozenTrial]:
    """The trials of a finished or running study, for charts."""
    if not settings.optuna_storage and not confined(settings.optuna_dir, f"{study_name}.log").exists():
        raise TrackingError(f"No Optuna study '{study_name}' in {settings.optuna_dir}.")
    try:
        study = optuna.load_study(study_name=study_name, storage=storage_for(settings, study_name))
    except KeyError:
        raise TrackingError(f"No Optuna study '{study_name}' in the configured storage.") from None
    return study.get_trials(deepcopy=False)


def trial_outcomes(settings: Settings, study_name: str) -> list[TrialOutcome]:
    from studio.training.search import outcome_of

    return [outcome_of(t) for t in load_trials(settings, study_name) if t.state.is_finished()]
