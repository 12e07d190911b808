"""Example input rows for a model, taken from the held-out rows recorded with its run (for "try it" and docs)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studio.tracking import Tracker


def example_rows(tracker: Tracker, model_uri: str, *, n: int = 1) -> list[dict[str, Any]]:
    """`n` of the model's held-out rows, features only, as JSON-ready dicts (NaN -> null): the first rows with
    every feature filled when there are that many (an example full of nulls shows little), else the first. Read
    from the run, never from the dataset, which may have been deleted since."""
    frame = tracker.held_out_features(tracker.run_id_of(model_uri))
    complete = frame.dropna()
    frame = complete.head(n) if len(complete) >= n else frame.head(n)
    rows: list[dict[str, Any]] = json.loads(frame.to_json(orient="records", double_precision=15, date_format="iso"))
    return rows
