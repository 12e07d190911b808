"""Take a snapshot from a source: a file on disk, a SQL table or query, a Parquet or Delta table; refresh one.

Each path streams the source into a staged Parquet file (`ingest`), then the catalog moves it in as the
next version of a dataset, with the origin recorded so that "refresh" can read the same source again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pacsv

from studio.data import ingest, lake, sql
from studio.data.catalog import DatasetRecord
from studio.data.lake_access import LakeAccess
from studio.data.origin import Origin, RowFilter
from studio.data.readers import ENCODINGS, read_table, sniff_csv
from studio.errors import DataError

if TYPE_CHECKING:
    from sources.settings import Settings

    from studio.data.catalog import DatasetCatalog
    from studio.data.connections import ConnectionStore

@dataclass(frozen=True)
class Sources:
    """What reading a source needs: the catalog snapshots are saved in, the saved connections, and the settings
    that bound a read (row caps, timeouts, the data roots and named stores)."""

    catalog: DatasetCatalog
    connections: ConnectionStore
    settings: Settings


#: Files at least this big are read by the streaming CSV reader; smaller ones by pandas (more forgiving).
STREAM_CSV_BYTES = 32 * 2**20


def snapshot_file(sources: Sources, path: Path, name: str, *, source: str | None = None,
                  encoding: str = "utf-8") -> DatasetRecord:
    """A CSV, TSV, Parquet or Excel file as the next version of `name`; big CSVs stream to disk."""
    if not path.is_file():
        raise DataError(f"No file at '{path}'. Check the path.")
    source = source or f"file:{path.resolve()}"
    if path.suffix.lower() in (".csv", ".tsv", ".txt") and path.stat().st_size >= STREAM_CSV_BYTES:
        staged = ingest_csv(path, sources.catalog.staging_path(), encoding=encoding)
        return sources.catalog.save_file(staged, name, source=source)
    if path.suffix.lower() in (".parquet", ".pq"):
        staged = sources.catalog.staging_path()
        ingest.write_chunks(lake.read_chunks(Origin(kind="parquet", location=str(path)),
                                             max_rows=2**62), staged)
        return sources.catalog.save_file(staged, name, source=source)
    return sources.catalog.save(read_table(path, encoding=encoding), name, source=source)


def ingest_csv(path: Path, staged: Path, *, encoding: str = "utf-8") -> Path:
    """Stream a CSV into the Parquet file `staged`, one block at a time.

    Types are inferred from the first block; when a later block does not fit (text after numbers), that
    column is read as text and the file is streamed again from the start.
    """
    if encoding not in ENCODINGS:
        raise DataError(f"Unknown encoding '{encoding}'. Choose one of: {', '.join(ENCODINGS)}.")
    with path.open("rb") as handle:
        head = handle.read(65536)
    if b"\x00" in head and not encoding.startswith("utf-16"):
        raise DataError(f"'{path.name}' contains binary data, so it is not a CSV text file.")
    delimiter, header = sniff_csv(head.decode(encoding, errors="ignore").lstrip("\ufeff"))
    if len(header) < 2:
        raise DataError(f"'{path.name}' has fewer than two columns. A training table needs features and a target.")
    as_text: dict[str, pa.DataType] = {}
    while True:
        try:
            return ingest.write_chunks(_csv_pass(path, encoding, delimiter, as_text), staged)
        except pa.ArrowInvalid as exc:
            column = _failed_column(str(exc), header)
            if column is None or column in as_text:
                raise DataError(f"'{path.name}' is not a readable CSV: {str(exc).splitlines()[0]}") from None
            as_text[column] = pa.string()


def _csv_pass(path: Path, encoding: str, delimiter: str, as_text: dict[str, pa.DataType]) -> Iterator[pa.Table]:
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=8 * 2**20, encoding=encoding),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(column_types=as_text, strings_can_be_null=True),
    )
    for batch in reader:
        yield pa.Table.from_batches([batch])


def _failed_column(message: str, header: list[str]) -> str | None:
    match = re.search(r"column #(\d+)", message)
    if match and int(match.group(1)) < len(header):
        return header[int(match.group(1))]
    return None


def snapshot_sql(sources: Sources, spec: sql.ConnectionSpec, name: str, *, table: str | None = None,
                 query: str | None = None, limit: int | None = None, sample: bool = False) -> DatasetRecord:
    """A database table or read-only query, frozen as the next version of `name`."""
    settings = sources.settings
    engine = sql.open_engine(spec, sqlite_root=settings.sqlite_path, timeout_s=settings.sql_timeout_seconds)
    origin = Origin(kind="sql", location=spec.display(), connection=spec.name or None, table=table,
                    query=sql.check_select(query, spec.driver) if query is not None else None, limit=limit,
                    sample=sample, ran_at=time.time())
    try:
        staged = sources.catalog.staging_path()
        ingest.write_chunks(sql.read_chunks(engine, spec.driver, table=table, query=origin.query, limit=limit,
                                            sample=sample, max_rows=settings.sql_max_rows), staged)
    finally:
        engine.dispose()
    return sources.catalog.save_file(staged, name, source=f"sql:{origin.describe()}", origin=origin)


def snapshot_lake(sources: Sources, location: str, name: str, *, delta: bool | None = None,
                  version: int | None = None, columns: list[str] | None = None,
                  filters: list[RowFilter] | None = None, limit: int | None = None,
                  sample: bool = False) -> DatasetRecord:
    """A Parquet file/folder or a Delta table (optionally at `version`), with pruning and filters pushed down."""
    access = LakeAccess.from_settings(sources.settings)  # data roots and named stores only
    delta = lake.is_delta(location, access) if delta is None else delta
    if version is not None and not delta:
        raise DataError("A version (time travel) applies only to Delta tables.")
    origin = Origin(kind="delta" if delta else "parquet", location=location, columns=columns or None,
                    filters=filters or [], limit=limit, sample=sample, delta_version=version, ran_at=time.time())
    if delta and version is None:  # record the version read, so the snapshot says exactly what it holds
        origin = origin.model_copy(update={"delta_version": lake.delta_version(location, access)})
    staged = sources.catalog.staging_path()
    ingest.write_chunks(lake.read_chunks(origin, max_rows=sources.settings.sql_max_rows, access=access), staged)
    return sources.catalog.save_file(staged, name, source=f"{origin.kind}:{origin.describe()}", origin=origin)


def refresh(sources: Sources, dataset_id: str) -> DatasetRecord:
    """Read the snapshot's source again as a new version (the same version if nothing changed)."""
    record = sources.catalog.get(dataset_id)
    origin = record.origin
    if origin is None:
        raise DataError(f"'{dataset_id}' was uploaded, not read from a database or a lake table, so it cannot be "
                        "refreshed. Upload the new file under the same name to make a new version.")
    if origin.kind == "sql":
        if origin.connection is None:
            raise DataError(f"'{dataset_id}' was read through a one-off connection. Save the connection, then "
                            "read the table again under the same dataset name.")
        spec = sources.connections.get(origin.connection)
        return snapshot_sql(sources, spec, record.name, table=origin.table, query=origin.query, limit=origin.limit,
                            sample=origin.sample)
    # a Delta table refreshes to its latest version; an explicit old version stays pinned only if asked again
    return snapshot_lake(sources, origin.location, record.name, delta=origin.kind == "delta", version=None,
                         columns=origin.columns, filters=origin.filters, limit=origin.limit, sample=origin.sample)
