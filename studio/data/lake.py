"""Read Parquet and Delta Lake tables by path: local folders or object-store URLs (through fsspec).

Column pruning and row filters are pushed down to pyarrow's dataset scanner, so only the needed columns of
the row groups that can match are read; the result streams out in chunks. Delta tables are opened with
deltalake, at their latest version or an older one (time travel).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from studio.data.lake_access import LakeAccess, Resolved
from studio.data.limits import CHUNK_ROWS
from studio.data.origin import Origin, RowFilter
from studio.errors import DataError, MissingDependency


def is_delta(location: str, access: LakeAccess | None = None) -> bool:
    """A local folder holding a `_delta_log` is a Delta table (object-store URLs say so with --format)."""
    resolved = _resolve(location, access)
    if resolved.is_url:
        return False
    path = Path(resolved.location).expanduser()
    return path.is_dir() and (path / "_delta_log").is_dir()


def _resolve(location: str, access: LakeAccess | None) -> Resolved:
    """Through the studio's data roots and named stores when `access` is given (anything a person typed);
    as it is for the studio's own callers (a file the CLI was given, a staged upload)."""
    return access.resolve(location) if access is not None else Resolved(location)


def open_dataset(origin: Origin, access: LakeAccess | None = None) -> ds.Dataset:
    resolved = _resolve(origin.location, access)
    if origin.kind == "delta":
        return _delta(origin, resolved)
    location = resolved.location
    filesystem = None
    if resolved.is_url and not location.startswith("file://"):
        filesystem, location = _fsspec(location, resolved.storage_options)
    else:
        path = Path(location.removeprefix("file://")).expanduser()
        if not path.exists():
            raise DataError(f"No Parquet file or folder at '{location}'. Check the path.")
        location = str(path)
    try:
        return ds.dataset(location, format="parquet", filesystem=filesystem, partitioning="hive")
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"'{origin.location}' is not a readable Parquet file or folder: {_first(exc)}") from None


def _delta(origin: Origin, resolved: Resolved) -> ds.Dataset:
    try:
        from deltalake import DeltaTable
        from deltalake.exceptions import DeltaError, TableNotFoundError
    except ImportError:
        raise MissingDependency("Reading Delta tables needs the deltalake package: pip install deltalake") from None
    try:
        table = DeltaTable(resolved.location, version=origin.delta_version,
                           storage_options=resolved.storage_options or None)
    except TableNotFoundError:
        raise DataError(f"No Delta table at '{origin.location}' (no _delta_log folder). Check the path.") from None
    except (DeltaError, OSError, ValueError) as exc:
        hint = " (that version may not exist or may have been vacuumed)" if origin.delta_version is not None else ""
        raise DataError(f"Could not open the Delta table at '{origin.location}'{hint}: {_first(exc)}") from None
    return table.to_pyarrow_dataset()


def delta_version(location: str, access: LakeAccess | None = None) -> int:
    from deltalake import DeltaTable

    resolved = _resolve(location, access)
    return int(DeltaTable(resolved.location, storage_options=resolved.storage_options or None).version())


def _fsspec(url: str, options: dict[str, str]) -> tuple[pa.fs.FileSystem, str]:
    import fsspec
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
    except (ImportError, ValueError) as exc:
        raise DataError(f"Cannot open the object store: {_first(exc)}. Object stores need their fsspec package "
                        "(s3fs, gcsfs or adlfs) installed.") from None
    return PyFileSystem(FSSpecHandler(fs)), path


def columns_of(origin: Origin, access: LakeAccess | None = None) -> list[tuple[str, str]]:
    """The table's columns and types (for choosing which to read)."""
    return [(f.name, str(f.type)) for f in open_dataset(origin, access).schema]


def count_rows(origin: Origin, access: LakeAccess | None = None) -> int:
    dataset = open_dataset(origin, access)
    return int(dataset.count_rows(filter=_expression(origin.filters, dataset.schema)))


def read_chunks(origin: Origin, *, max_rows: int, chunk_rows: int = CHUNK_ROWS,
                access: LakeAccess | None = None) -> Iterator[pa.Table]:
    """Stream the chosen columns of the matching rows: the first `limit`, a random sample of `limit`, or all
    (up to `max_rows`)."""
    dataset = open_dataset(origin, access)
    columns = _columns(origin.columns, dataset.schema)
    expression = _expression(origin.filters, dataset.schema)
    scanner = dataset.scanner(columns=columns, filter=expression, batch_size=chunk_rows)
    keep = None
    if origin.sample:
        if not origin.limit:
            raise DataError("A random sample needs a row count: set the row limit to the sample size.")
        total = dataset.count_rows(filter=expression)
        if total > origin.limit:
            keep = np.zeros(total, dtype=bool)
            keep[np.random.default_rng(0).choice(total, origin.limit, replace=False)] = True
    wanted = origin.limit if origin.limit and keep is None else None
    seen = taken = 0
    try:
        for batch in scanner.to_batches():
            if batch.num_rows == 0:
                continue
            table = pa.Table.from_batches([batch])
            if keep is not None:
                table = table.filter(pa.array(keep[seen:seen + batch.num_rows]))
            seen += batch.num_rows
            if wanted is not None:
                table = table.slice(0, wanted - taken)
            taken += table.num_rows
            if taken > max_rows:
                raise DataError(f"The table has more than {max_rows:,} matching rows, the cap for one read. Set a "
                                "row limit or a sample, add a filter, or raise STUDIO_SQL_MAX_ROWS.")
            yield table
            if wanted is not None and taken >= wanted:
                return
    except pa.ArrowException as exc:
        raise DataError(f"Reading '{origin.location}' failed: {_first(exc)}") from None
    if taken == 0:
        yield scanner.projected_schema.empty_table()


def _columns(wanted: list[str] | None, schema: pa.Schema) -> list[str] | None:
    if not wanted:
        return None
    missing = [c for c in wanted if c not in schema.names]
    if missing:
        raise DataError(f"No column {', '.join(repr(c) for c in missing)} in the table. Columns: "
                        f"{', '.join(schema.names)}.")
    return wanted


def _expression(filters: list[RowFilter], schema: pa.Schema) -> ds.Expression | None:
    if not filters:
        return None
    _columns([f.column for f in filters], schema)
    try:
        return pq.filters_to_expression([_typed(f, schema) for f in filters])
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise DataError(f"A row filter is not valid: {_first(exc)}") from None


def _typed(rule: RowFilter, schema: pa.Schema) -> tuple[str, str, object]:
    """The filter with its value(s) cast to the column's type (a number typed as text in the UI)."""
    column, op, value = rule.as_tuple()
    kind = schema.field(column).type

    def cast(v: object) -> object:
        try:
            return pa.scalar(v).cast(kind).as_py() if not isinstance(v, str) or not pa.types.is_string(kind) else v
        except (pa.ArrowException, ValueError):
            raise DataError(f"Filter on '{column}': {v!r} is not a {kind} value.") from None

    if op in ("in", "not in"):
        values = value if isinstance(value, list) else [value]
        return column, op, [cast(v) for v in values]
    return column, op, cast(value)


def _first(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
