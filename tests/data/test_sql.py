"""Reading from real databases: the local PostgreSQL and MariaDB servers, and SQLite files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from studio.context import Studio
from studio.data import sources, sql
from studio.data.sql import ConnectionSpec
from studio.errors import DataError
from tests.conftest import MARIADB_ADMIN_URL, churn_frame, make_settings


def _fill(url: str | sa.URL, frame: pd.DataFrame, table: str = "customers", schema: str | None = None) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if schema:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        frame.to_sql(table, conn, schema=schema, index=False)
    engine.dispose()


def _pg(postgres_url: str) -> ConnectionSpec:
    url = sa.make_url(postgres_url)
    return ConnectionSpec(name="warehouse", driver="postgresql", host=url.host or "", port=url.port,
                          database=url.database or "", user=url.username or "")


def _maria(database: str, **extra: object) -> ConnectionSpec:
    url = sa.make_url(MARIADB_ADMIN_URL)
    return ConnectionSpec(name="shop", driver="mysql", host=url.host or "", port=url.port, database=database,
                          user=url.username or "", **extra)  # type: ignore[arg-type]


def test_postgres_table_is_browsed_snapshotted_and_refreshed(studio: Studio, postgres_url: str) -> None:
    frame = churn_frame(300)
    _fill(postgres_url, frame)
    _fill(postgres_url, frame.head(20), table="recent", schema="sales")
    spec = _pg(postgres_url)
    engine = sql.open_engine(spec, sqlite_root=studio.settings.sqlite_path, timeout_s=30)
    tables = {t.qualified: t for t in sql.browse(engine)}
    assert tables["customers"].rows == 300 and tables["sales.recent"].rows == 20
    assert ("plan", "TEXT") in tables["customers"].columns
    studio.connections.save(spec, remember_password=False)

    record = sources.snapshot_sql(studio.sources, spec, "customers", table="customers")
    loaded = studio.catalog.load(record.id)
    assert loaded.shape == frame.shape and loaded["tenure"].sum() == frame["tenure"].sum()
    assert record.origin is not None and record.origin.table == "customers" and record.origin.connection == "warehouse"
    assert record.origin.ran_at > 0 and "warehouse" in record.source

    unchanged = sources.refresh(studio.sources, record.id)
    assert unchanged.id == record.id  # same content: the same version
    engine_rw = sa.create_engine(postgres_url)
    with engine_rw.begin() as conn:
        conn.execute(sa.text("DELETE FROM customers WHERE tenure > 30"))
    engine_rw.dispose()
    fresh = sources.refresh(studio.sources, record.id)
    assert fresh.version == 2 and fresh.n_rows == int((frame["tenure"] <= 30).sum())


def test_postgres_query_with_pushed_down_limit_and_sample(studio: Studio, postgres_url: str) -> None:
    frame = pd.DataFrame({"id": np.arange(5000), "x": np.random.default_rng(0).normal(size=5000),
                          "amount": np.arange(5000) / 100})
    _fill(postgres_url, frame, table="events")
    spec = _pg(postgres_url)
    first = sources.snapshot_sql(studio.sources,
                                 spec, "first", query="SELECT id, x FROM events WHERE id >= 100 ORDER BY id",
                                 limit=50)
    assert studio.catalog.load(first.id)["id"].tolist() == list(range(100, 150))
    sampled = studio.catalog.load(sources.snapshot_sql(studio.sources, spec, "sample", table="events", limit=200,
                                                       sample=True).id)
    assert len(sampled) == 200 and sampled["id"].nunique() == 200 and sampled["id"].max() > 1000
    with pytest.raises(DataError, match="more than 1,000 rows"):
        capped = Studio(make_settings(studio.settings.home, sql_max_rows=1000))
        sources.snapshot_sql(capped.sources, spec, "all", table="events")
    assert [r.name for r in studio.catalog.list()] == ["sample", "first"]  # the refused read saved nothing


def test_postgres_session_is_read_only_and_has_a_statement_timeout(studio: Studio, postgres_url: str) -> None:
    _fill(postgres_url, churn_frame(10))
    engine = sql.open_engine(_pg(postgres_url), sqlite_root=studio.settings.sqlite_path, timeout_s=1)
    with pytest.raises(sa.exc.DBAPIError, match="read-only"), engine.connect() as conn:
        conn.execute(sa.text("CREATE TABLE evil (x int)"))
    with pytest.raises(DataError, match="statement timeout"):
        list(sql.read_chunks(engine, "postgresql", query="SELECT count(*) AS x FROM generate_series(1, 2000000000)",
                             max_rows=10))


@pytest.mark.parametrize(("query", "reason"), [
    ("DELETE FROM customers", "DELETE"),
    ("DROP TABLE customers", "DROP"),
    ("SELECT 1; DROP TABLE customers", "2 statements"),
    ("WITH d AS (DELETE FROM customers RETURNING *) SELECT * FROM d", "DELETE"),
    ("SELECT * INTO copy FROM customers", "INTO"),
    ("SELECT * FROM customers FOR UPDATE", "FOR UPDATE"),
    ("UPDATE customers SET tenure = 0", "UPDATE"),
    ("", "empty"),
])
def test_only_one_select_is_accepted(query: str, reason: str) -> None:
    with pytest.raises(DataError, match=reason):
        sql.check_select(query, "postgresql")


@pytest.mark.parametrize(("query", "driver", "reason"), [
    ("SELECT * FROM customers WHERE 1 = 1 /*! AND SLEEP(2) */", "mysql", "executable comment"),
    ("SELECT * FROM customers /*M!100000 UNION SELECT LOAD_FILE('/etc/passwd') */", "mysql", "executable comment"),
    ("SELECT LOAD_FILE('/etc/passwd') AS x", "mysql", "load_file"),
    ("SELECT `benchmark`(100000000, md5('x'))", "mysql", "benchmark"),
    ("SELECT pg_read_file('/etc/passwd')", "postgresql", "pg_read_file"),
    ('SELECT "pg_catalog"."pg_read_file"(\'/etc/passwd\')', "postgresql", "pg_read_file"),
    ("SELECT lo_import('/etc/passwd')", "postgresql", "lo_import"),
    ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "postgresql", "pg_terminate_backend"),
    ("SELECT * FROM dblink('host=x', 'SELECT 1') AS t(a int)", "postgresql", "dblink"),
    ("SELECT query_to_xml('DELETE FROM customers', true, true, '')", "postgresql", "query_to_xml"),
    ("SELECT xp_cmdshell('dir')", "mssql", "xp_cmdshell"),
    ("SELECT load_extension('evil')", "sqlite", "load_extension"),
])
def test_side_effects_hidden_in_a_select_are_refused(query: str, driver: str, reason: str) -> None:
    with pytest.raises(DataError, match=reason):
        sql.check_select(query, driver)


def test_a_mariadb_executable_comment_never_reaches_the_server(studio: Studio, mariadb_database: str) -> None:
    """The comment's text ran on MariaDB once (it passed the SELECT-only check)."""
    spec = sql.ConnectionSpec(driver="mysql", host="127.0.0.1", port=3306, database=mariadb_database, user="root")
    writer = sql.open_engine(spec, sqlite_root=studio.settings.sqlite_path, timeout_s=30, read_only=False)
    with writer.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (a INT)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    engine = sql.open_engine(spec, sqlite_root=studio.settings.sqlite_path, timeout_s=30)
    assert next(sql.read_chunks(engine, "mysql", query="SELECT a FROM t", max_rows=10))["a"].tolist() == [1]
    with pytest.raises(DataError, match="executable comment"):
        list(sql.read_chunks(engine, "mysql", query="SELECT a FROM t /*! WHERE SLEEP(5) = 0 */", max_rows=10))


def test_a_select_with_ctes_and_unions_is_accepted() -> None:
    text = "WITH a AS (SELECT 1 AS x) SELECT x FROM a UNION ALL SELECT 2;"
    assert sql.check_select(text, "postgresql") == text.rstrip(";")


def test_mariadb_through_a_saved_connection_with_an_encrypted_password(tmp_path: Path, mariadb_database: str) -> None:
    admin = sa.create_engine(MARIADB_ADMIN_URL, isolation_level="AUTOCOMMIT")
    user, password = f"u{mariadb_database[-8:]}", "s3cret-Pw!"
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"))
        conn.execute(sa.text(f"GRANT ALL ON `{mariadb_database}`.* TO '{user}'@'%'"))
    try:
        _fill(sa.make_url(MARIADB_ADMIN_URL).set(database=mariadb_database), churn_frame(120))
        key = SecretStr(__import__("studio.data.connections", fromlist=["x"]).new_secret_key())
        studio = Studio(make_settings(tmp_path / "home", secret_key=key))
        spec = _maria(mariadb_database).model_copy(update={"user": user, "password": SecretStr(password)})
        studio.connections.save(spec, remember_password=True)
        raw = Path(studio.settings.root / "studio.db").read_bytes()
        assert password.encode() not in raw and b"s3cret" not in raw  # encrypted at rest
        assert password not in studio.connections.get("shop").model_dump_json()
        record = sources.snapshot_sql(studio.sources, studio.connections.get("shop"), "churn", table="customers")
        assert record.n_rows == 120 and record.origin is not None
        assert password not in record.source and password not in record.origin.model_dump_json()

        engine = sql.open_engine(studio.connections.get("shop"), sqlite_root=studio.settings.sqlite_path, timeout_s=5)
        with pytest.raises(sa.exc.DBAPIError, match=r"READ ONLY|read only|read-only"), engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO customers (tenure) VALUES (1)"))
        with engine.connect() as conn:
            from pymysql.constants import CLIENT

            assert not conn.connection.dbapi_connection.client_flag & CLIENT.LOCAL_FILES  # type: ignore[union-attr]
            assert float(conn.execute(sa.text("SELECT @@max_statement_time")).scalar()) == 5.0

        wrong = spec.model_copy(update={"password": SecretStr("nope")})
        with pytest.raises(DataError, match="check the user and password") as refused:
            list(sql.browse(sql.open_engine(wrong, sqlite_root=studio.settings.sqlite_path, timeout_s=5)))
        assert "nope" not in str(refused.value)

        other_key = Studio(make_settings(tmp_path / "home", secret_key=SecretStr(
            __import__("studio.data.connections", fromlist=["x"]).new_secret_key())))
        with pytest.raises(DataError, match="cannot be decrypted"):
            other_key.connections.get("shop")
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))
        admin.dispose()


def test_remembering_a_password_without_a_key_is_refused_and_env_passwords_are_read(
        studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ConnectionSpec(name="wh", driver="postgresql", host="localhost", database="d", user="u",
                          password=SecretStr("pw"))
    with pytest.raises(DataError, match="STUDIO_SECRET_KEY"):
        studio.connections.save(spec, remember_password=True)
    assert studio.connections.list() == []
    studio.connections.save(spec.model_copy(update={"password_env": "WH_PASSWORD"}), remember_password=False)
    with pytest.raises(DataError, match="WH_PASSWORD, which is not set"):
        studio.connections.get("wh")
    monkeypatch.setenv("WH_PASSWORD", "from-env")
    assert studio.connections.get("wh").password.get_secret_value() == "from-env"  # type: ignore[union-attr]
    assert "pw" not in studio.connections.get("wh").display()


def test_sqlite_files_only_from_the_allowed_folder_and_read_only(studio: Studio, tmp_path: Path) -> None:
    allowed = studio.settings.sqlite_path / "shop.db"
    with sqlite3.connect(allowed) as conn:
        churn_frame(50).to_sql("customers", conn, index=False)
    record = sources.snapshot_sql(studio.sources, ConnectionSpec(driver="sqlite", database="shop.db"), "shop",
                                  table="customers")
    assert record.n_rows == 50
    outside = tmp_path / "elsewhere.db"
    sqlite3.connect(outside).close()
    for database in (str(outside), "../elsewhere.db"):
        with pytest.raises(DataError, match="read only from"):
            sql.open_engine(ConnectionSpec(driver="sqlite", database=database), sqlite_root=studio.settings.sqlite_path,
                            timeout_s=5)
    engine = sql.open_engine(ConnectionSpec(driver="sqlite", database="shop.db"),
                             sqlite_root=studio.settings.sqlite_path, timeout_s=5)
    with pytest.raises(sa.exc.OperationalError, match="readonly"), engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM customers"))
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) AS m FROM c"
    quick = sql.open_engine(ConnectionSpec(driver="sqlite", database="shop.db"),
                            sqlite_root=studio.settings.sqlite_path, timeout_s=0.5)
    with pytest.raises(DataError, match="interrupted"):
        list(sql.read_chunks(quick, "sqlite", query=slow, max_rows=10))


@pytest.mark.parametrize(("fields", "message"), [
    ({"host": "evil.com/db?x=1"}, "not a host name"),
    ({"host": "user@host"}, "not a host name"),
    ({"port": 70000}, "less than or equal"),
    ({"driver": "oracle"}, "driver"),
    ({"password_env": "A-B"}, "not an environment variable"),
])
def test_connection_fields_are_validated(fields: dict, message: str) -> None:
    values = {"driver": "postgresql", "host": "localhost", "database": "d"} | fields
    with pytest.raises(ValueError, match=message):
        ConnectionSpec(**values)


def test_a_table_name_is_quoted_never_pasted(studio: Studio, postgres_url: str) -> None:
    _fill(postgres_url, churn_frame(10))
    engine = sql.open_engine(_pg(postgres_url), sqlite_root=studio.settings.sqlite_path, timeout_s=5)
    with pytest.raises(DataError, match="does not exist"):
        list(sql.read_chunks(engine, "postgresql", table="customers; DROP TABLE customers", max_rows=10))
    assert sum(len(c) for c in sql.read_chunks(engine, "postgresql", table="customers", max_rows=10)) == 10
