"""The final phase fits the chosen model once: the held-out score, diagnostics, importance and SHAP come from the
search's last split models (which never saw a held-out row), kept where they were fitted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from studio.compute import inline
from studio.studies import storage_for
from studio.training import kept, reuse
from studio.training.draft import draft_spec
from studio.training.features import model_frame
from studio.training.kept import KeepAs
from studio.training.metrics import METRICS, score_predictions
from studio.training.model import encode_target, raw_predictions
from studio.training.run import train
from studio.training.rungs import Limits
from studio.training.search import make_pipeline, validation_predictions, validation_splits
from studio.training.spec import Budget
from tests.conftest import INLINE, SMALL, ListReporter, churn_frame


def _setup(studio, frame: pd.DataFrame, **kwargs: object):
    record = studio.catalog.save(frame, "churn", source="test")
    spec = draft_spec(record, frame, target="churned", budget=Budget(seconds=None, max_trials=4),
                      **kwargs)  # type: ignore[arg-type]
    return spec, model_frame(frame, spec.features), encode_target(frame["churned"], spec.task)[0]


def _churn(studio, rows: int, algorithms: list[str], budget: Budget):
    """A saved churn table of `rows` rows and the spec drafted on it."""
    frame = churn_frame(rows)
    record = studio.catalog.save(frame, "churn", source="test")
    return frame, draft_spec(record, frame, target="churned", algorithms=algorithms, budget=budget)


def test_a_trial_keeps_its_last_split_model_which_never_saw_a_held_out_row(studio) -> None:
    frame = churn_frame(400)
    spec, X, y = _setup(studio, frame, algorithms=["linear"], validation={"kind": "kfold", "folds": 3})
    train_X, train_y, held_out = X.iloc[:300], y[:300], X.iloc[300:]
    result = validation_predictions(spec, "linear", {"C": 1.0}, train_X, train_y, n_jobs=1,
                                    limits=Limits(keep_as=KeepAs("job-held-out", 0)))
    fit_idx, _ = validation_splits(spec, train_y)[-1]  # fitted on the last split's fit rows, training rows only
    by_hand = make_pipeline(spec, "linear", {"C": 1.0}, n_jobs=1).fit(train_X.iloc[fit_idx], train_y[fit_idx])
    last = kept.take("job-held-out", 0)
    assert result.value is not None and last is not None
    np.testing.assert_allclose(raw_predictions(last, held_out, 2), raw_predictions(by_hand, held_out, 2), atol=1e-9)
    kept.forget("job-held-out")
    assert kept.take("job-held-out", 0) is None


def test_the_held_out_evaluation_is_the_kept_split_models_and_the_registered_model_is_fitted_once(
        studio, monkeypatch) -> None:
    frame, spec = _churn(studio, 500, ["linear", "lightgbm"], Budget(seconds=None, max_trials=6))
    fitted_rows, scored = [], []
    real_fit, real_fetch = Pipeline.fit, reuse.fetch

    def counting_fit(self, X, y=None, **kwargs):  # the final phase's fits (a split model is fitted as one too)
        fitted_rows.append(len(X))
        return real_fit(self, X, y, **kwargs)

    def watching(*args, **kwargs):
        found, missing = real_fetch(*args, **kwargs)
        scored.append(None if None in found else reuse.scored_model(found, args[0], 2))
        monkeypatch.setattr(Pipeline, "fit", counting_fit)  # from here on: the final phase
        return found, missing

    monkeypatch.setattr(reuse, "fetch", watching)
    reporter = ListReporter()
    result = train(spec, catalog=studio.catalog, tracker=studio.tracker, storage=storage_for(studio.settings, "job-u1"),
                   job_id="u1", profile=SMALL, reporter=reporter, pools=INLINE)
    assert scored and scored[0] is not None
    evaluation = studio.tracker.load_evaluation(result.run_id)
    X_test = model_frame(evaluation.holdout.frame, spec.features)
    held_out = raw_predictions(scored[0], X_test, 2)  # the kept split model(s): no held-out row learned from
    assert result.test_score == pytest.approx(score_predictions(METRICS["roc_auc"], evaluation.holdout.y, held_out))
    np.testing.assert_allclose(evaluation.holdout.proba, held_out, atol=1e-6)  # the diagnostics show the same
    assert evaluation.summary.importance
    # every final fit learned from all rows (training and held-out): one fit per member of the chosen model
    assert fitted_rows and set(fitted_rows) == {len(frame)}
    assert any("once, on all 500 rows" in line for line in reporter.lines)
    assert kept.take("job-u1", 0) is None  # the job's kept models were dropped when it ended


def test_without_the_kept_models_the_job_fits_on_the_training_rows_as_well(studio, monkeypatch) -> None:
    _frame, spec = _churn(studio, 400, ["linear"], Budget(seconds=None, max_trials=2))
    monkeypatch.setattr(kept, "take", lambda *args: None)  # as after a restarted worker
    reporter = ListReporter()
    result = train(spec, catalog=studio.catalog, tracker=studio.tracker, storage=storage_for(studio.settings, "job-u2"),
                   job_id="u2", profile=SMALL, reporter=reporter, pools=INLINE)
    assert any("not all at hand (trial" in line and "was not kept" in line for line in reporter.lines)
    assert any("on all 320 training rows, and on all 400 rows" in line for line in reporter.lines)
    assert 0.5 < result.test_score <= 1 and studio.tracker.load_evaluation(result.run_id).summary.importance


def test_an_ensemble_is_evaluated_with_its_members_kept_models_blended_by_weight() -> None:
    class Constant(BaseEstimator):
        def __init__(self, p: float = 0.0) -> None:
            self.p = p

        classes_ = np.array([0, 1])

        def predict_proba(self, X):
            return np.tile([1 - self.p, self.p], (len(X), 1))

    X = pd.DataFrame({"a": [1.0, 2.0]})
    for number, p in ((3, 0.2), (5, 0.8)):
        kept.keep(KeepAs("job-blend", number), 0.1, Constant(p))

    class Study:
        study_name = "job-blend"

        def get_trials(self, deepcopy: bool = False):
            return [type("T", (), {"number": n, "user_attrs": {"worker": inline.ADDRESS}})() for n in (3, 5, 9)]

    pool = INLINE(SMALL)
    models, why = reuse.fetch([(3, 3), (5, 1)], Study(), pool)
    assert why == ""
    blend = reuse.scored_model(models, [(3, 3), (5, 1)], 2)
    np.testing.assert_allclose(blend.predict_proba(X)[:, 1], 0.75 * 0.2 + 0.25 * 0.8)  # as soft voting weighs them
    assert list(blend.predict(X)) == [0, 0]
    one = reuse.fetch([(3, 1)], Study(), pool)[0]
    assert reuse.scored_model(one, [(3, 1)], 2).p == 0.2  # one member: its own model
    models, why = reuse.fetch([(3, 1), (9, 1)], Study(), pool)
    assert models[0].p == 0.2 and models[1] is None  # the other member's is still at hand
    assert why == "trial 9's model was not kept (dropped for the size or count cap, or never kept)"
    assert reuse.fetch([(3, 1), (7, 1)], Study(), pool)[1].startswith("trial 7 has no worker")
    kept.forget("job-blend")
    assert reuse.fetch([(3, 1)], Study(), pool)[0] == [None]


def test_an_ensemble_member_whose_split_model_is_gone_is_fitted_on_the_training_rows_beside_the_one_fit(
        studio, monkeypatch) -> None:
    from functools import partial

    from studio.training import final, run

    _frame, spec = _churn(studio, 500, ["linear", "lightgbm"], Budget(seconds=None, max_trials=4))
    real_take, real_fit, fitted_rows = kept.take, Pipeline.fit, []

    def choosing(spec, study, candidates, y, **kwargs):  # an ensemble of each algorithm's first trial, whose
        members = [(next(c for c in candidates if c.algorithm == name), 1) for name in ("linear", "lightgbm")]
        numbers = tuple((c.number, w) for c, w in members)  # linear member's split model is gone
        monkeypatch.setattr(kept, "take", lambda job, n: None if n == numbers[0][0] else real_take(job, n))
        monkeypatch.setattr(Pipeline, "fit", lambda self, X, y=None, **kw: fitted_rows.append(len(X))
                            or real_fit(self, X, y, **kw))  # from here on: the final phase's fits
        return final.FinalChoice(partial(final._ensemble, spec, members), "ensemble", {}, 0.9, "an ensemble of 2",
                                 [], numbers)

    monkeypatch.setattr(run, "choose", choosing)
    reporter = ListReporter()
    result = train(spec, catalog=studio.catalog, tracker=studio.tracker, storage=storage_for(studio.settings, "job-u4"),
                   job_id="u4", profile=SMALL, reporter=reporter, pools=INLINE)
    assert any(line.startswith("Not every member's split model is at hand (trial") for line in reporter.lines)
    assert any("once, on all 500 rows" in line for line in reporter.lines)
    # the linear member on the 400 training rows for the held-out score; the registered ensemble's two members on
    # all 500 rows; the lightgbm member's split model reused
    assert sorted(fitted_rows) == [400, 500, 500]
    assert 0.5 < result.test_score <= 1 and studio.tracker.load_evaluation(result.run_id).summary.importance


def test_a_process_keeps_the_best_few_models_of_its_last_jobs_within_its_memory_cap(monkeypatch) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = np.random.default_rng(0).normal(size=(2000, 5)), np.arange(2000) % 2
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)  # deep trees on noise: large
    linear = LogisticRegression().fit(X, y)
    assert kept.footprint(forest) > 50 * kept.footprint(linear) > 0
    for trial in range(kept.KEEP + 3):  # losses 0, 1, 2, ...: the worst go first
        kept.keep(KeepAs("job-a", trial), float(trial), linear)
    assert [kept.take("job-a", t) is not None for t in range(kept.KEEP + 3)] == [True] * kept.KEEP + [False] * 3
    for job in ("job-b", "job-c"):  # JOBS later jobs push the first one out
        kept.keep(KeepAs(job, 0), 0.0, linear)
    assert kept.take("job-a", 0) is None and kept.take("job-c", 0) is linear
    monkeypatch.setattr(kept, "MAX_BYTES", 2 * kept.footprint(forest) + kept.footprint(linear) // 2)
    kept.keep(KeepAs("job-c", 1), 1.0, forest)  # fits beside the two linear models kept
    assert kept.take("job-b", 0) is linear
    kept.keep(KeepAs("job-c", 2), 0.5, forest)  # does not fit: the earlier job's model goes, then this job's worst
    assert kept.take("job-b", 0) is None and kept.take("job-c", 1) is None
    assert kept.take("job-c", 2) is forest and kept.take("job-c", 0) is linear
    monkeypatch.setattr(kept, "MAX_BYTES", kept.footprint(forest) - 1)
    kept.keep(KeepAs("job-c", 3), 0.0, forest)  # larger than the whole cap: never kept
    assert kept.take("job-c", 3) is None
    for job in ("job-b", "job-c"):
        kept.forget(job)


def test_over_the_memory_cap_the_worst_large_model_goes_not_a_small_one(monkeypatch) -> None:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = np.random.default_rng(0).normal(size=(2000, 5)), np.arange(2000) % 2
    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    linear = LogisticRegression().fit(X, y)
    monkeypatch.setattr(kept, "MAX_BYTES", 2 * kept.footprint(forest) + 4 * kept.footprint(linear))
    for trial in range(3):  # small models behind the forests (losses 5, 6, 7): an ensemble may still take them
        kept.keep(KeepAs("job-e", trial, "linear"), 5.0 + trial, linear)
    for trial, loss in ((3, 1.0), (4, 2.0), (5, 0.5)):  # three forests, two fit
        kept.keep(KeepAs("job-e", trial, "random_forest"), loss, forest)
    assert [kept.take("job-e", t) is not None for t in range(6)] == [True, True, True, True, False, True]
    kept.forget("job-e")


def test_each_algorithms_best_model_is_kept_however_far_behind_the_leaders(monkeypatch) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(np.eye(2), [0, 1])
    monkeypatch.setattr(kept, "KEEP", 3)
    for trial in range(5):  # five good boosters
        kept.keep(KeepAs("job-d", trial, "lightgbm"), float(trial), model)
    kept.keep(KeepAs("job-d", 9, "linear"), 100.0, model)  # the linear model's best, far behind: the ensemble's
    assert kept.take("job-d", 9) is model  # shortlist holds it (diversity), so it is kept
    assert [kept.take("job-d", t) is not None for t in range(5)] == [True, True, False, False, False]
    kept.forget("job-d")


def test_without_kept_models_time_or_a_second_free_core_the_model_is_fitted_once_on_the_training_rows(
        studio, monkeypatch) -> None:
    from studio.training import run

    _frame, spec = _churn(studio, 400, ["linear"], Budget(seconds=60, max_trials=2))
    monkeypatch.setattr(kept, "take", lambda *args: None)  # as after a restarted worker
    monkeypatch.setattr(run, "_local_threads", lambda profile: 1)  # another program holds the other core
    monkeypatch.setattr(run, "_refit_s", lambda *args, **kwargs: 1e6)  # and two fits would not end in time
    reporter = ListReporter()
    result = train(spec, catalog=studio.catalog, tracker=studio.tracker, storage=storage_for(studio.settings, "job-u3"),
                   job_id="u3", profile=SMALL, reporter=reporter, pools=INLINE)
    assert any("No time left for a second fit" in line for line in reporter.lines)
    assert any(line.endswith("on all 320 training rows.") for line in reporter.lines)
    assert studio.tracker.client.get_run(result.run_id).data.tags["studio.refit_all_rows"] == "False"
    assert 0.5 < result.test_score <= 1


def test_with_the_split_models_at_hand_the_one_fit_on_all_rows_is_made_however_little_time_is_left(
        studio, monkeypatch) -> None:
    from studio.training import run

    _frame, spec = _churn(studio, 400, ["linear"], Budget(seconds=60, max_trials=2))
    monkeypatch.setattr(run, "_local_threads", lambda profile: 1)  # one free core
    monkeypatch.setattr(run, "_refit_s", lambda *args, **kwargs: 1e6)  # and no time for a second fit
    reporter = ListReporter()
    result = train(spec, catalog=studio.catalog, tracker=studio.tracker, storage=storage_for(studio.settings, "job-u5"),
                   job_id="u5", profile=SMALL, reporter=reporter, pools=INLINE)
    assert any("once, on all 400 rows" in line for line in reporter.lines)  # no second fit is needed
    assert not any("not all at hand" in line or "No time left" in line for line in reporter.lines)
    assert studio.tracker.client.get_run(result.run_id).data.tags["studio.refit_all_rows"] == "True"


def test_a_model_registered_from_the_training_rows_alone_fetches_nothing_and_fits_once(studio) -> None:
    _frame, spec = _churn(studio, 400, ["linear"], Budget(seconds=None, max_trials=2))
    spec = spec.model_copy(update={"refit_all_rows": False})  # as a cancelled job's final phase
    reporter = ListReporter()
    result = train(spec, catalog=studio.catalog, tracker=studio.tracker, storage=storage_for(studio.settings, "job-u6"),
                   job_id="u6", profile=SMALL, reporter=reporter, pools=INLINE)
    assert any(line.endswith("on all 320 training rows.") for line in reporter.lines)
    assert not any("at hand" in line for line in reporter.lines)
    assert studio.tracker.client.get_run(result.run_id).data.tags["studio.refit_all_rows"] == "False"
