"""Predictions written back to real databases: a new table, an append, and a failed append that leaves nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from studio.data import writeback
from studio.data.sql import ConnectionSpec
from studio.errors import DataError
from tests.conftest import MARIADB_ADMIN_URL


def _chunks(n: int, start: int = 0) -> list[pd.DataFrame]:
    rows = pd.DataFrame({"customer": range(start, start + n), "prediction": ["yes", "no"] * (n // 2),
                         "probability_yes": [0.9, 0.2] * (n // 2)})
    return [rows.iloc[i:i + 30] for i in range(0, n, 30)]


def _pg(url: str) -> ConnectionSpec:
    u = sa.make_url(url)
    return ConnectionSpec(driver="postgresql", host=u.host or "", port=u.port, database=u.database or "",
                          user=u.username or "")


def test_new_table_then_append_then_a_failed_append_rolls_back(postgres_url: str, tmp_path: Path) -> None:
    spec = _pg(postgres_url)
    options = {"sqlite_root": tmp_path, "timeout_s": 30}
    assert writeback.write_predictions(spec, _chunks(100), "scores", mode="new", model_uri="models:/churn/3",
                                       **options) == 100
    with pytest.raises(DataError, match="already exists"):
        writeback.write_predictions(spec, _chunks(10), "scores", mode="new", model_uri="models:/churn/3", **options)
    writeback.write_predictions(spec, _chunks(60, 100), "scores", mode="append", model_uri="models:/churn/4",
                                **options)
    bad = [*_chunks(60, 500)[:1], pd.DataFrame({"customer": [1], "unexpected": [2]})]
    with pytest.raises(DataError, match="write the predictions to scores"):
        writeback.write_predictions(spec, bad, "scores", mode="append", model_uri="models:/churn/5", **options)
    engine = sa.create_engine(postgres_url)
    table = pd.read_sql("SELECT * FROM scores", engine)
    engine.dispose()
    assert len(table) == 160  # nothing of the failed batch, not even its first good chunk
    assert table.groupby("model_version").size().to_dict() == {3: 100, 4: 60}
    assert set(table["model_name"]) == {"churn"} and table["scored_at"].notna().all()
    assert list(table.columns)[:3] == ["customer", "prediction", "probability_yes"]


def test_mariadb_new_table_and_bad_names(mariadb_database: str, tmp_path: Path) -> None:
    u = sa.make_url(MARIADB_ADMIN_URL)
    spec = ConnectionSpec(driver="mysql", host=u.host or "", port=u.port, database=mariadb_database,
                          user=u.username or "")
    options = {"sqlite_root": tmp_path, "timeout_s": 30}
    assert writeback.write_predictions(spec, _chunks(40), "preds", mode="new", model_uri="models:/m/1",
                                       **options) == 40
    for table in ("preds; DROP TABLE preds", "1abc", "a.b.c"):
        with pytest.raises(DataError, match="not a table name"):
            writeback.write_predictions(spec, _chunks(2), table, mode="new", model_uri="models:/m/1", **options)
    with pytest.raises(DataError, match="no table 'other' to append"):
        writeback.write_predictions(spec, _chunks(2), "other", mode="append", model_uri="models:/m/1", **options)


def test_studio_predict_writes_back_to_a_saved_connection(postgres_url: str, churn_csv: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from studio.cli import main

    assert main(["train", str(churn_csv), "--target", "churned", "--algorithms", "linear", "--max-trials", "1",
                 "--validation", "holdout", "--wait", "--json"]) == 0
    assert main(["data", "connect", "wh", postgres_url.replace("postgresql+psycopg", "postgresql")]) == 0
    out = tmp_path / "scored.csv"
    assert main(["predict", "churn@champion", "--data", str(churn_csv), "--out", str(out), "--to-table",
                 "churn_scores", "--connection", "wh"]) == 2  # no champion yet: refused before anything is written
    capsys.readouterr()
    assert main(["predict", "models:/churn/1", "--data", str(churn_csv), "--out", str(out), "--to-table",
                 "churn_scores", "--connection", "wh", "--mode", "new"]) == 0
    assert "wrote 240 rows to churn_scores on wh" in capsys.readouterr().err
    engine = sa.create_engine(postgres_url)
    table = pd.read_sql("SELECT * FROM churn_scores", engine)
    engine.dispose()
    assert len(table) == 240 and set(table["model_version"]) == {1} and "prediction" in table.columns
    assert main(["predict", "models:/churn/1", "--data", str(churn_csv), "--out", str(out), "--to-table",
                 "churn_scores", "--connection", "nope"]) == 2
