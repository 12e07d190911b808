"""Charts of a model family: heat-map over two keys, score distribution, worst partitions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from studio.charts.family import score_distribution, score_heatmap, split_keys, worst_partitions


def _table() -> pd.DataFrame:
    rows = []
    for s in ("north", "south"):
        for i in range(3):
            rows.append({"key": f"{s}|{i}", "status": "model", "score": 1.0 + i + (s == "south"),
                         "baseline": 2.5, "fallback_score": 2.0, "rows_train": 10 * (i + 1), "rows_test": 3,
                         "algorithm": "linear"})
    rows.append({"key": "east|9", "status": "fallback", "score": np.nan, "baseline": np.nan, "fallback_score": 3.0,
                 "rows_train": 2, "rows_test": 1, "algorithm": None})
    return pd.DataFrame(rows)


def test_keys_split_into_their_columns() -> None:
    frame = split_keys(_table(), ["store", "item"])
    assert frame.loc[0, "store"] == "north" and frame.loc[0, "item"] == "0"


def test_heatmap_places_each_partition_and_leaves_fallbacks_out() -> None:
    fig = score_heatmap(_table(), ["store", "item"], rows="store", cols="item", metric="rmse")
    z = np.array(fig.data[0].z)
    assert list(fig.data[0].y) == ["north", "south"] and list(fig.data[0].x) == ["0", "1", "2"]
    assert z[1, 2] == 4.0 and "east" not in fig.data[0].y
    assert fig.data[0].reversescale is False
    assert score_heatmap(_table(), ["store", "item"], rows="store", cols="item", metric="rmse",
                         greater_is_better=False).data[0].reversescale is True  # low error shows green


def test_distribution_overlays_models_baselines_and_fallback() -> None:
    fig = score_distribution(_table(), "rmse")
    assert [t.name for t in fig.data] == ["partition model", "baseline", "fallback model"]
    assert len(fig.data[0].x) == 6


def test_worst_partitions_respect_the_metric_direction() -> None:
    worst = worst_partitions(_table(), greater_is_better=False, n=2)
    assert list(worst["key"]) == ["south|2", "north|2"] and not worst["beats_baseline"].any()
    best_first = worst_partitions(_table(), greater_is_better=True, n=1)
    assert best_first["key"].iloc[0] == "north|0"
