"""Example input rows for a model, taken from the dataset it was trained on (for "try it" and docs)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studio.context import Studio


def sample_rows(studio: Studio, model_uri: str, *, n: int = 1) -> list[dict[str, Any]]:
    """`n` rows of the model's training dataset, features only, as JSON-ready dicts (NaN -> null): the first rows
    with every feature filled when there are that many (an example full of nulls shows little), else the first."""
    spec = studio.tracker.spec_of(studio.tracker.run_id_of(model_uri))
    frame = studio.catalog.load(spec.dataset_id)[[f.name for f in spec.features]]
    complete = frame.dropna()
    frame = complete.head(n) if len(complete) >= n else frame.head(n)
    rows: list[dict[str, Any]] = json.loads(frame.to_json(orient="records", double_precision=15))
    return rows
