"""Read an uploaded or local file (CSV, Parquet, Excel) into a DataFrame, refusing what is not a usable table."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd

from studio.data.limits import ReadLimits
from studio.errors import DataError

SUPPORTED_SUFFIXES = (".csv", ".txt", ".tsv", ".parquet", ".pq", ".xlsx")
ENCODINGS = ("utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16")


def read_table(
    data: bytes | Path, filename: str | None = None, *, encoding: str = "utf-8", max_bytes: int | None = None,
    min_columns: int = 2, limits: ReadLimits | None = None,
) -> pd.DataFrame:
    """Parse `data` (raw bytes or a path) as a table, judging the format by the file name's suffix.

    Raises DataError naming the problem: unsupported type, over the size limit, empty, binary or
    undecodable text, fewer than `min_columns` columns (a training table needs a feature and a target;
    rows to score may have one), duplicate or blank column names, more rows, cells or decoded bytes than
    `limits` allow (checked while reading: see studio.data.limits).
    """
    limits = limits or ReadLimits()
    if isinstance(data, Path):
        filename = filename or data.name
        if not data.is_file():
            raise DataError(f"No file at '{data}'. Check the path.")
        raw = data.read_bytes()
    else:
        raw = data
    name = filename or "upload.csv"
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"'{name}' is not a supported file type. Upload a CSV (.csv), Parquet (.parquet) or Excel (.xlsx) file."
        )
    if max_bytes is not None and len(raw) > max_bytes:
        raise DataError(
            f"'{name}' is {len(raw) / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB upload limit. "
            "Upload a smaller file or raise STUDIO_MAX_UPLOAD_MB."
        )
    if not raw.strip():
        raise DataError(f"'{name}' is empty. Upload a file with a header row and at least one data row.")
    if suffix in (".parquet", ".pq"):
        frame, header = _read_parquet(raw, name, limits)
    elif suffix == ".xlsx":
        frame, header = _read_excel(raw, name, limits)
    else:
        frame, header = _read_csv(raw, name, encoding, limits)
    _check_shape(frame, header, name, min_columns)
    return frame


def _read_csv(raw: bytes, name: str, encoding: str, limits: ReadLimits) -> tuple[pd.DataFrame, list[str]]:
    if encoding not in ENCODINGS:
        raise DataError(f"Unknown encoding '{encoding}'. Choose one of: {', '.join(ENCODINGS)}.")
    if not encoding.startswith("utf-16") and b"\x00" in raw[:65536]:
        raise DataError(
            f"'{name}' contains binary data, so it is not a CSV text file. Upload a CSV, Parquet or .xlsx file."
        )
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"'{name}' is not valid {encoding} text (byte 0x{raw[exc.start]:02x} at position {exc.start}). "
            "Pick the file's encoding (e.g. latin-1 or cp1252) or re-save it as UTF-8."
        ) from None
    text = text.lstrip("\ufeff")
    delimiter, header = sniff_csv(head_of(text))
    # read at most one row past the caps: a longer file is refused without being parsed whole
    rows = min(limits.max_rows, limits.max_cells // max(len(header), 1))
    frame = _read_csv_frame(text, delimiter, name, nrows=rows + 1)
    limits.check_shape(name, rows=len(frame), columns=frame.shape[1])
    return frame, header


def head_of(text: str, size: int = 65536) -> str:
    """The first `size` characters, extended to the end of the header line (a 100,000-column header is longer)."""
    newline = text.find("\n")
    return text[: max(size, newline + 1)] if newline >= 0 else text


def sniff_csv(sample: str) -> tuple[str, list[str]]:
    """The delimiter (comma, semicolon, tab or pipe; comma when unsure) and header row of a CSV's first lines."""
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    return delimiter, next(csv.reader(io.StringIO(sample), delimiter=delimiter), [])


def _read_csv_frame(text: str, delimiter: str, name: str, *, nrows: int | None = None) -> pd.DataFrame:
    try:
        return pd.read_csv(io.StringIO(text), sep=delimiter, low_memory=False, nrows=nrows)
    except pd.errors.EmptyDataError:
        raise DataError(f"'{name}' has no columns. Upload a file with a header row.") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"'{name}' is not a readable table: {_first_line(exc)}. Check that it is a CSV file.") from None


def _read_parquet(raw: bytes, name: str, limits: ReadLimits) -> tuple[pd.DataFrame, list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(pa.BufferReader(raw))
        limits.check_shape(name, rows=file.metadata.num_rows, columns=file.metadata.num_columns)
        batches, decoded = [], 0
        for batch in file.iter_batches(batch_size=65_536, use_threads=False):  # decoded sizes counted as read
            decoded += batch.nbytes
            limits.check_decoded(name, decoded)
            batches.append(batch)
        table = pa.Table.from_batches(batches, schema=file.schema_arrow)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"'{name}' is not a valid Parquet file ({_first_line(exc)}).") from None
    header = list(table.column_names)
    if len(set(header)) != len(header):
        return pd.DataFrame(columns=range(len(header))), header
    return table.to_pandas(), header


def _read_excel(raw: bytes, name: str, limits: ReadLimits) -> tuple[pd.DataFrame, list[str]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:  # an xlsx is a zip: its stated sizes bound the unpacking
            limits.check_decoded(name, sum(entry.file_size for entry in archive.infolist()))
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True, keep_links=False)
        rows: list[list[object]] = []
        cells = 0
        for values in book.worksheets[0].iter_rows(values_only=True):  # streamed: cells counted as they come
            cells += len(values)
            limits.check_cells(name, cells)
            limits.check_rows(name, len(rows) + 1)
            rows.append(_trimmed(values))
        book.close()
    except (InvalidFileException, zipfile.BadZipFile, ValueError, KeyError, OSError) as exc:
        raise DataError(f"'{name}' is not a valid .xlsx workbook ({_first_line(exc)}).") from None
    while rows and not rows[-1]:
        rows.pop()
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame, []
    header = ["" if pd.isna(v) else str(v) for v in frame.iloc[0]]
    body = frame.iloc[1:].reset_index(drop=True)
    body.columns = pd.Index(header) if len(set(header)) == len(header) else pd.RangeIndex(len(header))
    return body.infer_objects(), header


def _trimmed(values: tuple[object, ...]) -> list[object]:
    """A row without its trailing empty cells (as pandas' own Excel reader does)."""
    row = list(values)
    while row and row[-1] is None:
        row.pop()
    return row


def _check_shape(frame: pd.DataFrame, header: list[str], name: str, min_columns: int) -> None:
    stripped = [h.strip() for h in header]
    duplicates = sorted(h for h, n in Counter(stripped).items() if n > 1 and h)
    if duplicates:
        raise DataError(
            f"'{name}' has duplicate column names: {', '.join(duplicates)}. Rename them so each column is unique."
        )
    if len(header) < min_columns or frame.shape[1] < min_columns:
        raise DataError(
            f"'{name}' has only one column. A training table needs at least two (features and a target); "
            "if the file uses another separator, save it with commas."
        )
    if any(h == "" for h in stripped):
        position = stripped.index("") + 1
        raise DataError(f"'{name}' has a blank column name (column {position}). Give every column a header.")
    if frame.shape[0] == 0:
        raise DataError(f"'{name}' has a header but no data rows. Upload a file with at least one row.")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
