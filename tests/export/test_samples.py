from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from studio.export.samples import sample_rows


def _studio_with(frame: pd.DataFrame) -> SimpleNamespace:
    spec = SimpleNamespace(dataset_id="d-v1", features=[SimpleNamespace(name=c) for c in ("a", "b")])
    tracker = SimpleNamespace(run_id_of=lambda uri: "run", spec_of=lambda run_id: spec)
    return SimpleNamespace(tracker=tracker, catalog=SimpleNamespace(load=lambda dataset_id: frame))


def test_example_rows_prefer_rows_with_every_feature_filled() -> None:
    frame = pd.DataFrame({"a": [np.nan, 2.0, 3.0], "b": ["x", None, "z"], "target": [0, 1, 0]})
    assert sample_rows(_studio_with(frame), "models:/m/1") == [{"a": 3.0, "b": "z"}]  # features only
    rows = sample_rows(_studio_with(frame.iloc[:2]), "models:/m/1")  # no complete row: the first, nulls kept
    assert rows == [{"a": None, "b": "x"}]
