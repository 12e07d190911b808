"""Parquet folders and Delta tables written by the tests, read with pruning, filters, samples and time travel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from studio.context import Studio
from studio.data import lake, sources
from studio.data.origin import Origin, RowFilter
from studio.errors import DataError


def _sales(n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"store": rng.choice(["north", "south", "east"], n), "units": rng.integers(0, 50, n),
                         "price": rng.normal(10, 2, n).round(2), "note": ["x"] * n})


def test_a_partitioned_parquet_folder_with_pruned_columns_and_pushed_filters(studio: Studio, tmp_path: Path) -> None:
    frame = _sales()
    folder = studio.settings.data_paths[0] / "sales"  # the studio reads only under its data folders
    pq.write_to_dataset(pa.Table.from_pandas(frame), folder, partition_cols=["store"])
    filters = [RowFilter(column="store", op="in", value=["north", "east"]),
               RowFilter(column="units", op=">=", value="25")]
    record = sources.snapshot_lake(studio.sources,
                                   str(folder), "sales", columns=["store", "units", "price"], filters=filters)
    loaded = studio.catalog.load(record.id)
    expected = frame[frame["store"].isin(["north", "east"]) & (frame["units"] >= 25)]
    assert sorted(loaded.columns) == ["price", "store", "units"] and len(loaded) == len(expected)
    assert loaded["units"].min() >= 25 and set(loaded["store"].astype(str)) == {"north", "east"}
    assert record.origin is not None and record.origin.kind == "parquet" and "units >= '25'" in record.origin.describe()


def test_first_rows_and_random_samples_of_a_parquet_file(studio: Studio, tmp_path: Path) -> None:
    path = studio.settings.data_paths[0] / "sales.parquet"
    _sales().reset_index().to_parquet(path, row_group_size=500)
    first = studio.catalog.load(sources.snapshot_lake(studio.sources, str(path), "first", limit=700).id)
    assert first["index"].tolist() == list(range(700))
    sample = studio.catalog.load(sources.snapshot_lake(studio.sources, str(path), "sample", limit=300, sample=True).id)
    assert len(sample) == 300 and sample["index"].is_monotonic_increasing and sample["index"].max() > 2000


def test_delta_table_time_travel_and_refresh_to_the_latest(studio: Studio, tmp_path: Path) -> None:
    table = studio.settings.data_paths[0] / "delta"
    write_deltalake(table, _sales(1000))
    write_deltalake(table, _sales(500), mode="append")
    assert lake.is_delta(str(table))
    old = sources.snapshot_lake(studio.sources, "delta", "sales", version=0)  # relative to the first data folder
    assert old.n_rows == 1000 and old.origin is not None and old.origin.delta_version == 0
    latest = sources.snapshot_lake(studio.sources, str(table), "sales")
    assert latest.n_rows == 1500 and latest.origin is not None and latest.origin.delta_version == 1
    write_deltalake(table, _sales(10), mode="append")
    refreshed = sources.refresh(studio.sources, latest.id)
    assert refreshed.version == 3 and refreshed.n_rows == 1510 and refreshed.origin.delta_version == 2
    with pytest.raises(DataError, match="version"):
        sources.snapshot_lake(studio.sources, str(table), "sales", version=9)


@pytest.mark.parametrize(("origin", "message"), [
    (Origin(kind="parquet", location="/no/such/folder"), "No Parquet file"),
    (Origin(kind="delta", location="/no/such/delta"), "Delta table"),
    (Origin(kind="parquet", location="{data}", columns=["nope"]), "No column 'nope'"),
    (Origin(kind="parquet", location="{data}", filters=[RowFilter(column="units", op=">", value="many")]),
     "not a int64 value"),
    (Origin(kind="parquet", location="{data}", sample=True), "needs a row count"),
])
def test_bad_lake_reads_say_what_is_wrong(tmp_path: Path, origin: Origin, message: str) -> None:
    data = tmp_path / "s.parquet"
    _sales(10).to_parquet(data)
    origin = origin.model_copy(update={"location": origin.location.replace("{data}", str(data))})
    with pytest.raises(DataError, match=message):
        list(lake.read_chunks(origin, max_rows=100))


def test_a_file_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(DataError, match="not a readable Parquet"):
        list(lake.read_chunks(Origin(kind="parquet", location=str(bad)), max_rows=10))
