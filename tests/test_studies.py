"""Reading a study's trials for the pages: one journal reader per study, reading only what was added since."""

from __future__ import annotations

import optuna
from optuna.storages.journal import JournalFileBackend

from studio import studies
from studio.settings import Settings
from studio.studies import load_trials, storage_for


def _add(settings: Settings, name: str, values: list[float]) -> None:
    study = optuna.create_study(study_name=name, storage=storage_for(settings, name), load_if_exists=True)
    for value in values:
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        study.tell(trial, value)


def test_a_page_refresh_reads_only_the_trials_added_since_it_last_read(settings: Settings, monkeypatch) -> None:
    reads: list[int] = []
    original = JournalFileBackend.read_logs

    def recording(self, log_number_from: int):  # type: ignore[no-untyped-def]
        reads.append(log_number_from)
        return original(self, log_number_from)

    monkeypatch.setattr(JournalFileBackend, "read_logs", recording)
    _add(settings, "job-a", [0.1, 0.2, 0.3])  # a worker writes through its own storage
    reads.clear()
    assert [t.value for t in load_trials(settings, "job-a")] == [0.1, 0.2, 0.3]
    first = list(reads)
    _add(settings, "job-a", [0.4, 0.5])  # the job goes on in another storage object, as in the worker's process
    reads.clear()
    assert [t.value for t in load_trials(settings, "job-a")] == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert first[0] == 0 and reads and min(reads) > 0  # the second read started where the first one ended


def test_readers_are_kept_for_the_most_recent_studies_only(settings: Settings, monkeypatch) -> None:
    monkeypatch.setattr(studies, "MAX_READERS", 2)
    monkeypatch.setattr(studies, "_READERS", type(studies._READERS)())
    for name in ("job-1", "job-2", "job-3"):
        _add(settings, name, [0.5])
        load_trials(settings, name)
    load_trials(settings, "job-2")
    assert [p.name for p in studies._READERS] == ["job-3.log", "job-2.log"]
