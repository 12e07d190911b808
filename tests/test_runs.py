"""The leaderboard's run index and its filtering, sorting and paging."""

from __future__ import annotations

import pytest

from studio.context import Studio
from studio.runs import RunFilter, RunIndex, RunSummary, facets, query


def _run(i: int, **changes: object) -> RunSummary:
    values: dict[str, object] = {
        "run_id": f"{i:032x}", "name": f"churn · {i}", "status": "FINISHED", "dataset_id": "churn-v1",
        "task": "binary", "metric": "roc_auc", "validation_score": 0.8 + i / 100, "test_score": 0.79 + i / 100,
        "algorithm": "xgboost", "n_trials": 10 + i, "compute": "small", "duration_s": 30.0 + i,
        "started_at": 1_700_000_000.0 + i * 3600, "model_uri": f"models:/churn/{i}", "study_name": f"job-{i}",
        "job_id": str(i), "params": {"seed": "0"}, "metrics": {"validation_roc_auc": 0.8 + i / 100},
    }
    values.update(changes)
    return RunSummary.model_validate(values)


RUNS = [_run(0), _run(1, algorithm="ensemble: lightgbm x2 + linear x1"), _run(2, status="FAILED", validation_score=None,
        test_score=None), _run(3, task="regression", metric="rmse", validation_score=3.0, test_score=3.1),
        _run(4, dataset_id="sales-v1", algorithm="random_forest")]


def test_filters_narrow_the_board() -> None:
    assert [r.name for r in query(RUNS, RunFilter(metric="roc_auc")).runs] == [
        "churn · 4", "churn · 1", "churn · 0", "churn · 2"]  # best first; a run without a score last
    assert [r.job_id for r in query(RUNS, RunFilter(dataset="sales-v1")).runs] == ["4"]
    assert [r.job_id for r in query(RUNS, RunFilter(algorithm="linear")).runs] == ["1"]  # an ensemble member
    assert [r.job_id for r in query(RUNS, RunFilter(status="FAILED")).runs] == ["2"]
    assert [r.job_id for r in query(RUNS, RunFilter(task="regression")).runs] == ["3"]
    day = RUNS[1].started_at
    assert [r.job_id for r in query(RUNS, RunFilter(since=day, until=day + 3 * 3600)).runs] == ["3", "1", "2"]
    assert [r.job_id for r in query(RUNS, RunFilter(text="· 4")).runs] == ["4"]


def test_sorting_follows_the_metrics_direction_and_columns() -> None:
    lower = [_run(i, metric="rmse", validation_score=float(s)) for i, s in enumerate([3, 1, 2])]
    assert [r.validation_score for r in query(lower, RunFilter(), greater_is_better=False).runs] == [1, 2, 3]
    assert [r.n_trials for r in query(RUNS, RunFilter(), sort="trials", order="asc").runs] == [10, 11, 12, 13, 14]
    assert query(RUNS, RunFilter(), sort="started").runs[0].job_id == "4"  # newest first
    with pytest.raises(ValueError, match="Sort by one of"):
        query(RUNS, RunFilter(), sort="colour")


def test_paging_clamps_and_counts() -> None:
    many = [_run(i) for i in range(120)]
    page = query(many, RunFilter(), page=3, page_size=50)
    assert (page.total, page.pages, page.page, len(page.runs)) == (120, 3, 3, 20)
    assert query(many, RunFilter(), page=99, page_size=50).page == 3


def test_facets_list_each_filters_values() -> None:
    values = facets(RUNS)
    assert values["metric"] == ["rmse", "roc_auc"] and values["dataset"] == ["churn-v1", "sales-v1"]
    assert values["algorithm"] == ["lightgbm", "linear", "random_forest", "xgboost"]


def test_the_index_upserts_and_stamps_changes(studio: Studio) -> None:
    index = RunIndex(studio.engine)
    assert index.stamp() == (0, 0.0) and index.all() == []
    index.upsert(RUNS[0])
    first = index.stamp()
    index.upsert(RUNS[0].model_copy(update={"status": "FAILED"}))
    assert index.stamp()[0] == 1 and index.stamp()[1] >= first[1]
    assert index.get(RUNS[0].run_id).status == "FAILED" and index.get("nope") is None
    index.upsert(RUNS[4])
    assert [r.job_id for r in index.all()] == ["4", "0"]  # newest first
