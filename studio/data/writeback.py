"""Write batch predictions to a table of a connected database: a new table or appended, in one transaction.

Each row carries the model's name and version and the scoring time. The scored file is streamed in
chunks, all inside a single transaction: a failure (a column the existing table lacks, a lost
connection, a timeout) rolls back everything, so the table never holds half a batch.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import pandas as pd
import sqlalchemy as sa

from studio.data import sql
from studio.errors import DataError

WriteMode = Literal["new", "append"]
_MODEL = re.compile(r"^models:/([^/@]+)/(\d+)$")
_TABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$")
INSERT_ROWS = 10_000


def write_predictions(spec: sql.ConnectionSpec, chunks: Iterable[pd.DataFrame], table: str, *, mode: WriteMode,
                      model_uri: str, sqlite_root: Path, timeout_s: float) -> int:
    """Insert every chunk of scored rows into `table`; returns the row count. `model_uri` is the resolved
    `models:/name/version` of the model that scored them."""
    if not _TABLE.match(table):
        raise DataError(f"'{table}' is not a table name for predictions. Use letters, digits and '_' "
                        "(optionally schema.table), starting with a letter.")
    match = _MODEL.match(model_uri)
    if match is None:
        raise DataError(f"'{model_uri}' is not a resolved model version (models:/name/version).")
    name, version = match.group(1), int(match.group(2))
    schema, _, bare = table.rpartition(".")
    scored_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    engine = sql.open_engine(spec, sqlite_root=sqlite_root, timeout_s=timeout_s, read_only=False)
    rows = 0
    try:
        with sql.guarded(engine, f"write the predictions to {table}"), engine.begin() as conn:
            exists = sa.inspect(conn).has_table(bare, schema=schema or None)
            if mode == "new" and exists:
                raise DataError(f"The table '{table}' already exists. Choose 'append', or another table name.")
            if mode == "append" and not exists:
                raise DataError(f"There is no table '{table}' to append to. Choose 'new table'.")
            for chunk in chunks:
                frame = pd.DataFrame(chunk).reset_index(drop=True)
                frame["model_name"], frame["model_version"], frame["scored_at"] = name, version, scored_at
                try:
                    frame.to_sql(bare, conn, schema=schema or None, if_exists="append", index=False,
                                 chunksize=INSERT_ROWS)
                except pd.errors.DatabaseError as exc:  # pandas wraps the driver's error
                    raise exc.__cause__ if isinstance(exc.__cause__, sa.exc.SQLAlchemyError) else \
                        DataError(f"Writing the predictions to {table} failed: {exc}") from None
                rows += len(frame)
    finally:
        engine.dispose()
    return rows
