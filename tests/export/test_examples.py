from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from studio.export.examples import example_rows


def _tracker_with(held_out: pd.DataFrame) -> SimpleNamespace:
    """The two reads example_rows makes of a tracker: the model's run, and the held-out rows recorded with it."""
    return SimpleNamespace(run_id_of=lambda uri: "run", held_out_features=lambda run_id: held_out)


def test_example_rows_prefer_rows_with_every_feature_filled() -> None:
    frame = pd.DataFrame({"a": [np.nan, 2.0, 3.0], "b": ["x", None, "z"]})
    assert example_rows(_tracker_with(frame), "models:/m/1") == [{"a": 3.0, "b": "z"}]
    rows = example_rows(_tracker_with(frame.iloc[:2]), "models:/m/1")  # no complete row: the first, nulls kept
    assert rows == [{"a": None, "b": "x"}]
