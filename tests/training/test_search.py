from __future__ import annotations

import pandas as pd
import pytest

from studio.context import Studio
from studio.studies import storage_for
from studio.training.draft import draft_spec
from studio.training.features import model_frame
from studio.training.model import encode_target
from studio.training.search import TrialOutcome, open_study, run_search


def _setup(studio: Studio, churn: pd.DataFrame, **kwargs: object):
    record = studio.catalog.save(churn, "churn", source="test")
    spec = draft_spec(record, churn, target="churned", **kwargs)  # type: ignore[arg-type]
    X = model_frame(churn, spec.features)
    y, _ = encode_target(churn["churned"], spec.task)
    study = open_study(spec, storage=storage_for(studio.settings, "s1"), study_name="s1")
    return spec, X, y, study


def test_search_starts_from_each_algorithms_defaults_and_respects_max_trials(studio: Studio, churn) -> None:
    spec, X, y, study = _setup(studio, churn, algorithms=["linear", "hist_gradient_boosting"], max_trials=4,
                               budget_seconds=None, validation={"kind": "kfold", "folds": 3})
    seen: list[TrialOutcome] = []
    run_search(spec, X, y, study=study, n_jobs=1, on_trial=seen.append, should_stop=lambda: False)
    assert [t.number for t in seen] == [0, 1, 2, 3]
    assert [t.algorithm for t in seen[:2]] == ["linear", "hist_gradient_boosting"]
    assert seen[1].params["max_iter"] == 100  # the enqueued default, not a sampled value
    assert all(0.5 < (t.score or 0) <= 1 for t in seen)


def test_should_stop_ends_the_search_and_keeps_finished_trials(studio: Studio, churn) -> None:
    spec, X, y, study = _setup(studio, churn, algorithms=["linear"], max_trials=50, budget_seconds=None,
                               validation={"kind": "holdout"})
    seen: list[TrialOutcome] = []
    run_search(spec, X, y, study=study, n_jobs=1, on_trial=seen.append, should_stop=lambda: len(seen) >= 3)
    assert len(seen) == 3 and len(study.trials) == 3


def test_a_resumed_study_counts_its_earlier_trials_against_the_budget(studio: Studio, churn) -> None:
    spec, X, y, study = _setup(studio, churn, algorithms=["linear"], max_trials=5, budget_seconds=None,
                               validation={"kind": "holdout"})
    seen: list[TrialOutcome] = []
    run_search(spec, X, y, study=study, n_jobs=1, on_trial=seen.append, should_stop=lambda: len(seen) >= 2)
    again = open_study(spec, storage=storage_for(studio.settings, "s1"), study_name="s1")
    run_search(spec, X, y, study=again, n_jobs=1, on_trial=seen.append, should_stop=lambda: False)
    assert len(again.trials) == 5 and len(seen) == 5


@pytest.mark.parametrize("kind", ["kfold", "holdout"])
def test_both_validation_schemes_score(studio: Studio, churn, kind: str) -> None:
    spec, X, y, study = _setup(studio, churn, algorithms=["random_forest"], max_trials=1, budget_seconds=None,
                               validation={"kind": kind, "folds": 3})
    seen: list[TrialOutcome] = []
    run_search(spec, X, y, study=study, n_jobs=1, on_trial=seen.append, should_stop=lambda: False)
    assert seen[0].score is not None and seen[0].score > 0.6
