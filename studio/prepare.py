"""The model's input preparation, the one implementation: training, batch scoring, the ONNX feed and every
exported service call it (a bento ships this file as `studio_prepare.py`).

A model's pipeline takes the *model frame*: numbers and booleans as float64 (outliers clipped to the bounds
learned in training), categories as text with NaN for missing, and each date/time column expanded into numeric
parts. This module depends on numpy and pandas only, so that a bento can import it without the studio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

MISSING_CATEGORY = "__missing__"
#: The numeric parts a date/time column is expanded into.
DATE_PARTS = ("year", "month", "day", "dayofweek", "dayofyear", "hour")
NUMERIC, BOOLEAN, CATEGORICAL, DATETIME = "numeric", "boolean", "categorical", "datetime"


class InputError(ValueError):
    """A column is missing or holds a value of the wrong kind; the message names the column and the row."""


@dataclass(frozen=True)
class Column:
    """One input column of a model: its name, its kind and (numbers) the clip bounds learned in training."""

    name: str
    kind: str  # numeric, boolean, categorical or datetime
    clip: tuple[float, float] | None = None


def model_columns(columns: Sequence[Column]) -> list[str]:
    """The columns of the model frame, in order (a date column becomes one column per part)."""
    return [name for c in columns for name in (
        [f"{c.name}__{part}" for part in DATE_PARTS] if c.kind == DATETIME else [c.name])]


def model_frame(frame: pd.DataFrame, columns: Sequence[Column]) -> pd.DataFrame:
    """The exact frame the pipeline takes. Raises InputError naming a missing column or a value of the wrong kind."""
    missing = [c.name for c in columns if c.name not in frame.columns]
    if missing:
        raise InputError(f"Input is missing column(s): {', '.join(missing)}. Provide every feature the model uses.")
    out: dict[str, pd.Series] = {}
    for c in columns:
        col = frame[c.name]
        if c.kind == DATETIME:
            out.update(_date_parts(col, c.name))
        elif c.kind == CATEGORICAL:
            out[c.name] = col.map(lambda v: np.nan if pd.isna(v) else str(v)).astype(object)
        elif c.kind == BOOLEAN:
            out[c.name] = _to_float(col.map(_bool_value), c.name)
        else:
            out[c.name] = _to_float(col, c.name)
            if c.clip is not None:
                out[c.name] = out[c.name].clip(*c.clip)
    return pd.DataFrame(out, index=frame.index)


def parse_dates(col: pd.Series) -> pd.Series:
    """Dates and times as naive UTC timestamps (NaT where unparseable). Every value is converted on its own terms:
    naive values are taken as UTC, values with an offset are moved to UTC, so a row's date parts never depend on
    the other rows it arrives with."""
    return pd.to_datetime(col, errors="coerce", format="mixed", utc=True).dt.tz_localize(None)


def onnx_feed(X: pd.DataFrame, columns: Sequence[Column], input_names: Sequence[str]) -> dict[str, np.ndarray]:
    """The model frame as ONNX inputs (an n x 1 array per model column). skl2onnx renames inputs that are not
    identifiers ('unit price' -> 'unit_price'), so they are matched by position: the graph's inputs are
    in model_columns' order. A missing category is fed as the level the imputer would have produced."""
    categorical = {c.name for c in columns if c.kind == CATEGORICAL}
    feed = {}
    for input_name, name in zip(input_names, model_columns(columns), strict=True):
        column = X[name]
        if name in categorical:
            filled = column.where(column.notna(), MISSING_CATEGORY).astype(str)
            feed[input_name] = filled.to_numpy(dtype=object)[:, None]
        else:
            feed[input_name] = column.to_numpy(dtype=np.float32)[:, None]
    return feed


def _date_parts(col: pd.Series, name: str) -> dict[str, pd.Series]:
    parsed = parse_dates(col)
    bad = parsed.isna() & col.notna()
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        raise InputError(f"Column '{name}' must hold dates, but row {_row_number(col, row)} holds {col.iloc[row]!r}. "
                         "Fix or blank that value.")
    return {f"{name}__{part}": getattr(parsed.dt, part).astype("float64") for part in DATE_PARTS}


def _row_number(col: pd.Series, position: int) -> int:
    """The 1-based data row a user sees: the index label when it counts rows (a chunk of a file keeps its place in
    the file), else the position."""
    label = col.index[position]
    return int(label) + 1 if isinstance(label, (int, np.integer)) else position + 1


def _bool_value(value: object) -> object:
    if isinstance(value, str):
        return {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0}.get(value.strip().lower(), value)
    return value


def _to_float(col: pd.Series, name: str) -> pd.Series:
    converted = pd.to_numeric(col, errors="coerce").astype("float64")
    bad = (converted.isna() & col.notna()) | np.isinf(converted)
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        raise InputError(f"Column '{name}' must hold finite numbers, but row {_row_number(col, row)} holds "
                         f"{col.iloc[row]!r}. Fix or blank that value.")
    return converted
