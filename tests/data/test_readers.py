from __future__ import annotations

import io

import pandas as pd
import pytest

from studio.data import read_table
from studio.errors import DataError


def test_reads_csv_parquet_and_excel_to_the_same_table(churn: pd.DataFrame) -> None:
    csv_bytes = churn.to_csv(index=False).encode()
    parquet = io.BytesIO()
    churn.to_parquet(parquet, index=False)
    excel = io.BytesIO()
    churn.to_excel(excel, index=False)
    from_csv = read_table(csv_bytes, "c.csv")
    from_parquet = read_table(parquet.getvalue(), "c.parquet")
    from_excel = read_table(excel.getvalue(), "c.xlsx")
    for frame in (from_csv, from_parquet, from_excel):
        assert list(frame.columns) == list(churn.columns)
        assert len(frame) == len(churn)
    assert from_excel["tenure"].astype(float).tolist() == churn["tenure"].tolist()


def test_sniffs_semicolons_and_reads_a_path(tmp_path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("a;b;c\n1;2;x\n3;4;y\n")
    frame = read_table(path)
    assert list(frame.columns) == ["a", "b", "c"] and frame.shape == (2, 3)


def test_latin1_text_reads_when_the_encoding_is_chosen() -> None:
    raw = "city,temp\nZürich,3\nGenève,5\n".encode("latin-1")
    with pytest.raises(DataError, match=r"not valid utf-8 text.*encoding"):
        read_table(raw, "t.csv")
    assert read_table(raw, "t.csv", encoding="latin-1")["city"].tolist() == ["Zürich", "Genève"]


@pytest.mark.parametrize(("raw", "name", "message"), [
    (b"", "e.csv", "is empty"),
    (b"   \n\n", "e.csv", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "img.csv", "binary data"),
    (b"only\n1\n2\n", "one.csv", "only one column"),
    (b"a,b,a\n1,2,3\n", "dup.csv", "duplicate column names: a"),
    (b"a,b\n", "header.csv", "no data rows"),
    (b"a,,c\n1,2,3\n", "blank.csv", "blank column name"),
    (b"PK\x03\x04 not really a workbook", "bad.xlsx", "not a valid .xlsx"),
    (b"PAR1 garbage", "bad.parquet", "not a valid Parquet"),
    (b"a,b\n1,2\n", "data.json", "not a supported file type"),
])
def test_bad_files_are_refused_with_the_reason(raw: bytes, name: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_table(raw, name)


def test_files_over_the_size_limit_are_refused() -> None:
    raw = ("a,b\n" + "1,2\n" * 1000).encode()
    with pytest.raises(DataError, match="upload limit"):
        read_table(raw, "big.csv", max_bytes=100)


def test_duplicate_headers_in_excel_are_refused() -> None:
    excel = io.BytesIO()
    pd.DataFrame([[1, 2]], columns=["x", "y"]).rename(columns={"y": "x"}).to_excel(excel, index=False)
    with pytest.raises(DataError, match="duplicate column names: x"):
        read_table(excel.getvalue(), "d.xlsx")


def test_missing_path_says_so(tmp_path) -> None:
    with pytest.raises(DataError, match="No file at"):
        read_table(tmp_path / "nope.csv")


def test_rows_to_score_may_have_a_single_column() -> None:
    assert list(read_table(b"x\n1\n2\n", "score.csv", min_columns=1).columns) == ["x"]
