from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from studio.data import ColumnKind
from studio.errors import DataError
from studio.training import Feature, Task, model_frame
from studio.training.model import encode_target

FEATURES = [Feature(name="n", kind=ColumnKind.NUMERIC), Feature(name="c", kind=ColumnKind.CATEGORICAL),
            Feature(name="b", kind=ColumnKind.BOOLEAN)]


def test_model_frame_types_columns_and_keeps_order() -> None:
    frame = pd.DataFrame({"b": ["true", "False", None], "extra": [1, 2, 3], "c": [1, None, "x"], "n": ["1.5", 2, None]})
    out = model_frame(frame, FEATURES)
    assert list(out.columns) == ["n", "c", "b"]
    assert out["n"].dtype == "float64" and out["b"].tolist()[:2] == [1.0, 0.0]
    assert out["c"].dtype == object and out["c"].tolist()[0] == "1" and np.isnan(out["c"].tolist()[1])


def test_model_frame_names_missing_and_mistyped_columns() -> None:
    with pytest.raises(DataError, match="missing column\\(s\\): c, b"):
        model_frame(pd.DataFrame({"n": [1.0]}), FEATURES)
    with pytest.raises(DataError, match="Column 'n' must hold finite numbers, but row 2 holds 'abc'"):
        model_frame(pd.DataFrame({"n": [1, "abc"], "c": ["a", "b"], "b": [True, False]}), FEATURES)
    with pytest.raises(DataError, match="Column 'n' must hold finite numbers, but row 3 holds 'inf'"):
        model_frame(pd.DataFrame({"n": ["1", None, "inf"], "c": ["a", "b", "c"], "b": [True, False, True]}), FEATURES)
    chunk = pd.DataFrame({"n": [1, "x"], "c": ["a", "b"], "b": [True, False]}, index=[500, 501])  # rows of a file
    with pytest.raises(DataError, match="row 502 holds 'x'"):
        model_frame(chunk, FEATURES)


def test_dates_are_parsed_one_value_at_a_time_into_naive_utc() -> None:
    from studio.prepare import parse_dates

    mixed = pd.Series(["2024-03-01 10:00", "2024-03-01T10:00:00+02:00", "not a date", None])
    parsed = parse_dates(mixed)
    assert parsed.tolist()[:2] == [pd.Timestamp("2024-03-01 10:00"), pd.Timestamp("2024-03-01 08:00")]
    assert parsed.isna().tolist() == [False, False, True, True]
    assert parse_dates(mixed.head(1)).iloc[0] == parsed.iloc[0]  # a row's value does not depend on its neighbours


def test_encode_target_keeps_original_labels() -> None:
    y, classes = encode_target(pd.Series(["yes", "no", "yes"]), Task.BINARY)
    assert y.tolist() == [1, 0, 1] and classes == ["no", "yes"]
    y, classes = encode_target(pd.Series([3, 1, 2]), Task.MULTICLASS)
    assert classes == [1, 2, 3] and all(isinstance(c, int) for c in classes)
    y, classes = encode_target(pd.Series([1.5, 2.5]), Task.REGRESSION)
    assert classes is None and y.dtype == "float64"


def test_a_date_column_becomes_numeric_parts_and_a_bad_date_is_named() -> None:
    from studio.training.features import build_preprocessor, model_columns

    features = [Feature(name="sold", kind=ColumnKind.DATETIME), Feature(name="price", kind=ColumnKind.NUMERIC)]
    frame = pd.DataFrame({"sold": ["2024-03-05 14:30", None, "2023-12-31"], "price": [1.0, 2.0, None]})
    X = model_frame(frame, features)
    assert list(X.columns) == model_columns(features)
    assert X.loc[0, ["sold__year", "sold__month", "sold__day", "sold__dayofweek", "sold__hour"]].tolist() == [
        2024, 3, 5, 1, 14]
    assert X.loc[1].isna().sum() == 6 and X.loc[2, "sold__dayofyear"] == 365
    assert build_preprocessor(features, scale=False).fit_transform(X).shape == (3, 7)
    with pytest.raises(DataError, match="Column 'sold' must hold dates, but row 2 holds 'soon'"):
        model_frame(pd.DataFrame({"sold": ["2024-01-01", "soon"], "price": [1, 2]}), features)


def test_high_cardinality_categories_are_target_encoded_not_one_hot() -> None:
    from studio.training.features import build_preprocessor

    rng = np.random.default_rng(0)
    shops = rng.integers(0, 200, 2000)
    frame = pd.DataFrame({"shop": [f"s{s}" for s in shops], "plan": rng.choice(["a", "b", "c"], 2000)})
    y = (rng.normal(0, 1, 200)[shops] > 0).astype(int)
    features = [Feature(name="shop", kind=ColumnKind.CATEGORICAL, n_distinct=200),
                Feature(name="plan", kind=ColumnKind.CATEGORICAL, n_distinct=3)]
    out = build_preprocessor(features, scale=False, target_type="binary").fit_transform(
        model_frame(frame, features), y)
    assert out.shape == (2000, 3 + 1)  # plan one-hot (3) + shop as one target-encoded column
    unseen = build_preprocessor(features, scale=False, target_type="binary").fit(model_frame(frame, features), y)
    assert np.isfinite(unseen.transform(model_frame(pd.DataFrame({"shop": ["s999"], "plan": ["a"]}),
                                                    features))).all()
