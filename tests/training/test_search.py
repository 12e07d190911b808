"""The real search (Optuna ask/tell over the chosen algorithms) run on a real Dask cluster."""

from __future__ import annotations

from functools import partial

import numpy as np
import optuna
import pandas as pd
import pytest

from studio.compute.pool import TrialPool
from studio.context import Studio
from studio.studies import storage_for
from studio.training.draft import draft_spec
from studio.training.driver import drive
from studio.training.estimators import ESTIMATORS
from studio.training.features import model_frame
from studio.training.model import encode_target
from studio.training.search import (
    TrialOutcome,
    open_study,
    outcome_of,
    propose,
    score_trial,
    validation_predictions,
    validation_splits,
)
from studio.training.spec import Budget, TrainSpec
from tests.conftest import SMALL


def _setup(studio: Studio, churn: pd.DataFrame, *, max_trials: int, **kwargs: object):
    record = studio.catalog.save(churn, "churn", source="test")
    spec = draft_spec(record, churn, target="churned", budget=Budget(seconds=None, max_trials=max_trials),
                      **kwargs)  # type: ignore[arg-type]
    X = model_frame(churn, spec.features)
    y, _ = encode_target(churn["churned"], spec.task)
    return spec, X, y


def _search(studio: Studio, spec: TrainSpec, X, y, *, stop_after: int | None = None) -> list[TrialOutcome]:
    study = open_study(spec, storage=storage_for(studio.settings, "s1"), study_name="s1")
    seen: list[TrialOutcome] = []

    def on_trial(trial: optuna.trial.FrozenTrial, oof: object) -> None:
        seen.append(outcome_of(trial))

    drive(study, TrialPool.open(SMALL, X, y), propose=partial(propose, spec), run_trial=partial(score_trial, spec),
          max_trials=spec.budget.max_trials, deadline=None, trial_limit_s=None, on_trial=on_trial,
          should_stop=lambda: stop_after is not None and len(seen) >= stop_after)
    return seen


def test_search_starts_from_each_algorithms_defaults_and_respects_max_trials(studio: Studio, churn) -> None:
    spec, X, y = _setup(studio, churn, algorithms=["linear", "hist_gradient_boosting"], max_trials=4,
                        validation={"kind": "kfold", "folds": 3})
    seen = _search(studio, spec, X, y)
    assert [t.number for t in seen] == [0, 1, 2, 3]
    assert [t.algorithm for t in seen[:2]] == ["linear", "hist_gradient_boosting"]
    assert seen[1].params["max_leaf_nodes"] == 31  # the enqueued default, not a sampled value
    assert 1 <= seen[1].params["max_iter"] <= 2000  # the rounds early stopping chose
    assert all(0.5 < (t.score or 0) <= 1 for t in seen)
    assert all(t.worker and t.worker.startswith("tls://127.0.0.1:") for t in seen)  # each on a (local, TLS) worker


def test_the_further_starts_follow_every_algorithms_default(studio: Studio, churn) -> None:
    spec, X, y = _setup(studio, churn, algorithms=["xgboost", "linear"], max_trials=3,
                        validation={"kind": "kfold", "folds": 3})
    seen = _search(studio, spec, X, y)
    assert [t.algorithm for t in seen] == ["xgboost", "linear", "xgboost"]
    assert seen[0].params["max_depth"] == 6 and seen[2].params["max_depth"] == 1  # the additive start: stumps
    assert seen[2].params["learning_rate"] == ESTIMATORS["xgboost"].starts[0]["xgboost__learning_rate"]
    assert seen[2].score is not None and seen[2].params["n_estimators"] >= 1  # scored, its rounds early-stopped


@pytest.mark.parametrize("storage", ["journal", "postgresql"])
def test_a_resumed_study_keeps_its_trials_and_counts_them_against_the_budget(settings, churn, storage: str,
                                                                            request) -> None:
    if storage == "postgresql":  # the storage workers on several machines share
        settings = settings.model_copy(update={"optuna_storage": request.getfixturevalue("postgres_url").replace(
            "postgresql+psycopg://", "postgresql://")})
    studio = Studio(settings)
    spec, X, y = _setup(studio, churn, algorithms=["linear"], max_trials=5, validation={"kind": "holdout"})
    first = _search(studio, spec, X, y, stop_after=2)
    assert [t.state for t in first] == ["complete", "complete"]
    rest = _search(studio, spec, X, y)
    assert [t.number for t in rest] == [2, 3, 4]  # never re-run: numbering continues, 5 in all
    study = optuna.load_study(study_name="s1", storage=storage_for(studio.settings, "s1"))
    assert len(study.trials) == 5 and {t.number for t in study.trials} == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("kind", ["kfold", "holdout"])
def test_both_validation_schemes_score(studio: Studio, churn, kind: str) -> None:
    spec, X, y = _setup(studio, churn, algorithms=["random_forest"], max_trials=1,
                        validation={"kind": kind, "folds": 3})
    seen = _search(studio, spec, X, y)
    assert seen[0].score is not None and seen[0].score > 0.6


def test_repeated_kfold_averages_each_rows_out_of_fold_predictions(studio: Studio, churn) -> None:
    spec, X, y = _setup(studio, churn, algorithms=["linear"], max_trials=1,
                        validation={"kind": "kfold", "folds": 3, "repeats": 2})
    assert len(validation_splits(spec, y)) == 6 and spec.validation.splits == 6
    once = validation_predictions(spec.model_copy(update={"validation": spec.validation.model_copy(
        update={"repeats": 1})}), "linear", {"C": 1.0}, X, y, n_jobs=1)
    twice = validation_predictions(spec, "linear", {"C": 1.0}, X, y, n_jobs=1)
    assert twice.extra.shape == once.extra.shape == (len(y), 2) and not np.isnan(twice.extra).any()
    assert np.allclose(twice.extra.sum(axis=1), 1)  # still probabilities: each row's two predictions averaged
    assert not np.allclose(twice.extra, once.extra)  # the second shuffle gave other folds
