"""Batch scoring: check a table's columns against a model, then score it in chunks with bounded memory.

A CSV is read `chunk_rows` rows at a time (pandas' chunked reader) and a Parquet file one row group batch at a
time (pyarrow), and each chunk's predictions are appended to the output (CSV or Parquet), so memory stays
proportional to the chunk, not the file. Output rows keep the input's order.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import BaseModel

from studio.data.schema import ColumnKind
from studio.errors import DataError
from studio.paths import confined
from studio.prepare import parse_dates
from studio.training.features import Feature, model_frame
from studio.training.model import TrainedModel

if TYPE_CHECKING:
    from studio.data.sources import Sources

CHUNK_ROWS = 50_000
CHECK_ROWS = 2_000  # rows of the input read to check the columns' types

UPLOAD_SUFFIXES = (".csv", ".parquet")


def upload_path(exports_root: Path, file_id: str, filename: str) -> Path:
    """Where a file uploaded for scoring is kept: a name generated from the upload's id, never the file's own
    name (a name such as `../../x.csv` is data, not a place to write)."""
    suffix = Path(filename).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise DataError(f"Upload a CSV or Parquet file to score, not {suffix or 'a file without a suffix'}.")
    name = f"{uuid.uuid5(uuid.NAMESPACE_OID, file_id).hex}{suffix}"
    return confined(exports_root, "scoring", "uploads", name)


class ScoreRequest(BaseModel):
    """A batch-scoring job: a model (version, alias or run) and a CSV/Parquet file, written to `out`."""

    model: str
    source: str
    out: str
    keep_columns: bool = False


class ScoreProgress(BaseModel):
    phase: str = "scoring"
    rows_done: int = 0
    rows_total: int | None = None


class ColumnReport(BaseModel):
    """How a table's columns match a model's inputs."""

    missing: list[str]
    extra: list[str]
    mistyped: dict[str, str]  # column -> what is wrong, with an example value

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mistyped

    def describe(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"Missing column(s) the model needs: {', '.join(self.missing)}")
        if self.mistyped:
            parts.append("Wrong type: " + "; ".join(f"'{c}' {why}" for c, why in self.mistyped.items()))
        if self.extra:
            parts.append(f"Extra column(s), ignored: {', '.join(self.extra)}")
        return ". ".join(parts) + "." if parts else "Every column the model needs is there, with the right type."


def check_columns(frame: pd.DataFrame, features: tuple[Feature, ...]) -> ColumnReport:
    """Compare `frame` (a sample of the input is enough) with the model's features."""
    names = {f.name for f in features}
    mistyped = {}
    for f in features:
        if f.name not in frame.columns:
            continue
        column = frame[f.name]
        if f.kind is ColumnKind.NUMERIC:
            bad = pd.to_numeric(column, errors="coerce").isna() & column.notna()
            expected = "numbers"
        elif f.kind is ColumnKind.DATETIME:
            bad = parse_dates(column).isna() & column.notna()
            expected = "dates"
        else:
            continue
        if bad.any():
            mistyped[f.name] = f"should hold {expected}, but holds {column[bad].iloc[0]!r} ({int(bad.sum())} such rows)"
    return ColumnReport(missing=[f.name for f in features if f.name not in frame.columns],
                        extra=[c for c in map(str, frame.columns) if c not in names], mistyped=mistyped)


def iter_chunks(path: Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The rows of a CSV or Parquet file, `chunk_rows` at a time."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        start = 0  # each chunk's index continues the file's row numbers, as pandas' CSV chunks do
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows):
            chunk = batch.to_pandas()
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            start += len(chunk)
            yield chunk
    elif suffix in (".csv", ".txt"):
        yield from pd.read_csv(path, chunksize=chunk_rows)
    else:
        raise DataError(f"'{path.name}' cannot be scored in chunks: use a CSV or Parquet file.")


def count_rows(path: Path) -> int:
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with path.open("rb") as fh:
        return max(sum(1 for _ in fh) - 1, 0)


def score_file(model: TrainedModel, source: Path, out: Path, *, chunk_rows: int = CHUNK_ROWS,
               keep_columns: bool = False, progress: Callable[[int, int], None] = lambda done, total: None,
               ) -> ColumnReport:
    """Score `source` into `out` (.csv or .parquet) chunk by chunk; raises DataError, before writing anything,
    when the columns do not fit the model."""
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise DataError(f"Write the predictions to a .csv or .parquet file, not '{out.name}'.")
    first = next(iter_chunks(source, CHECK_ROWS), None)
    if first is None or first.empty:
        raise DataError(f"'{source.name}' has no rows to score.")
    report = check_columns(first, model.info.features)
    if not report.ok:
        raise DataError(f"'{source.name}' does not fit model {model.uri or ''}: {report.describe()}")
    total, done = count_rows(source), 0
    partial = out.with_name(out.name + ".partial")  # a failed run never leaves a half file under the real name
    writer = None
    try:
        for chunk in iter_chunks(source, chunk_rows):
            scored = model.predict_frame(chunk)
            if keep_columns:
                scored = pd.concat([chunk, scored], axis=1)
            writer = _append(scored, partial, writer, first_chunk=done == 0)
            done += len(chunk)
            progress(done, total)
        if writer is not None:
            writer.close()
        partial.replace(out)
    except BaseException:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
        raise
    return report


def _append(frame: pd.DataFrame, path: Path, writer: Any, *, first_chunk: bool) -> Any:
    if path.name.endswith(".csv.partial"):
        frame.to_csv(path, mode="w" if first_chunk else "a", header=first_chunk, index=False)
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if writer is None:
        writer = pq.ParquetWriter(path, table.schema)
    writer.write_table(table)
    return writer


class ScoreResult(BaseModel):
    out: str
    model_uri: str
    rows: int | None
    columns: ColumnReport


def score_frame(model: TrainedModel, frame: pd.DataFrame) -> pd.DataFrame:
    """Score an in-memory table (a saved dataset, an upload), after the same column check."""
    report = check_columns(frame.head(CHECK_ROWS), model.info.features)
    if not report.ok:
        raise DataError(f"This table does not fit the model: {report.describe()}")
    model_frame(frame.head(1), model.info.features)  # raises with the row and column of a bad value
    return model.predict_frame(frame)


def write_back(sources: Sources, scored: Path, *, connection: str, table: str, mode: str, model_uri: str) -> int:
    """Write a scored file to `table` of the saved `connection`, each row with the model version and scoring time,
    in one transaction (the CLI's --to-table and the Models page both call this); returns the rows written."""
    from studio.data.writeback import write_predictions

    if not connection:
        raise DataError("Writing predictions to a table needs a saved connection (`studio data connect`).")
    if mode not in ("new", "append"):
        raise DataError(f"The write mode must be 'new' or 'append'. Got {mode!r} instead.")
    return write_predictions(sources.connections.get(connection), iter_chunks(scored), table,
                             mode="new" if mode == "new" else "append", model_uri=model_uri,
                             sqlite_root=sources.settings.sqlite_path, timeout_s=sources.settings.sql_timeout_seconds)


#: Larger inputs are scored by a background job; smaller ones at once, in the page or the command.
INLINE_ROWS = 100_000


class ScoringPlan(BaseModel):
    """How a file will be scored, decided before anything runs: its rows, how its columns match the model, where
    the predictions go, and whether a background job does it (more than INLINE_ROWS rows)."""

    model_config = {"arbitrary_types_allowed": True}

    rows: int
    report: ColumnReport
    out: Path
    background: bool


def plan_scoring(features: tuple[Feature, ...], source: Path, *, results: Path, stem: str,
                 out_format: str) -> ScoringPlan:
    """Read the head of `source` and count its rows; DataError if it has none. `results` is the folder the
    predictions are written to (under a fresh name, `<stem>-scored-<id>.<out_format>`)."""
    import uuid

    first = next(iter_chunks(source, 2_000), None)
    if first is None:
        raise DataError("The file has no rows to score.")
    rows = count_rows(source)
    out = confined(results, f"{stem}-scored-{uuid.uuid4().hex[:6]}.{out_format}")
    out.parent.mkdir(parents=True, exist_ok=True)
    return ScoringPlan(rows=rows, report=check_columns(first, features), out=out, background=rows > INLINE_ROWS)
