"""`studio data ...`: bring data in from files, databases and lake tables; list, show, refresh, delete snapshots;
save database connections."""

from __future__ import annotations

import argparse
import getpass
import json
import re
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from studio import vault
from studio.cli_jobs import confirm
from studio.errors import DataError

_WHERE = re.compile(r"^\s*(.+?)\s*(>=|<=|!=|=|<|>|\bnot in\b|\bin\b)\s*(.+?)\s*$", re.IGNORECASE)
_SCHEMES = {"postgresql": "postgresql", "postgres": "postgresql", "mysql": "mysql", "mariadb": "mysql",
            "sqlite": "sqlite", "mssql": "mssql"}


def add_parser(sub: Any) -> None:
    d = sub.add_parser("data", help="datasets: add from a file, database or lake table; list, show, refresh, delete")
    dsub = d.add_subparsers(dest="data_command", required=True)
    a = dsub.add_parser("add", help="snapshot a file, a database table or query, or a Parquet/Delta table")
    a.add_argument("source", help="a file or folder path, an object-store URL (s3://...), a database URL "
                                   "(postgresql://user@host/db, mysql://..., sqlite:///file.db) or @CONNECTION")
    what = a.add_mutually_exclusive_group()
    what.add_argument("--table", help="database table to read (schema.table or table)")
    what.add_argument("--query", help="a read-only SELECT to run")
    a.add_argument("--name", help="dataset name (default: from the table or file)")
    a.add_argument("--limit", type=int, help="read at most this many rows (pushed down to the source)")
    a.add_argument("--sample", action="store_true", help="a random sample of --limit rows instead of the first")
    a.add_argument("--columns", help="Parquet/Delta: only these columns, comma-separated")
    a.add_argument("--where", action="append", default=[], help="Parquet/Delta row filter, e.g. 'units >= 5' "
                                                                 "or 'store in north,east' (repeat for AND)")
    a.add_argument("--delta", action="store_true", help="the path is a Delta table (found by itself locally)")
    a.add_argument("--version", type=int, help="Delta: read this table version (time travel)")
    a.add_argument("--encoding", default="utf-8", help="CSV text encoding")
    a.add_argument("--password-env", help="environment variable holding the database password "
                                          "(default STUDIO_DB_PASSWORD when set)")
    a.add_argument("--json", action="store_true")
    sa = dsub.add_parser("sample", help="add a sample dataset generated offline (no name: list them)")
    sa.add_argument("name", nargs="?", help="customer-churn, house-prices or store-item-sales")
    sa.add_argument("--json", action="store_true")
    ls = dsub.add_parser("list", help="saved datasets")
    ls.add_argument("--json", action="store_true")
    sh = dsub.add_parser("show", help="one dataset: columns, source, origin")
    sh.add_argument("dataset_id")
    sh.add_argument("--json", action="store_true")
    rf = dsub.add_parser("refresh", help="read a database or lake snapshot's source again as a new version")
    rf.add_argument("dataset_id")
    rf.add_argument("--json", action="store_true")
    de = dsub.add_parser("delete", help="delete a dataset snapshot (runs trained on it keep their models)")
    de.add_argument("dataset_id")
    de.add_argument("--yes", action="store_true")
    tb = dsub.add_parser("tables", help="browse a database: tables and views with row counts and columns")
    tb.add_argument("source", help="a database URL or @CONNECTION")
    tb.add_argument("--password-env")
    tb.add_argument("--json", action="store_true")
    cn = dsub.add_parser("connect", help="save a database connection (the password encrypted, or read from env)")
    cn.add_argument("name")
    cn.add_argument("url", help="postgresql://user@host:5432/db (no password in the URL)")
    pw = cn.add_mutually_exclusive_group()
    pw.add_argument("--password-env", help="read the password from this environment variable at each use")
    pw.add_argument("--remember-password", action="store_true",
                    help="ask for the password and keep it encrypted with STUDIO_SECRET_KEY")
    dsub.add_parser("connections", help="saved connections (passwords never shown)")
    dc = dsub.add_parser("disconnect", help="delete a saved connection")
    dc.add_argument("name")
    dsub.add_parser("secret-key", help="print a new key for STUDIO_SECRET_KEY")


def cmd_data(args: argparse.Namespace, studio: Any) -> int:
    from studio.data import sources

    command = args.data_command
    if command == "add":
        return _print_record(_add(args, studio), args.json)
    if command == "sample":
        from studio.samples import SAMPLES, add_sample

        if not args.name:
            for sample in SAMPLES.values():
                print(f"{sample.name:18} target {sample.target:8} {sample.description}")
            return 0
        return _print_record(add_sample(studio.catalog, args.name), args.json)
    if command == "list":
        records = studio.catalog.list()
        if args.json:
            print(json.dumps([_summary(r) for r in records]))
        for r in records if not args.json else []:
            print(f"{r.id:30} {r.n_rows:>10,} rows x {r.n_cols:<3} {r.content_hash[:12]}  {r.source}")
        return 0
    if command == "show":
        return _print_record(studio.catalog.get(args.dataset_id), args.json, columns=True)
    if command == "refresh":
        return _print_record(sources.refresh(studio.sources, args.dataset_id), args.json)
    if command == "delete":
        record = studio.catalog.get(args.dataset_id)
        if not args.yes and not confirm(f"Delete {record.id} ({record.n_rows:,} rows)?"):
            return 1
        studio.catalog.delete(record.id)
        print(f"Deleted {record.id}.")
        return 0
    if command == "tables":
        return _tables(args, studio)
    if command == "connect":
        spec = _spec_from_url(args.url, password_env=args.password_env, name=args.name)
        if args.remember_password:
            spec = spec.model_copy(update={"password": SecretStr(getpass.getpass(f"Password for {spec.display()}: "))})
        saved = studio.connections.save(spec, remember_password=args.remember_password)
        print(f"Saved connection '{saved.name}': {saved.display()}"
              + (" (password encrypted)" if args.remember_password else ""))
        return 0
    if command == "connections":
        for spec in studio.connections.list():
            stored = "encrypted password" if studio.connections.has_stored_password(spec.name) else \
                f"password from ${spec.password_env}" if spec.password_env else "no password"
            print(f"{spec.name:20} {spec.display():50} {stored}")
        return 0
    if command == "disconnect":
        studio.connections.delete(args.name)
        print(f"Deleted connection '{args.name}'.")
        return 0
    if command == "secret-key":
        from studio.data.connections import new_secret_key

        print(new_secret_key())
        return 0
    raise AssertionError(command)


def _add(args: argparse.Namespace, studio: Any) -> Any:
    from studio.data import sources

    source: str = args.source
    if source.startswith("@") or ("://" in source and (_scheme(source) in _SCHEMES or args.table or args.query)):
        if not args.table and not args.query:
            raise DataError("Reading a database needs --table NAME or --query 'SELECT ...'. "
                            "`studio data tables SOURCE` lists the tables.")
        spec = _connection(source, args, studio)
        name = args.name or (args.table.split(".")[-1] if args.table else "query")
        return sources.snapshot_sql(studio.sources, spec, name, table=args.table, query=args.query, limit=args.limit,
                                    sample=args.sample)
    if args.table or args.query:
        raise DataError(f"--table and --query apply to databases; '{source}' is not a database URL or @CONNECTION.")
    path = Path(source).expanduser()
    if path.is_file() and not (args.columns or args.where or args.limit or args.delta):
        return sources.snapshot_file(studio.sources, path, args.name or path.stem, encoding=args.encoding)
    if path.exists() or "://" in source:
        from studio.data.origin import RowFilter

        try:
            filters = [RowFilter(**_where(w)) for w in args.where]
        except ValidationError as exc:
            raise DataError(f"A --where filter is not valid: {exc.errors()[0]['msg']}") from None
        columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
        name = args.name or Path(source.rstrip("/")).stem or "table"
        return sources.snapshot_lake(studio.sources,
                                     source, name, delta=True if args.delta else None, version=args.version,
                                     columns=columns, filters=filters, limit=args.limit, sample=args.sample)
    raise DataError(f"'{source}' is neither a file, a folder, a database URL nor @CONNECTION. Check the path.")


def _where(text: str) -> dict[str, Any]:
    match = _WHERE.match(text)
    if match is None:
        raise DataError(f"'{text}' is not a filter. Write COLUMN OP VALUE, e.g. 'units >= 5' or 'store in a,b'.")
    column, op, value = match.group(1), match.group(2).lower(), match.group(3).strip()
    if op in ("in", "not in"):
        return {"column": column, "op": op, "value": [v.strip().strip("'\"") for v in value.split(",")]}
    return {"column": column, "op": op, "value": value.strip("'\"")}


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].split("+", 1)[0].lower()


def _spec_from_url(url: str, *, password_env: str | None, name: str = "") -> Any:
    import sqlalchemy as sa

    from studio.data.sql import ConnectionSpec

    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        shown = vault.shown_url(url)  # never echo credentials typed into the URL
        raise DataError(f"'{shown}' is not a database URL. Write e.g. postgresql://user@host:5432/database.") from None
    driver = _SCHEMES.get(_scheme(url))
    if driver is None:
        raise DataError(f"'{_scheme(url)}' databases are not supported. Use one of: postgresql, mysql/mariadb, "
                        "sqlite, mssql.")
    if parsed.password:
        raise DataError("Do not put the password in the URL (it would stay in your shell history). Put it in an "
                        "environment variable and pass --password-env NAME (or set STUDIO_DB_PASSWORD).")
    try:
        return ConnectionSpec(name=name, driver=driver, host=parsed.host or "", port=parsed.port,  # type: ignore[arg-type]
                              database=parsed.database or "", user=parsed.username or "", password_env=password_env)
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise DataError(f"The database URL is not usable: {problem['loc'][0]}: {problem['msg']}.") from None


def _connection(source: str, args: argparse.Namespace, studio: Any) -> Any:
    if source.startswith("@"):
        return studio.connections.get(source[1:])
    env = args.password_env or ("STUDIO_DB_PASSWORD" if vault.getenv("STUDIO_DB_PASSWORD") is not None else None)
    return _spec_from_url(source, password_env=env).with_env_password()


def _tables(args: argparse.Namespace, studio: Any) -> int:
    from studio.data import sql

    spec = _connection(args.source, args, studio)
    engine = sql.open_engine(spec, sqlite_root=studio.settings.sqlite_path,
                             timeout_s=studio.settings.sql_timeout_seconds)
    try:
        tables = sql.browse(engine)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps([{"table": t.qualified, "kind": t.kind, "rows": t.rows,
                           "columns": [{"name": n, "type": k} for n, k in t.columns]} for t in tables]))
        return 0
    for t in tables:
        rows = "?" if t.rows is None else f"{t.rows:,}"
        print(f"{t.qualified:40} {t.kind:5} {rows:>12} rows  {', '.join(n for n, _ in t.columns)}")
    return 0


def _summary(record: Any) -> dict[str, Any]:
    return record.model_dump(exclude={"columns"}) | {"origin": record.origin.model_dump() if record.origin else None}


def _print_record(record: Any, as_json: bool, *, columns: bool = False) -> int:
    if as_json:
        print(json.dumps(_summary(record) | ({"columns": [c.model_dump() for c in record.columns]} if columns else {})))
        return 0
    print(f"{record.id}: {record.n_rows:,} rows x {record.n_cols} columns, hash {record.content_hash[:12]}")
    print(f"  source: {record.origin.describe() if record.origin else record.source}")
    if columns:
        for c in record.columns:
            print(f"  {c.name:30} {c.kind:12} {c.dtype:10} missing {c.n_missing:,}  distinct {c.n_distinct:,}")
    return 0
