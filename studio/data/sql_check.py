"""The SELECT-only check for queries a person writes: one read-only statement, no side effects hidden in it.

sqlglot parses the query in the server's dialect; writes, locks, several statements, MySQL executable comments
and calls of functions that act beyond reading tables are refused with the reason. It is a second line: sessions
are also read-only with a statement timeout, and the real guarantee is a database account that may only read.
"""

from __future__ import annotations

from typing import Any

from studio.errors import DataError


def check_select(sql: str, driver: str) -> str:
    """The statement if it is one read-only query; else DataError saying why it was refused."""
    import sqlglot
    from sqlglot import exp

    from studio.data.sql import DRIVERS  # the dialect of each server type

    text = sql.strip().rstrip(";").strip()
    if not text:
        raise DataError("The query is empty. Write one SELECT statement.")
    if "/*!" in text or "/*M!" in text:  # MySQL/MariaDB run the text inside these "comments"
        raise DataError("Refused: the query holds a MySQL executable comment (/*! ... */), whose text the server "
                        "runs. Remove it and write a plain SELECT.")
    try:
        statements = [s for s in sqlglot.parse(text, read=DRIVERS[driver].sqlglot) if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise DataError(f"The query could not be read as SQL: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise DataError(f"Refused: the text holds {len(statements)} statements. Run one SELECT at a time.")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        kind = statement.key.upper()
        raise DataError(f"Refused: only SELECT queries can be read here, and this is a {kind} statement. "
                        "The studio never changes a database it reads from.")
    writes = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Merge, exp.Command,
              exp.TruncateTable, exp.Into, exp.Lock)
    found = next(iter(statement.find_all(*writes)), None)
    if found is not None:
        what = "SELECT ... INTO" if isinstance(found, exp.Into) else \
            "SELECT ... FOR UPDATE / SHARE (row locks)" if isinstance(found, exp.Lock) else found.key.upper()
        raise DataError(f"Refused: the query contains {what}, which writes or locks. Use a plain SELECT.")
    called = next((name for name in _functions(statement) if name in SIDE_EFFECT_FUNCTIONS), None)
    if called is not None:
        raise DataError(f"Refused: the query calls {called}(), which reads files, runs other statements or acts on "
                        "the server. Only plain reads of tables are allowed here.")
    return text


#: Functions a SELECT may call that read server files, run SQL of their own, reach other servers, or act on the
#: server. This list is a second line only: the real guarantee is a database account that may read its tables
#: and nothing else (see the README's Security section).
SIDE_EFFECT_FUNCTIONS = frozenset({
    # PostgreSQL
    "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_ls_logdir", "pg_ls_waldir",
    "pg_ls_tmpdir", "pg_ls_archive_statusdir", "lo_import", "lo_export", "lo_get", "lo_put", "lo_open", "lo_create",
    "lo_unlink", "lo_from_bytea", "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf",
    "pg_rotate_logfile", "pg_promote", "pg_switch_wal", "pg_create_restore_point", "pg_logical_emit_message",
    "pg_file_write", "pg_file_unlink", "pg_file_rename", "set_config", "pg_sleep", "pg_sleep_for",
    "pg_sleep_until", "pg_advisory_lock", "pg_advisory_xact_lock", "pg_try_advisory_lock", "dblink", "dblink_exec",
    "dblink_connect", "dblink_open", "dblink_send_query", "query_to_xml", "query_to_xml_and_xmlschema",
    "query_to_xmlschema", "cursor_to_xml", "table_to_xml", "schema_to_xml", "database_to_xml", "nextval", "setval",
    "pg_notify", "pg_export_snapshot",
    # MySQL / MariaDB
    "load_file", "sleep", "benchmark", "get_lock", "release_lock", "sys_exec", "sys_eval", "master_pos_wait",
    "source_pos_wait",
    # SQL Server
    "xp_cmdshell", "openrowset", "opendatasource", "openquery", "xp_dirtree", "xp_fileexist",
    # SQLite
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
})


def _functions(statement: Any) -> list[str]:
    """The lower-case names of every function the statement calls."""
    from sqlglot import exp

    names = []
    for node in statement.walk():
        if isinstance(node, exp.Anonymous):
            names.append(node.name.lower())
        elif isinstance(node, exp.Func):
            names.append(node.sql_name().lower())
    return names
