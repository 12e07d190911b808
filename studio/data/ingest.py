"""Stream tables into one Parquet file on disk in bounded memory, and describe a Parquet file column by column.

Every way data comes in (an upload, a file path, a SQL query, a Parquet or Delta table) ends here: chunks
are appended to a `ParquetSink`, which writes them as part files as they arrive and, at the end, merges
them into a single file batch by batch. No step holds the whole table in memory more than once, and most
hold one chunk. We write this ourselves because pandas' own readers (read_csv, read_sql) build the whole
frame first, and pyarrow's writers need one schema up front while chunks of a real table disagree on
types (a column all-null in one chunk, integers in one and floats in the next).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from studio.data.limits import CHUNK_ROWS
from studio.data.schema import ColumnInfo, infer_kind
from studio.errors import DataError

#: Rows of a column read to infer its kind (numeric, categorical, text, ...) on big tables.
KIND_SAMPLE_ROWS = 100_000


def normalize(frame: pd.DataFrame) -> pd.DataFrame:
    """String column names, and mixed-type object columns as text, so Parquet can store the table."""
    out = frame.copy()
    out.columns = [str(c).strip() for c in out.columns]
    for name in out.columns:
        col = out[name]
        if col.dtype == object:
            kinds = {type(v) for v in col.dropna().head(10_000)}
            if len(kinds) > 1 or (kinds and kinds != {str}):
                out[name] = col.map(lambda v: v if pd.isna(v) else str(v)).astype("str")
    return out.reset_index(drop=True)


class ParquetSink:
    """Append chunks of one table, then `finish` into a single Parquet file.

    Consecutive chunks of the same schema go to one part file as they arrive; a chunk whose types differ
    starts a new part. When there is one part (the usual case) `finish` just moves it into place; else it
    unifies the parts' schemas (a null column takes the other parts' type, integers widen to floats, a
    column typed differently in different parts becomes text) and streams them into the destination.
    """

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="studio-ingest-"))
        self._parts: list[Path] = []
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, chunk: pd.DataFrame | pa.Table) -> None:
        table = chunk if isinstance(chunk, pa.Table) else _to_arrow(normalize(chunk))
        if self._parts and table.num_rows == 0:
            return
        if self._writer is None or not table.schema.equals(self._writer.schema):
            self._close()
            part = self._dir / f"part-{len(self._parts):05d}.parquet"
            self._writer = pq.ParquetWriter(part, table.schema)
            self._parts.append(part)
        self._writer.write_table(table)
        self.rows += table.num_rows

    def finish(self, path: Path) -> Path:
        """Merge the parts into `path` (written atomically) and remove them."""
        try:
            self._close()
            if not self._parts:
                raise DataError("The source returned no columns. Check the table or query.")
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            if len(self._parts) == 1:
                shutil.move(self._parts[0], tmp)
            else:
                schema = _unified([pq.read_schema(p) for p in self._parts])
                with pq.ParquetWriter(tmp, schema) as writer:
                    for part in self._parts:
                        for batch in pq.ParquetFile(part).iter_batches(batch_size=CHUNK_ROWS):
                            writer.write_table(_cast(pa.Table.from_batches([batch]), schema))
            tmp.replace(path)
            return path
        finally:
            self.discard()

    def discard(self) -> None:
        self._close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def write_chunks(chunks: Iterable[pd.DataFrame | pa.Table], path: Path) -> Path:
    """Stream `chunks` into one Parquet file at `path`."""
    sink = ParquetSink()
    try:
        for chunk in chunks:
            sink.write(chunk)
    except BaseException:
        sink.discard()
        raise
    return sink.finish(path)


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise DataError(f"The table cannot be stored as Parquet: {exc}. Check mixed-type columns.") from None


def _unified(schemas: list[pa.Schema]) -> pa.Schema:
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    fields = []  # a column whose parts cannot be promoted to one type (text here, numbers there) becomes text
    for field in schemas[0]:
        types = [s.field(field.name).type for s in schemas]
        try:
            merged = pa.unify_schemas([pa.schema([pa.field(field.name, t)]) for t in types],
                                      promote_options="permissive").field(0)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            merged = pa.field(field.name, pa.large_string())
        fields.append(merged)
    return pa.schema(fields)


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    columns = []
    for field in schema:
        column = table.column(field.name)
        if column.type != field.type:
            column = column.cast(field.type)  # numbers cast to text where parts disagreed (see _unified)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def batches(path: Path, *, columns: list[str] | None = None, batch_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The Parquet file at `path` as pandas frames of at most `batch_rows` rows, read one column chunk at a time
    (no pre-buffering of whole row groups, no read-ahead threads: measured here, that halves the peak memory
    a pass over a big file adds, for a few percent of time)."""
    reader = pq.ParquetFile(path, pre_buffer=False, buffer_size=2**20)
    for batch in reader.iter_batches(batch_size=batch_rows, columns=columns, use_threads=False):
        yield batch.to_pandas()


def file_hash(path: Path) -> str:
    """A hash of the file's values, column names and dtypes, computed batch by batch (not the file's bytes,
    which depend on the Parquet writer)."""
    digest = hashlib.sha256()
    dtypes = pq.read_schema(path).empty_table().to_pandas().dtypes
    digest.update(json.dumps([[str(c), str(t)] for c, t in dtypes.items()]).encode())
    for frame in batches(path):
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def describe_file(path: Path, *, group_bytes: int = 256 * 2**20) -> tuple[int, list[ColumnInfo]]:
    """Row count and, per column, kind, dtype, missing and distinct counts.

    The file is opened once and read in groups of columns of about `group_bytes` (uncompressed, from the
    footer): memory stays bounded on a tall table, and a wide one costs one read per group, not one file open
    (and footer parse, itself as long as the column list) per column.
    """
    meta = pq.ParquetFile(path, pre_buffer=False)
    n_rows = meta.metadata.num_rows
    dtypes = meta.schema_arrow.empty_table().to_pandas().dtypes
    sample_rows = None if n_rows <= KIND_SAMPLE_ROWS else \
        pa.array(np.sort(np.random.default_rng(0).choice(n_rows, KIND_SAMPLE_ROWS, replace=False)))
    infos = []
    for group in _column_groups(meta, group_bytes):
        table = meta.read(columns=group, use_threads=False)
        for name, column in zip(group, table.columns, strict=True):
            infos.append(_describe_column(str(name), column, str(dtypes[name]), sample_rows))
        del table
    return n_rows, infos


def _column_groups(meta: pq.ParquetFile, group_bytes: int) -> list[list[str]]:
    names = meta.schema_arrow.names
    sizes = [0] * len(names)
    leaf_of = {meta.metadata.schema.column(i).path.split(".")[0]: i for i in range(meta.metadata.num_columns)}
    for g in range(meta.metadata.num_row_groups):
        group = meta.metadata.row_group(g)
        for i, name in enumerate(names):
            j = leaf_of.get(name)
            if j is not None:
                sizes[i] += group.column(j).total_uncompressed_size
    groups: list[list[str]] = [[]]
    used = 0
    for name, size in zip(names, sizes, strict=True):
        if groups[-1] and used + size > group_bytes:
            groups.append([])
            used = 0
        groups[-1].append(name)
        used += size
    return [g for g in groups if g]


def _describe_column(name: str, column: pa.ChunkedArray, dtype: str, sample_rows: pa.Array | None) -> ColumnInfo:
    missing = column.null_count
    if pa.types.is_floating(column.type):
        missing += int(pc.sum(pc.is_nan(column)).as_py() or 0)
    distinct = pc.count_distinct(column, mode="only_valid").as_py()
    if pa.types.is_floating(column.type) and pc.any(pc.is_nan(column)).as_py():
        distinct -= 1  # NaN counts as a value to Arrow, as missing to pandas and to us
    sample = column.slice(0, KIND_SAMPLE_ROWS) if sample_rows is None else column.take(sample_rows)
    return ColumnInfo(name=name, kind=infer_kind(sample.to_pandas()), dtype=dtype, n_missing=int(missing),
                      n_distinct=int(distinct))


def sample_file(path: Path, n: int, *, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of `n` rows of the file, in file order, read batch by batch (all rows if fewer)."""
    total = pq.ParquetFile(path).metadata.num_rows
    if total <= n:
        return pd.read_parquet(path)
    keep = np.zeros(total, dtype=bool)
    keep[np.random.default_rng(seed).choice(total, n, replace=False)] = True
    parts, start = [], 0
    for frame in batches(path):
        mask = keep[start:start + len(frame)]
        parts.append(frame.loc[mask])
        start += len(frame)
    return pd.concat(parts, ignore_index=True)
