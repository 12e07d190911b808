from __future__ import annotations

import pandas as pd
import pytest

from studio.context import Studio
from studio.data import ColumnKind, content_hash
from studio.errors import DataError, DatasetNotFound


def test_save_versions_by_name_and_reuses_unchanged_content(studio: Studio, churn: pd.DataFrame) -> None:
    first = studio.catalog.save(churn, "Churn data", source="upload:churn.csv")
    again = studio.catalog.save(churn.copy(), "Churn data", source="upload:churn.csv")
    changed = studio.catalog.save(churn.head(100), "Churn data", source="upload:churn.csv")
    assert first.id == "churn-data-v1" and again.id == first.id
    assert changed.version == 2 and changed.id == "churn-data-v2"
    assert [r.id for r in studio.catalog.list()] == ["churn-data-v2", "churn-data-v1"]


def test_snapshot_round_trips_with_hash_and_column_kinds(studio: Studio, churn: pd.DataFrame) -> None:
    record = studio.catalog.save(churn, "churn", source="test")
    loaded = studio.catalog.load(record.id)
    assert loaded.shape == churn.shape
    assert content_hash(loaded) == record.content_hash
    kinds = {c.name: c.kind for c in record.columns}
    assert kinds == {"tenure": ColumnKind.NUMERIC, "monthly charges": ColumnKind.NUMERIC,
                     "plan": ColumnKind.CATEGORICAL, "auto_pay": ColumnKind.BOOLEAN,
                     "churned": ColumnKind.CATEGORICAL}
    assert record.column("plan").n_missing == churn["plan"].isna().sum()
    assert record.path.startswith(str(studio.settings.datasets_path))


def test_content_hash_depends_on_values_not_on_the_writer(churn: pd.DataFrame) -> None:
    assert content_hash(churn) == content_hash(churn.copy())
    other = churn.copy()
    other.loc[0, "tenure"] += 1
    assert content_hash(other) != content_hash(churn)


def test_invalid_name_saves_nothing(studio: Studio, churn: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="not a valid dataset name"):
        studio.catalog.save(churn, "../etc/passwd", source="test")
    assert studio.catalog.list() == []
    assert not any(studio.settings.datasets_path.rglob("*.parquet"))


def test_mixed_type_columns_are_stored_as_text(studio: Studio) -> None:
    frame = pd.DataFrame({"a": [1, "two", 3.0, None], "b": [1, 2, 3, 4]})
    record = studio.catalog.save(frame, "mixed", source="test")
    assert studio.catalog.load(record.id)["a"].tolist()[:3] == ["1", "two", "3.0"]


def test_delete_removes_row_and_file(studio: Studio, churn: pd.DataFrame) -> None:
    record = studio.catalog.save(churn, "churn", source="test")
    studio.catalog.delete(record.id)
    with pytest.raises(DatasetNotFound):
        studio.catalog.get(record.id)
    assert not any(studio.settings.datasets_path.rglob("*.parquet"))
