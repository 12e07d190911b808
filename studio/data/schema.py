"""Column kinds: what each column of a table is, inferred once and carried with the dataset and the spec."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # pandas is imported where a column is inspected: the catalog's records load without it
    import pandas as pd

#: A string column with more distinct values than this, and mostly unique, is free text or an identifier.
TEXT_MIN_DISTINCT = 50
TEXT_UNIQUE_RATIO = 0.5


class ColumnKind(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    TEXT = "text"
    ID = "id"  # an identifier: never a feature (set on the Train page; inference leaves such columns as text)

    @property
    def is_feature(self) -> bool:
        """Kinds the model pipeline can take (dates are expanded into numeric parts; text is left out)."""
        return self in (ColumnKind.NUMERIC, ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN, ColumnKind.DATETIME)


class ColumnInfo(BaseModel):
    """One column of a dataset snapshot."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: ColumnKind
    dtype: str
    n_missing: int
    n_distinct: int


def infer_kind(series: pd.Series) -> ColumnKind:
    """Guess a column's kind from its dtype and values."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return ColumnKind.BOOLEAN
    if pd.api.types.is_numeric_dtype(series):
        return ColumnKind.NUMERIC
    if pd.api.types.is_datetime64_any_dtype(series):
        return ColumnKind.DATETIME
    values = series.dropna()
    if values.empty:
        return ColumnKind.CATEGORICAL
    as_text = values.astype(str)
    lowered = set(as_text.str.lower().unique()[:3])
    if lowered and lowered <= {"true", "false"}:
        return ColumnKind.BOOLEAN
    if _looks_like_dates(as_text):
        return ColumnKind.DATETIME
    n_distinct = as_text.nunique()
    if n_distinct > TEXT_MIN_DISTINCT and n_distinct / len(as_text) > TEXT_UNIQUE_RATIO:
        return ColumnKind.TEXT
    return ColumnKind.CATEGORICAL


def _looks_like_dates(values: pd.Series) -> bool:
    import pandas as pd

    sample = values.head(200)
    if not sample.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", regex=True).all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed", utc=True)  # mixed offsets are dates too
    return bool(parsed.notna().mean() > 0.95)


def describe_columns(frame: pd.DataFrame) -> list[ColumnInfo]:
    """Kind, dtype, missing and distinct counts for every column of `frame`."""
    return [
        ColumnInfo(
            name=str(name),
            kind=infer_kind(frame[name]),
            dtype=str(frame[name].dtype),
            n_missing=int(frame[name].isna().sum()),
            n_distinct=int(frame[name].nunique(dropna=True)),
        )
        for name in frame.columns
    ]
