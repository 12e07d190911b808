"""Names are data, never paths: every path built from one stays inside its root (the attacks, reproduced)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from studio.errors import DataError, SpecError
from studio.paths import UnsafePath, check_name, confined, slug, within
from studio.scoring import upload_path


@pytest.mark.parametrize("parts", [("..", "x"), ("../../etc/passwd",), ("/etc/passwd",), ("a", "..", "..", "b")])
def test_confined_refuses_anything_outside_its_root(tmp_path: Path, parts: tuple[str, ...]) -> None:
    with pytest.raises(UnsafePath, match="outside"):
        confined(tmp_path / "root", *parts)


def test_confined_follows_symlinks_before_deciding(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    os.symlink(tmp_path, tmp_path / "root" / "out")
    with pytest.raises(UnsafePath):
        confined(tmp_path / "root", "out", "secret")
    assert confined(tmp_path / "root", "a", "b.csv") == (tmp_path / "root" / "a" / "b.csv").resolve()


def test_within_takes_any_of_its_roots_and_nothing_else(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert within((a, b), b / "x.csv") == (b / "x.csv").resolve()
    with pytest.raises(UnsafePath, match="studio's own folders"):
        within((a, b), tmp_path / "c" / "x.csv")


@pytest.mark.parametrize("name", ["..", "../x", "a/b", ".hidden", "", "x" * 81, "a\nb", "a\\b"])
def test_names_with_path_parts_are_refused(name: str) -> None:
    with pytest.raises(UnsafePath, match="letters, digits"):
        check_name(name)


def test_slugs_are_plain_file_names() -> None:
    assert slug("../../x y") == "x-y" and slug("..") == "file" and slug("a.b-c_d") == "a.b-c_d"


def test_an_uploaded_file_named_with_dot_dots_is_written_under_a_generated_name(tmp_path: Path) -> None:
    """The batch-scoring upload once wrote `../../x.csv` where its name pointed."""
    path = upload_path(tmp_path, "file-id-1", "../../x.csv")
    assert path.parent == (tmp_path / "scoring" / "uploads").resolve() and path.suffix == ".csv"
    assert ".." not in path.name and len(path.stem) == 32
    assert upload_path(tmp_path, "file-id-1", "other.csv") == path  # the upload's id names it, not its name
    with pytest.raises(DataError, match="CSV or Parquet"):
        upload_path(tmp_path, "file-id-2", "evil.py")


def test_run_names_pass_the_dataset_name_check() -> None:
    from studio.training.spec import TrainSpec

    base = {"dataset_id": "d-v1", "dataset_hash": "h", "target": "y", "task": "binary", "algorithms": ["linear"],
            "features": [{"name": "x", "kind": "numeric"}], "metric": "roc_auc"}
    assert TrainSpec.parse({**base, "name": "my run 2.1"}).run_name == "my run 2.1"
    for bad in ("../../etc", "a/b", ".x"):
        with pytest.raises(SpecError, match="name"):
            TrainSpec.parse({**base, "name": bad})


def test_a_catalog_row_pointing_outside_the_snapshots_is_refused(tmp_path: Path) -> None:
    import pandas as pd
    import sqlalchemy as sa

    from studio import db
    from studio.data.catalog import DatasetCatalog

    engine = db.make_engine(f"sqlite:///{tmp_path / 'studio.db'}")
    catalog = DatasetCatalog(engine, tmp_path / "datasets")
    record = catalog.save(pd.DataFrame({"a": [1, 2]}), "d", source="test")
    outside = tmp_path / "elsewhere.parquet"
    pd.DataFrame({"a": [3]}).to_parquet(outside)
    with engine.begin() as conn:
        conn.execute(sa.update(db.datasets).where(db.datasets.c.id == record.id).values(path=str(outside)))
    with pytest.raises(UnsafePath):
        catalog.load(record.id)
    with pytest.raises(UnsafePath):
        catalog.delete(record.id)
    assert outside.is_file()

