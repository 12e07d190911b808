"""The model's input: typed feature columns, the frame the pipeline takes, and its preprocessing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

from studio.data.schema import ColumnKind
from studio.errors import DataError

MISSING_CATEGORY = "__missing__"
MAX_ONEHOT_CATEGORIES = 30
#: The numeric parts a date/time column is expanded into (the generated service repeats this exactly).
DATE_PARTS = ("year", "month", "day", "dayofweek", "dayofyear", "hour")


class Feature(BaseModel):
    """One input column of a model: its name, kind, and (categoricals) how many distinct values it had."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: ColumnKind
    n_distinct: int | None = None
    clip: tuple[float, float] | None = None  # outlier capping: values are clipped to these bounds (numbers)

    @property
    def high_cardinality(self) -> bool:
        return self.kind is ColumnKind.CATEGORICAL and (self.n_distinct or 0) > MAX_ONEHOT_CATEGORIES


def model_frame(frame: pd.DataFrame, features: Sequence[Feature]) -> pd.DataFrame:
    """The exact frame the pipeline takes: numbers and booleans as float64, categories as text (NaN missing).

    Raises DataError naming missing columns or values of the wrong type.
    """
    missing = [f.name for f in features if f.name not in frame.columns]
    if missing:
        raise DataError(f"Input is missing column(s): {', '.join(missing)}. Provide every feature the model uses.")
    out = {}
    for f in features:
        col = frame[f.name]
        if f.kind is ColumnKind.DATETIME:
            out.update(_date_parts(col, f.name))
        elif f.kind is ColumnKind.CATEGORICAL:
            out[f.name] = col.map(lambda v: np.nan if pd.isna(v) else str(v)).astype(object)
        elif f.kind is ColumnKind.BOOLEAN:
            out[f.name] = _to_float(col.map(_bool_value), f.name)
        else:
            out[f.name] = _to_float(col, f.name)
            if f.clip is not None:
                out[f.name] = out[f.name].clip(*f.clip)
    return pd.DataFrame(out, index=frame.index)


def model_columns(features: Sequence[Feature]) -> list[str]:
    """The columns of the model frame, in order (a date feature becomes one column per part)."""
    return [name for f in features for name in (
        [f"{f.name}__{part}" for part in DATE_PARTS] if f.kind is ColumnKind.DATETIME else [f.name])]


def parse_dates(col: pd.Series) -> pd.Series:
    """Dates and times as naive UTC timestamps (NaT where unparseable). Every value is converted on its own
    terms: naive values are taken as UTC, values with an offset are moved to UTC, so a row's date parts never
    depend on the other rows it arrives with (the generated service repeats this exactly)."""
    return pd.to_datetime(col, errors="coerce", format="mixed", utc=True).dt.tz_localize(None)


def _date_parts(col: pd.Series, name: str) -> dict[str, pd.Series]:
    parsed = parse_dates(col)
    bad = parsed.isna() & col.notna()
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        raise DataError(f"Column '{name}' must hold dates, but row {_row_number(col, row)} holds {col.iloc[row]!r}. "
                        "Fix or blank that value.")
    return {f"{name}__{part}": getattr(parsed.dt, part).astype("float64") for part in DATE_PARTS}


def _row_number(col: pd.Series, position: int) -> int:
    """The 1-based data row a user sees: the index label when it counts rows (a chunk of a file keeps its
    place in the file), else the position."""
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
        raise DataError(f"Column '{name}' must hold finite numbers, but row {_row_number(col, row)} holds "
                        f"{col.iloc[row]!r}. Fix or blank that value.")
    return converted


def build_preprocessor(features: Sequence[Feature], *, scale: bool, seed: int = 0,
                       target_type: str = "auto") -> ColumnTransformer:
    """Impute numbers (median) and categories (a 'missing' level); one-hot categories with up to
    MAX_ONEHOT_CATEGORIES values and target-encode those with more (cross-fitted, so a row's own target never
    leaks into its encoding); scale numbers if asked."""
    categorical = [f.name for f in features if f.kind is ColumnKind.CATEGORICAL and not f.high_cardinality]
    high = [f.name for f in features if f.high_cardinality]
    numeric = [c for c in model_columns(features) if c not in set(categorical) | set(high)]
    numeric_steps: list[tuple[str, object]] = [("impute", SimpleImputer(strategy="median", keep_empty_features=True))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    categorical_steps = [
        ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
        ("onehot", OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=MAX_ONEHOT_CATEGORIES,
                                 sparse_output=False)),
    ]
    # cross-fitting folds as TargetEncoder's own default (stratified for classes), seeded explicitly
    folds: int | KFold | StratifiedKFold = 5  # target type unknown: TargetEncoder picks (and shuffles) itself
    if target_type in ("binary", "multiclass", "continuous"):
        folds = (KFold if target_type == "continuous" else StratifiedKFold)(n_splits=5, shuffle=True,
                                                                             random_state=seed)
    target_steps = [("impute", SimpleImputer(strategy="constant", fill_value=MISSING_CATEGORY)),
                    ("encode", TargetEncoder(target_type=target_type, cv=folds))]
    if scale:
        target_steps.append(("scale", StandardScaler()))
    return ColumnTransformer(
        [("numeric", Pipeline(numeric_steps), numeric), ("categorical", Pipeline(categorical_steps), categorical),
         ("high_cardinality", Pipeline(target_steps), high)],
        remainder="drop",
    )
