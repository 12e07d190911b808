"""The model's input: typed feature columns, the frame the pipeline takes, and its preprocessing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from studio import prepare
from studio.data.schema import ColumnKind
from studio.errors import DataError
from studio.prepare import MISSING_CATEGORY

if TYPE_CHECKING:  # scikit-learn loads when a pipeline is built: a spec is drafted and checked without it
    import pandas as pd
    from sklearn.compose import ColumnTransformer

MAX_ONEHOT_CATEGORIES = 30


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


def columns_of(features: Sequence[Feature]) -> list[prepare.Column]:
    """The features as the preparation module's columns (it knows nothing of the studio's types)."""
    return [prepare.Column(f.name, f.kind.value, f.clip) for f in features]


def model_frame(frame: pd.DataFrame, features: Sequence[Feature]) -> pd.DataFrame:
    """The exact frame the pipeline takes (`studio.prepare.model_frame`): numbers and booleans as float64,
    categories as text (NaN missing), dates as numeric parts. Raises DataError naming missing columns or values of
    the wrong type."""
    try:
        return prepare.model_frame(frame, columns_of(features))
    except prepare.InputError as exc:
        raise DataError(str(exc)) from None


def model_columns(features: Sequence[Feature]) -> list[str]:
    """The columns of the model frame, in order (a date feature becomes one column per part)."""
    return prepare.model_columns(columns_of(features))


def within_range(features: Sequence[Feature], X: pd.DataFrame) -> tuple[Feature, ...]:
    """The features with each numeric one clipped to the range it takes in the model frame `X` (inside any
    outlier cap already set). A trained model records these, so it is never fed a value beyond what it learned
    from: a linear model, alone or as an ensemble member, cannot extrapolate wildly on an extreme new row,
    while trees, constant beyond their outermost split, predict exactly as before."""
    bounded = []
    for f in features:
        if f.kind is ColumnKind.NUMERIC and f.name in X.columns:
            low, high = float(X[f.name].min()), float(X[f.name].max())
            if not math.isnan(low):  # a column missing on every row has nothing to bound
                if f.clip is not None:
                    low, high = max(low, f.clip[0]), min(high, f.clip[1])
                f = f.model_copy(update={"clip": (low, high)})
        bounded.append(f)
    return tuple(bounded)


def clipped(X: pd.DataFrame, features: Sequence[Feature]) -> pd.DataFrame:
    """A model frame with the numeric features' clip bounds applied (as `model_frame` applies them)."""
    bounds = {f.name: f.clip for f in features if f.clip is not None and f.name in X.columns}
    return X.assign(**{name: X[name].clip(*clip) for name, clip in bounds.items()}) if bounds else X


def build_preprocessor(features: Sequence[Feature], *, scale: bool, seed: int = 0,
                       target_type: str = "auto") -> ColumnTransformer:
    """Impute numbers (median) and categories (a 'missing' level); one-hot categories with up to
    MAX_ONEHOT_CATEGORIES values and target-encode those with more (cross-fitted, so a row's own target never
    leaks into its encoding); scale numbers if asked."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder

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
