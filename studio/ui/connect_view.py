"""Data page tabs that read data where it lives: a SQL database (Connect) and Parquet/Delta tables (Lake)."""

from __future__ import annotations

from typing import Any, cast

import pandas as pd
import streamlit as st
from pydantic import SecretStr, ValidationError

from studio.auth import Role
from studio.context import Studio
from studio.data import lake, sources, sql
from studio.data.catalog import DatasetRecord
from studio.data.lake_access import LakeAccess
from studio.data.origin import FILTER_OPS, Origin, RowFilter
from studio.errors import DataError, StudioError
from studio.markup import text
from studio.paths import slug
from studio.ui.auth import allowed, audit_here, can, mark_created, needs
from studio.ui.common import show_error

NEW = "New connection…"


def connect_tab(studio: Studio) -> None:
    saved = {c.name: c for c in studio.connections.list()}
    left, right = st.columns([2, 3])
    with left:
        choice = st.selectbox("Connection", [NEW, *saved], key="conn-choice",
                              help="A saved connection keeps its fields; its password is encrypted or read from "
                                   "an environment variable, never stored in plain text.")
        connected = _connection_form(studio, saved.get(choice))
    with right:
        if connected is None:
            st.info("Fill in the connection on the left and press **Connect** to browse its tables.")
            return
        _browse_and_snapshot(studio, *connected, key=choice)


Connected = tuple[sql.ConnectionSpec, list[sql.TableInfo]]


def _connection_form(studio: Studio, saved: sql.ConnectionSpec | None) -> Connected | None:
    """The connection fields; returns the connection and its tables once 'Connect' succeeded (kept for this
    browser session, so the password typed is not asked again on every rerun)."""
    drivers = list(sql.DRIVERS)
    key = saved.name if saved else "new"
    with st.form(f"conn-form-{key}"):
        driver = st.selectbox("Server type", drivers, index=drivers.index(saved.driver) if saved else 0,
                              format_func=lambda d: sql.DRIVERS[d].label)
        host = st.text_input("Host", value=saved.host if saved else "localhost",
                             help="Only the host name or IP: the URL is built from these fields. Not used by SQLite.")
        port = st.number_input("Port (0 = the database's default)", min_value=0, max_value=65535,
                               value=int(saved.port or 0) if saved else 0)
        database = st.text_input("Database", value=saved.database if saved else "",
                                 help=f"The database name. For SQLite, a file in {studio.settings.sqlite_path} "
                                      "(STUDIO_SQLITE_DIR); files elsewhere are refused.")
        user = st.text_input("User", value=saved.user if saved else "")
        stored = saved is not None and studio.connections.has_stored_password(saved.name)
        password = st.text_input("Password", type="password",
                                 placeholder="saved, encrypted: leave empty to use it" if stored else "",
                                 help="Leave empty to use the saved encrypted password or the environment variable.")
        password_env = st.text_input("…or read the password from this environment variable",
                                     value=(saved.password_env or "") if saved else "",
                                     help="Set where the studio runs (a Kubernetes/Docker secret, say); nothing is "
                                          "stored then.")
        name = st.text_input("Save as", value=saved.name if saved else "",
                             help="A name to save this connection under (optional).")
        remember = st.checkbox("Remember the password (encrypted with STUDIO_SECRET_KEY)", value=False)
        connect = st.form_submit_button("Connect", type="primary", icon=":material/link:",
                                        disabled=not can(Role.ANALYST), help=needs(Role.ANALYST))
    state_key = f"conn-ok-{key}"
    if connect and allowed(Role.ANALYST):
        try:
            spec = sql.ConnectionSpec(name=name, driver=cast(sql.DriverName, driver),
                                      host=host if driver != "sqlite" else "", port=int(port) or None,
                                      database=database, user=user,
                                      password=SecretStr(password) if password else None,
                                      password_env=password_env or None)
        except ValidationError as exc:
            problem = exc.errors()[0]
            st.error(f"{problem['loc'][0] if problem['loc'] else 'connection'}: {problem['msg']}")
            return None
        try:
            spec = studio.connections.with_password(spec, saved)
            tables = _browse(studio, spec)
            if name and not can(Role.ADMIN):
                st.warning(f"Connected, not saved: {needs(Role.ADMIN)}")
            elif name:
                studio.connections.save(spec, remember_password=remember)
                audit_here("save connection", f"connection:{name}",
                           {"driver": driver, "host": spec.host, "database": spec.database, "user": spec.user})
        except StudioError as exc:
            show_error(exc)
            st.session_state.pop(state_key, None)
            return None
        st.session_state[state_key] = (spec, tables)
    found: Connected | None = st.session_state.get(state_key)
    return found


def _browse(studio: Studio, spec: sql.ConnectionSpec) -> list[sql.TableInfo]:
    engine = sql.open_engine(spec, sqlite_root=studio.settings.sqlite_path,
                             timeout_s=studio.settings.sql_timeout_seconds)
    try:
        with st.spinner(f"Listing the tables of {spec.display()}…"):
            return sql.browse(engine)
    finally:
        engine.dispose()


def _browse_and_snapshot(studio: Studio, spec: sql.ConnectionSpec, tables: list[sql.TableInfo], *, key: str) -> None:
    st.success(f"Connected to `{spec.display()}` (read-only, {studio.settings.sql_timeout_seconds:g} s "
               "statement timeout).")
    if tables:
        st.dataframe(pd.DataFrame([{"table": t.qualified, "kind": t.kind, "rows": t.rows,
                                    "columns": ", ".join(f"{n} ({k.lower()})" for n, k in t.columns)} for t in tables]),
                     width="stretch", hide_index=True, height=min(38 + 35 * len(tables), 280))
        if len(tables) >= sql.MAX_BROWSED_TABLES:
            st.caption(f"Showing the first {sql.MAX_BROWSED_TABLES} tables; write a query for the others.")
    else:
        st.info("This database has no tables or views this user can see. Write a query instead.")
    mode = st.radio("Read", ["A table", "A query"], horizontal=True, key=f"sql-mode-{key}")
    table = query = None
    if mode == "A table" and tables:
        table = st.selectbox("Table", [t.qualified for t in tables], key=f"sql-table-{key}")
    else:
        query = st.text_area("SELECT query", key=f"sql-query-{key}",
                             placeholder="SELECT * FROM sales WHERE year >= 2024",
                             help="One read-only SELECT (WITH and UNION allowed). Anything that writes or locks is "
                                  "refused, and the connection itself is read-only.")
    limit, sample, name = _read_options(f"sql-{key}", default_name=(table or "query").split(".")[-1])
    if st.button("Take snapshot", type="primary", key=f"sql-go-{key}", icon=":material/photo_camera:",
                 disabled=not (table or (query or "").strip()) or not can(Role.ANALYST),
                 help=needs(Role.ANALYST)) and allowed(Role.ANALYST):
        with st.spinner("Reading from the database and saving the snapshot…"):
            try:
                record = sources.snapshot_sql(studio.sources,
                                              spec, name, table=table, query=query, limit=limit, sample=sample)
            except StudioError as exc:
                show_error(exc)
                return
        saved_message(record)


def _read_options(key: str, *, default_name: str) -> tuple[int | None, bool, str]:
    a, b, c = st.columns([3, 3, 4], vertical_alignment="bottom")
    limit = a.number_input("Row limit (0 = all)", min_value=0, value=0, step=1000, key=f"{key}-limit",
                           help="Pushed down to the source, so only these rows travel. Without a limit a read stops "
                                "at the row cap (STUDIO_SQL_MAX_ROWS).")
    sample = b.checkbox("Random sample", key=f"{key}-sample", help="A random sample of 'row limit' rows instead of "
                                                                     "the first ones.")
    name = c.text_input("Dataset name", value=default_name, key=f"{key}-name",
                        help="Saving the same name again makes a new version.")
    return int(limit) or None, sample, name


def saved_message(record: DatasetRecord) -> None:
    mark_created("dataset", record.id)
    st.success(f"Saved **{record.id}** ({record.n_rows:,} rows x {record.n_cols} columns, hash "
               f"{record.content_hash[:12]}).")
    if record.origin is not None:
        st.caption(f"Source: {text(record.origin.describe())}")
    st.page_link("app_pages/train.py", label="Train a model on it", icon=":material/arrow_forward:")


def lake_tab(studio: Studio) -> None:
    roots = ", ".join(f"`{r}`" for r in studio.settings.data_paths)
    with st.form("lake-open"):
        left, mid, right = st.columns([3, 1, 1], vertical_alignment="bottom")
        location = left.text_input("Path", key="lake-path", placeholder="sales/ or store://warehouse/sales",
                                   help=f"A Parquet file, a folder of Parquet files (hive partitions understood), or "
                                        f"a Delta table, under a data folder ({roots}); or store://NAME/path for an "
                                        "object store an admin configured in stores.toml. Nothing else is read.")
        version = mid.number_input("Delta version (-1 = latest)", min_value=-1, value=-1, key="lake-version",
                                   help="Time travel: read the table as it was at this version.")
        opened = right.form_submit_button("Open", icon=":material/folder_open:", disabled=not can(Role.ANALYST),
                                          help=needs(Role.ANALYST))
    st.caption(f"Data folders: {roots}. Object stores: store://NAME/path.")
    if opened and allowed(Role.ANALYST):  # nothing is read until the button is pressed
        st.session_state.pop("lake-opened", None)
        try:
            access = LakeAccess.from_settings(studio.settings)
            delta = lake.is_delta(location, access) or location.rstrip("/").endswith(".delta")
            origin = Origin(kind="delta" if delta else "parquet", location=location.strip(),
                            delta_version=None if version < 0 else int(version))
            st.session_state["lake-opened"] = (origin, lake.columns_of(origin, access))
        except StudioError as exc:
            show_error(exc)
            return
    if "lake-opened" not in st.session_state:
        st.info("Enter the path of a Parquet file or folder, or of a Delta table, and press Open.")
        return
    origin, columns = st.session_state["lake-opened"]
    delta = origin.kind == "delta"
    st.markdown(f"**{text(origin.location)}** · {'Delta table' if delta else 'Parquet'}")
    st.caption(f"{len(columns)} columns: " + text(", ".join(f"{n} ({t})" for n, t in columns)))
    chosen = st.multiselect("Columns to read (none = all)", [n for n, _ in columns], key="lake-columns",
                            help="Only these columns are read from disk.")
    st.markdown("**Row filters** (all must hold; pushed down to the files)")
    edited = st.data_editor(pd.DataFrame({"column": pd.Series(dtype=str), "op": pd.Series(dtype=str),
                                          "value": pd.Series(dtype=str)}),
                            num_rows="dynamic", key="lake-filters", width="stretch", column_config={
                                "column": st.column_config.SelectboxColumn(options=[n for n, _ in columns]),
                                "op": st.column_config.SelectboxColumn(options=list(FILTER_OPS)),
                                "value": st.column_config.TextColumn(help="For 'in': comma-separated values")})
    try:
        filters = _filters(edited)
    except DataError as exc:
        show_error(exc)
        return
    default = slug(origin.location.rstrip("/").split("/")[-1].removesuffix(".parquet"), default="table")
    limit, sample, name = _read_options("lake", default_name=default)
    if st.button("Take snapshot", type="primary", key="lake-go", icon=":material/photo_camera:",
                 disabled=not can(Role.ANALYST), help=needs(Role.ANALYST)) and allowed(Role.ANALYST):
        with st.spinner("Reading the table and saving the snapshot…"):
            try:
                record = sources.snapshot_lake(studio.sources, origin.location, name, delta=delta,
                                               version=origin.delta_version, columns=chosen or None, filters=filters,
                                               limit=limit, sample=sample)
            except StudioError as exc:
                show_error(exc)
                return
        saved_message(record)


def _filters(edited: pd.DataFrame) -> list[RowFilter]:
    rules = []
    for row in edited.to_dict("records"):
        if not row.get("column") or not row.get("op"):
            continue
        value: Any = str(row.get("value") or "")
        if row["op"] in ("in", "not in"):
            value = [v.strip() for v in value.split(",") if v.strip()]
        try:
            rules.append(RowFilter(column=row["column"], op=row["op"], value=value))
        except ValidationError as exc:
            raise DataError(f"Filter on '{row['column']}': {exc.errors()[0]['msg']}") from None
    return rules
