from __future__ import annotations

from studio.charts import distribution_chart, metric_bars, optimization_history
from studio.data import ColumnKind, Distribution
from studio.runs import RunSummary
from studio.training.search import TrialOutcome


def _trial(n: int, score: float | None, algorithm: str = "xgboost") -> TrialOutcome:
    return TrialOutcome(number=n, algorithm=algorithm, params={}, score=score, duration_s=1.0,
                        state="complete" if score is not None else "fail")


def test_optimization_history_tracks_the_best_so_far() -> None:
    trials = [_trial(0, 0.7), _trial(1, 0.9, "linear"), _trial(2, None), _trial(3, 0.8)]
    fig = optimization_history(trials, maximize=True, metric="roc_auc")
    best = next(t for t in fig.data if t.name == "best so far")
    assert list(best.y) == [0.7, 0.9, 0.9] and list(best.x) == [0, 1, 3]
    assert {t.name for t in fig.data} == {"linear", "xgboost", "best so far"}
    low = optimization_history(trials, maximize=False, metric="rmse")
    assert list(next(t for t in low.data if t.name == "best so far").y) == [0.7, 0.7, 0.7]


def test_distribution_chart_adds_an_other_bar() -> None:
    dist = Distribution(column="plan", kind=ColumnKind.CATEGORICAL, labels=["a", "b"], counts=[5, 3], other_count=2)
    fig = distribution_chart(dist)
    assert list(fig.data[0].x) == ["a", "b", "(other)"] and list(fig.data[0].y) == [5, 3, 2]
    assert fig.layout.title.text == "plan"


def test_metric_bars_show_validation_and_test() -> None:
    run = RunSummary(run_id="r", name="run 1", status="FINISHED", dataset_id="d", task="binary", metric="roc_auc",
                     validation_score=0.9, test_score=0.88, algorithm="xgboost", n_trials=5, compute="small",
                     duration_s=3.0, started_at=0.0, model_uri=None, study_name=None, job_id=None, params={},
                     metrics={})
    fig = metric_bars([run], metric="roc_auc")
    assert [list(t.y) for t in fig.data] == [[0.9], [0.88]]


def test_metric_bars_carry_the_fold_spread_and_durations_split_by_algorithm() -> None:
    from studio.charts import trial_durations

    run = RunSummary(run_id="r", name="run 1", status="FINISHED", dataset_id="d", task="binary", metric="roc_auc",
                     validation_score=0.9, test_score=0.88, algorithm="xgboost", n_trials=5, compute="small",
                     duration_s=3.0, started_at=0.0, model_uri=None, study_name=None, job_id=None, params={},
                     metrics={"validation_roc_auc_std": 0.012})
    bars = metric_bars([run], metric="roc_auc")
    assert list(bars.data[0].error_y.array) == [0.012] and bars.data[0].error_y.visible
    trials = [_trial(0, 0.7), _trial(1, 0.9, "linear"), _trial(2, None)]
    fig = trial_durations(trials)
    assert [t.name for t in fig.data] == ["linear", "xgboost"] and len(fig.data[1].x) == 2  # failed ones count too


def test_algorithm_bars_rank_best_first() -> None:
    from studio.charts import algorithm_bars

    fig = algorithm_bars({"linear": 0.91, "xgboost": 0.95, "lightgbm": 0.93}, metric="roc_auc", maximize=True)
    assert list(fig.data[0].y) == ["xgboost", "lightgbm", "linear"]
    fig = algorithm_bars({"linear": 3.0, "xgboost": 2.0}, metric="rmse", maximize=False)
    assert list(fig.data[0].y) == ["xgboost", "linear"]
