"""Read from SQL databases safely: an allow-list of drivers, read-only sessions, timeouts, row caps, pushed-down limits.

Guard rails, each enforced where it is strongest:
- only the drivers in DRIVERS; the URL is built from separate fields with `sqlalchemy.URL.create` (never
  pasted), and shown or logged only without its password;
- only one read-only statement (SELECT / WITH ... SELECT / UNION), checked by parsing it with sqlglot,
  and the session itself opened read-only where the database allows it (PostgreSQL
  `default_transaction_read_only`, MySQL/MariaDB `TRANSACTION READ ONLY`, SQLite `mode=ro`);
- a statement timeout (PostgreSQL `statement_timeout`, MariaDB `max_statement_time`, MySQL
  `max_execution_time`, SQLite a progress handler, SQL Server the driver's query timeout);
- a row cap, and row limits / random samples pushed down into the query;
- SQLite files only from one allowed folder; MySQL `LOCAL INFILE` off.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from studio import vault
from studio.data.limits import CHUNK_ROWS
from studio.data.sql_check import check_select
from studio.errors import DataError, MissingDependency

if TYPE_CHECKING:  # pandas loads with the first read: a saved connection's spec is needed without it
    import pandas as pd

DriverName = Literal["postgresql", "mysql", "sqlite", "mssql"]


@dataclass(frozen=True)
class Driver:
    label: str
    sqlalchemy: str  # the dialect+driver part of the URL
    module: str  # the Python package that must be importable
    default_port: int | None
    sqlglot: str  # sqlglot's name for the SQL dialect
    random: str  # the function that orders rows randomly (samples)


DRIVERS: dict[str, Driver] = {
    "postgresql": Driver("PostgreSQL", "postgresql+psycopg", "psycopg", 5432, "postgres", "random"),
    "mysql": Driver("MySQL / MariaDB", "mysql+pymysql", "pymysql", 3306, "mysql", "rand"),
    "sqlite": Driver("SQLite", "sqlite", "sqlite3", None, "sqlite", "random"),
    "mssql": Driver("SQL Server", "mssql+pymssql", "pymssql", 1433, "tsql", "newid"),
}
SYSTEM_SCHEMAS = {"information_schema", "pg_catalog", "pg_toast", "mysql", "performance_schema", "sys",
                  "guest", "INFORMATION_SCHEMA"}
#: Tables listed when browsing (with a row count each); a database with more shows the first ones and says so.
MAX_BROWSED_TABLES = 200
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,79}$")


class ConnectionSpec(BaseModel):
    """A database to read from, as separate fields; the password is never part of a dump or a display."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="", description="The saved connection's name (empty for a one-off read).")
    driver: DriverName
    host: str = ""
    port: int | None = Field(default=None, ge=1, le=65535)
    database: str = Field(min_length=1, description="Database name; for SQLite a file in the allowed folder.")
    user: str = ""
    password: SecretStr | None = Field(default=None, exclude=True)
    password_env: str | None = Field(default=None, description="An environment variable holding the password.")

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        value = value.strip()
        if value and not _HOST.match(value):
            raise ValueError(f"'{value}' is not a host name or IP address (give only the host: no scheme, "
                             "user, port or path)")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip()
        if value and not _NAME.match(value):
            raise ValueError("use 1-80 letters, digits, spaces, '_', '-' or '.' for a connection name")
        return value

    @field_validator("password_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"'{value}' is not an environment variable name")
        return value or None

    def with_env_password(self) -> ConnectionSpec:
        """The connection with its password read from `password_env` now (unchanged without one)."""
        if not self.password_env:
            return self
        value = vault.getenv(self.password_env)
        if value is None:
            who = f"Connection '{self.name}'" if self.name else "The connection"
            raise DataError(f"{who} reads its password from the environment variable {self.password_env}, which "
                            "is not set. Set it where the studio runs.")
        return self.model_copy(update={"password": SecretStr(value)})

    @property
    def info(self) -> Driver:
        return DRIVERS[self.driver]

    def url(self, sqlite_root: Path) -> sa.URL:
        """The SQLAlchemy URL, built from the fields (so no field can smuggle in URL syntax)."""
        if self.driver == "sqlite":
            path = sqlite_file(self.database, sqlite_root)
            return sa.URL.create("sqlite", database=f"file:{path}", query={"mode": "ro", "uri": "true"})
        if not self.host:
            raise DataError(f"A {self.info.label} connection needs a host (e.g. localhost).")
        password = self.password.get_secret_value() if self.password is not None else None
        return sa.URL.create(self.info.sqlalchemy, username=self.user or None, password=password or None,
                             host=self.host, port=self.port or self.info.default_port, database=self.database)

    def display(self) -> str:
        """The URL for people and logs: never the password."""
        if self.driver == "sqlite":
            return f"sqlite:///{self.database}"
        user = f"{self.user}@" if self.user else ""
        return f"{self.driver}://{user}{self.host}:{self.port or self.info.default_port}/{self.database}"


def sqlite_file(database: str, root: Path) -> Path:
    """The SQLite file for `database`, which must be an existing file inside `root` (STUDIO_SQLITE_DIR)."""
    path = Path(database).expanduser()
    path = (path if path.is_absolute() else root / path).resolve()
    if not path.is_relative_to(root.resolve()):
        raise DataError(f"SQLite files are read only from {root} (STUDIO_SQLITE_DIR); '{database}' is outside it. "
                        "Copy the file there, or point STUDIO_SQLITE_DIR at its folder.")
    if not path.is_file():
        raise DataError(f"No SQLite file '{path.name}' in {root}. Put the file there first.")
    return path


def open_engine(spec: ConnectionSpec, *, sqlite_root: Path, timeout_s: float, read_only: bool = True) -> sa.Engine:
    """An engine whose every connection is read-only (unless `read_only=False`: writing predictions back) and
    bounded by a statement timeout."""
    try:
        __import__(spec.info.module)
    except ImportError:
        raise MissingDependency(f"The {spec.info.label} driver '{spec.info.module}' is not installed: "
                                f"pip install {spec.info.module}") from None
    url = spec.url(sqlite_root)
    if not read_only and spec.driver == "sqlite":
        url = url.update_query_dict({"mode": "rw"})
    ms = int(timeout_s * 1000)
    connect_args: dict[str, Any] = {}
    if spec.driver == "postgresql":
        ro = "-c default_transaction_read_only=on " if read_only else ""
        connect_args = {"connect_timeout": 10, "application_name": "ml-studio",
                        "options": f"{ro}-c statement_timeout={ms}"}
    elif spec.driver == "mysql":
        connect_args = {"connect_timeout": 10, "local_infile": False, "read_timeout": int(timeout_s) + 30}
        if read_only:
            connect_args["init_command"] = "SET SESSION TRANSACTION READ ONLY"
    elif spec.driver == "mssql":
        connect_args = {"login_timeout": 10, "timeout": int(timeout_s)}
    engine = sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)
    if spec.driver == "mysql":
        sa.event.listen(engine, "connect", _mysql_timeout(timeout_s))
    elif spec.driver == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_timeout(timeout_s))
    return engine


def _mysql_timeout(timeout_s: float) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"SET SESSION max_statement_time = {float(timeout_s)}")  # MariaDB, seconds
        except Exception:  # MySQL has the other variable
            cur.execute(f"SET SESSION max_execution_time = {int(timeout_s * 1000)}")  # MySQL, ms, SELECTs
        cur.close()
    return on_connect


def _sqlite_timeout(timeout_s: float) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        started = time.monotonic()

        def over() -> int:
            return 1 if time.monotonic() - started > timeout_s else 0  # non-zero aborts the statement

        dbapi_conn.set_progress_handler(over, 10_000)
    return on_connect


def table_ref(table: str) -> sa.TableClause:
    """`schema.table` or `table` as a quoted table reference (names are never pasted into SQL)."""
    parts = table.split(".")
    if len(parts) > 2 or not all(parts):
        raise DataError(f"'{table}' is not a table name. Use 'table' or 'schema.table'.")
    return sa.table(parts[-1], schema=parts[0] if len(parts) == 2 else None)


@dataclass(frozen=True)
class TableInfo:
    schema: str | None
    name: str
    kind: str  # "table" or "view"
    rows: int | None  # None when counting took too long or was not allowed
    columns: list[tuple[str, str]]

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


def browse(engine: sa.Engine, *, count_rows: bool = True) -> list[TableInfo]:
    """Every user table and view (up to MAX_BROWSED_TABLES) with its columns and row count."""
    with guarded(engine, "list the tables"):
        inspector = sa.inspect(engine)
        default = inspector.default_schema_name
        schemas = [s for s in inspector.get_schema_names() if s not in SYSTEM_SCHEMAS and not s.startswith("pg_")]
        found: list[TableInfo] = []
        for schema in sorted(schemas, key=lambda s: (s != default, s)):
            names = [(n, "table") for n in inspector.get_table_names(schema=schema)] + \
                [(n, "view") for n in inspector.get_view_names(schema=schema)]
            for name, kind in names:
                if len(found) >= MAX_BROWSED_TABLES:
                    return found
                shown_schema = None if schema == default else schema
                columns = [(c["name"], str(c["type"])) for c in inspector.get_columns(name, schema=schema)]
                rows = _count(engine, sa.table(name, schema=shown_schema)) if count_rows else None
                found.append(TableInfo(shown_schema, name, kind, rows, columns))
    return found


def _count(engine: sa.Engine, table: sa.TableClause) -> int | None:
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
    except sa.exc.DBAPIError:
        return None


def read_chunks(engine: sa.Engine, driver: str, *, table: str | None = None, query: str | None = None,
                limit: int | None = None, sample: bool = False, max_rows: int,
                chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Stream a table or a read-only query as DataFrames, with the limit or sample pushed into the SQL.

    Without a limit, reading stops with a DataError once the result passes `max_rows` (the cap).
    """
    import pandas as pd

    if (table is None) == (query is None):
        raise DataError("Give either a table or a query, not both.")
    source: Any = table_ref(table) if table is not None else \
        sa.text(check_select(query or "", driver)).columns().subquery("studio_query")
    statement: sa.Select[Any] = sa.select(sa.literal_column("*")).select_from(source)
    if sample:
        if not limit:
            raise DataError("A random sample needs a row count: set the row limit to the sample size.")
        statement = statement.order_by(getattr(sa.func, DRIVERS[driver].random)())
    capped = limit is None or limit > max_rows
    statement = statement.limit(max_rows + 1 if capped else limit)
    with guarded(engine, "read the data"), engine.connect() as conn:
        result = conn.execution_options(stream_results=True, max_row_buffer=chunk_rows).execute(statement)
        keys = list(result.keys())
        seen = 0
        for part in result.partitions(chunk_rows):
            seen += len(part)
            if capped and seen > max_rows:
                raise DataError(f"The result has more than {max_rows:,} rows, the cap for one read. Set a row "
                                "limit or a random sample, filter it in the query, or raise STUDIO_SQL_MAX_ROWS.")
            yield _frame(part, keys)
        if seen == 0:
            yield pd.DataFrame({k: pd.Series(dtype=object) for k in keys})


def _frame(rows: Sequence[Any], keys: list[str]) -> pd.DataFrame:
    """Driver values as pandas columns: Decimal as float, date as datetime (so they stay numbers and dates)."""
    import pandas as pd

    frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=keys)
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object:
            continue
        first = column.dropna().head(1)
        if first.empty:
            continue
        value = first.iloc[0]
        if isinstance(value, decimal.Decimal):
            frame[name] = pd.to_numeric(column.map(lambda v: None if v is None else float(v)), errors="coerce")
        elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            frame[name] = pd.to_datetime(column, errors="coerce")
        elif isinstance(value, bytes | bytearray | memoryview):
            frame[name] = column.map(lambda v: None if v is None else bytes(v).hex())
    return frame


@contextmanager
def guarded(engine: sa.Engine, action: str) -> Iterator[None]:
    """Turn driver errors into DataErrors that say what failed and why, without the password."""
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        message = describe_error(exc)
        if engine.url.password:
            message = message.replace(str(engine.url.password), "***")
        where = engine.url.render_as_string(hide_password=True).split("?")[0]
        raise DataError(f"Could not {action} on {where}: {message}") from None


def describe_error(exc: BaseException) -> str:
    """The driver's own first line, with a hint for the common causes (timeout, read-only, login, host)."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()[0] if str(original).strip() else type(original).__name__
    lowered = text.lower()
    if "statement timeout" in lowered or "max_statement_time" in lowered or "max_execution_time" in lowered \
            or "interrupted" in lowered or "canceling statement" in lowered:
        return f"{text} (the read ran past the statement timeout; add a limit or raise STUDIO_SQL_TIMEOUT_SECONDS)"
    if "read-only" in lowered or "read only" in lowered or "readonly" in lowered:
        return f"{text} (the connection is read-only: the studio only reads)"
    if "password" in lowered or "access denied" in lowered or "authentication" in lowered:
        return f"{text} (check the user and password)"
    if "could not translate host" in lowered or "connection refused" in lowered or "can't connect" in lowered:
        return f"{text} (check the host and port, and that the server is running)"
    return text
