"""`studio data ...` against the real local PostgreSQL: add a table, train on the snapshot, refresh, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from deltalake import write_deltalake

from studio.cli import main
from tests.conftest import churn_frame


def _out(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_add_a_postgres_table_train_on_it_and_refresh(postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        churn_frame(200).to_sql("churn", conn, index=False)
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    assert main(["data", "tables", url, "--json"]) == 0
    assert {"table": "churn", "rows": 200} .items() <= _out(capsys)[0].items()
    assert main(["data", "connect", "wh", url]) == 0
    capsys.readouterr()
    assert main(["data", "add", "@wh", "--table", "churn", "--json"]) == 0
    added = _out(capsys)
    assert added["id"] == "churn-v1" and added["n_rows"] == 200 and added["origin"]["connection"] == "wh"
    assert main(["train", "churn-v1", "--target", "churned", "--algorithms", "linear", "--max-trials", "2",
                 "--validation", "holdout", "--wait", "--json"]) == 0
    assert _out(capsys)["status"] == "succeeded"
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM churn WHERE tenure < 10"))
    engine.dispose()
    assert main(["data", "refresh", "churn-v1", "--json"]) == 0
    assert _out(capsys)["id"] == "churn-v2"
    assert main(["data", "show", "churn-v2"]) == 0
    assert "sql churn @ wh" in capsys.readouterr().out


def test_add_a_query_with_a_limit_from_a_url(postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        churn_frame(100).to_sql("churn", conn, index=False)
    engine.dispose()
    assert main(["data", "add", postgres_url, "--query", "SELECT tenure, plan FROM churn WHERE tenure > 5",
                 "--limit", "10", "--name", "short", "--json"]) == 0
    added = _out(capsys)
    assert added["n_rows"] == 10 and added["n_cols"] == 2 and added["origin"]["query"].startswith("SELECT")


def test_add_delta_and_parquet_with_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.setenv("STUDIO_DATA_ROOTS", str(tmp_path))  # lake tables are read only under the data folders
    frame = churn_frame(300)
    write_deltalake(tmp_path / "delta", frame)
    assert main(["data", "add", str(tmp_path / "delta"), "--where", "plan in basic,pro", "--columns",
                 "tenure,plan,churned", "--json"]) == 0
    added = _out(capsys)
    assert added["origin"]["kind"] == "delta" and added["n_cols"] == 3
    assert added["n_rows"] == int(frame["plan"].isin(["basic", "pro"]).sum())
    frame.to_parquet(tmp_path / "c.parquet")
    assert main(["data", "add", str(tmp_path / "c.parquet"), "--where", "tenure >= 30", "--json"]) == 0
    assert _out(capsys)["n_rows"] == int((frame["tenure"] >= 30).sum())
    assert main(["data", "list", "--json"]) == 0
    assert len(_out(capsys)) == 2
    assert main(["data", "delete", "c-v1", "--yes"]) == 0


@pytest.mark.parametrize(("argv", "message"), [
    (["data", "add", "postgresql://u:hunter2@localhost/db", "--table", "t"], "Do not put the password in the URL"),
    (["data", "add", "postgresql://u@localhost/db"], "needs --table NAME or --query"),
    (["data", "add", "oracle://u@localhost/db", "--table", "t"], "'oracle' databases are not supported"),
    (["data", "add", "sqlite:///../../etc/passwd.db", "--table", "t"], "read only from"),
    (["data", "add", "postgresql://postgres@127.0.0.1:5432/test", "--query", "DELETE FROM t"], "Refused"),
    (["data", "add", "postgresql://postgres@127.0.0.1:1/test", "--table", "t"], "check the host and port"),
    (["data", "add", "@nope", "--table", "t"], "No saved connection 'nope'"),
    (["data", "add", "/no/such/file.csv"], "neither a file"),
    (["data", "add", "{parquet}", "--where", "tenure ~ 3"], "is not a filter"),
    (["data", "refresh", "nope-v1"], "No dataset 'nope-v1'"),
    (["data", "connect", "x", "postgresql://u@bad host/db"], "not a host name"),
])
def test_bad_data_input_exits_2_with_one_line(argv: list[str], message: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    churn_frame(20).to_parquet(tmp_path / "c.parquet")
    code = main([a.replace("{parquet}", str(tmp_path / "c.parquet")) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and err.startswith("error: ") and "Traceback" not in err and "hunter2" not in err


def test_an_uploaded_dataset_cannot_be_refreshed(churn_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "add", str(churn_csv), "--json"]) == 0
    record = _out(capsys)
    assert main(["data", "refresh", record["id"]]) == 2
    assert "cannot be refreshed" in capsys.readouterr().err
    assert isinstance(pd.read_parquet(record["path"]), pd.DataFrame)
