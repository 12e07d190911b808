"""Streaming ingestion: chunks that disagree on types, big CSVs read block by block, column-wise summaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studio.context import Studio
from studio.data import describe_columns, ingest, sources
from studio.errors import DataError
from tests.conftest import churn_frame


def test_chunks_that_disagree_on_types_merge_into_one_file(tmp_path: Path) -> None:
    chunks = [pd.DataFrame({"a": [1, 2], "b": [None, None], "c": [1, 2]}),
              pd.DataFrame({"a": [1.5, None], "b": ["x", "y"], "c": ["three", "four"]})]
    path = ingest.write_chunks(chunks, tmp_path / "t.parquet")
    out = pd.read_parquet(path)
    assert out["a"].tolist()[:3] == [1.0, 2.0, 1.5] and out["b"].isna().tolist() == [True, True, False, False]
    assert out["c"].tolist() == ["1", "2", "three", "four"]
    assert not list(tmp_path.glob("*.tmp"))


def test_file_summary_matches_the_in_memory_one(tmp_path: Path) -> None:
    frame = churn_frame(500)
    path = ingest.write_chunks([frame.iloc[:200], frame.iloc[200:]], tmp_path / "t.parquet")
    n_rows, columns = ingest.describe_file(path)
    assert n_rows == 500
    assert [(c.name, c.kind, c.n_missing, c.n_distinct) for c in columns] == \
        [(c.name, c.kind, c.n_missing, c.n_distinct) for c in describe_columns(frame)]
    sample = ingest.sample_file(path, 100)
    assert len(sample) == 100 and list(sample.columns) == list(frame.columns)


def test_a_big_csv_streams_and_a_late_text_value_rereads_its_column_as_text(
        studio: Studio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "STREAM_CSV_BYTES", 0)  # stream even this small file
    rng = np.random.default_rng(0)
    n = 300_000
    frame = pd.DataFrame({"x": rng.normal(size=n).round(4), "code": rng.integers(0, 9, n).astype(object),
                          "y": rng.integers(0, 2, n)})
    frame.loc[n - 5, "code"] = "A7"  # text in the last block of a column that looked numeric
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    record = sources.snapshot_file(studio.sources, path, "big")
    loaded = studio.catalog.load(record.id)
    assert len(loaded) == n and loaded["code"].iloc[n - 5] == "A7" and loaded["code"].iloc[0] == str(frame["code"][0])
    assert np.allclose(loaded["x"], frame["x"]) and record.column("x").kind == "numeric"


def test_a_binary_file_named_csv_is_refused(studio: Studio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "STREAM_CSV_BYTES", 0)
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n\x00\x01\x02")
    with pytest.raises(DataError, match="binary"):
        sources.snapshot_file(studio.sources, path, "x")
    assert studio.catalog.list() == [] and not list(studio.settings.datasets_path.glob(".staged-*"))
