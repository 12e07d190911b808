"""Read an uploaded or local file (CSV, Parquet, Excel) into a DataFrame, refusing what is not a usable table."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pandas as pd

from studio.errors import DataError

SUPPORTED_SUFFIXES = (".csv", ".txt", ".tsv", ".parquet", ".pq", ".xlsx")
ENCODINGS = ("utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16")


def read_table(
    data: bytes | Path, filename: str | None = None, *, encoding: str = "utf-8", max_bytes: int | None = None,
    min_columns: int = 2,
) -> pd.DataFrame:
    """Parse `data` (raw bytes or a path) as a table, judging the format by the file name's suffix.

    Raises DataError naming the problem: unsupported type, over the size limit, empty, binary or
    undecodable text, fewer than `min_columns` columns (a training table needs a feature and a target;
    rows to score may have one), duplicate or blank column names.
    """
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
        frame, header = _read_parquet(raw, name)
    elif suffix == ".xlsx":
        frame, header = _read_excel(raw, name)
    else:
        frame, header = _read_csv(raw, name, encoding)
    _check_shape(frame, header, name, min_columns)
    return frame


def _read_csv(raw: bytes, name: str, encoding: str) -> tuple[pd.DataFrame, list[str]]:
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
    delimiter, header = sniff_csv(text[:65536])
    frame = _read_csv_frame(text, delimiter, name)
    return frame, header


def sniff_csv(sample: str) -> tuple[str, list[str]]:
    """The delimiter (comma, semicolon, tab or pipe; comma when unsure) and header row of a CSV's first lines."""
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    return delimiter, next(csv.reader(io.StringIO(sample), delimiter=delimiter), [])


def _read_csv_frame(text: str, delimiter: str, name: str) -> pd.DataFrame:
    try:
        return pd.read_csv(io.StringIO(text), sep=delimiter, low_memory=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"'{name}' has no columns. Upload a file with a header row.") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"'{name}' is not a readable table: {_first_line(exc)}. Check that it is a CSV file.") from None


def _read_parquet(raw: bytes, name: str) -> tuple[pd.DataFrame, list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"'{name}' is not a valid Parquet file ({_first_line(exc)}).") from None
    header = list(table.column_names)
    if len(set(header)) != len(header):
        return pd.DataFrame(columns=range(len(header))), header
    return table.to_pandas(), header


def _read_excel(raw: bytes, name: str) -> tuple[pd.DataFrame, list[str]]:
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        frame = pd.read_excel(io.BytesIO(raw), engine="openpyxl", header=None)
    except (InvalidFileException, zipfile.BadZipFile, ValueError, KeyError, OSError) as exc:
        raise DataError(f"'{name}' is not a valid .xlsx workbook ({_first_line(exc)}).") from None
    if frame.empty:
        return frame, []
    header = ["" if pd.isna(v) else str(v) for v in frame.iloc[0]]
    body = frame.iloc[1:].reset_index(drop=True)
    body.columns = pd.Index(header) if len(set(header)) == len(header) else pd.RangeIndex(len(header))
    return body.infer_objects(), header


def _check_shape(frame: pd.DataFrame, header: list[str], name: str, min_columns: int) -> None:
    stripped = [h.strip() for h in header]
    duplicates = sorted({h for h in stripped if stripped.count(h) > 1 and h})
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
