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
    with pytest.raises(DataError, match="Column 'n' must be numeric, but row 2 holds 'abc'"):
        model_frame(pd.DataFrame({"n": [1, "abc"], "c": ["a", "b"], "b": [True, False]}), FEATURES)


def test_encode_target_keeps_original_labels() -> None:
    y, classes = encode_target(pd.Series(["yes", "no", "yes"]), Task.BINARY)
    assert y.tolist() == [1, 0, 1] and classes == ["no", "yes"]
    y, classes = encode_target(pd.Series([3, 1, 2]), Task.MULTICLASS)
    assert classes == [1, 2, 3] and all(isinstance(c, int) for c in classes)
    y, classes = encode_target(pd.Series([1.5, 2.5]), Task.REGRESSION)
    assert classes is None and y.dtype == "float64"
