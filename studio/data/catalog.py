"""Dataset snapshots: a frozen Parquet file + content hash + catalog row, versioned by name."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from studio import db, paths
from studio.data.origin import Origin
from studio.data.schema import ColumnInfo
from studio.errors import DataError, DatasetNotFound

if TYPE_CHECKING:  # pandas and pyarrow load with the first snapshot read or written, not with the catalog
    import pandas as pd


class DatasetRecord(BaseModel):
    """One immutable dataset snapshot in the catalog."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    version: int
    path: str
    content_hash: str
    n_rows: int
    n_cols: int
    columns: list[ColumnInfo]
    source: str
    created_at: float
    origin: Origin | None = None  # where a database or lake snapshot came from, so it can be refreshed

    def column(self, name: str) -> ColumnInfo:
        for info in self.columns:
            if info.name == name:
                return info
        raise DataError(f"Dataset '{self.id}' has no column '{name}'. Columns: {', '.join(self.column_names)}.")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def content_hash(frame: pd.DataFrame) -> str:
    """A hash of a table's values, column names and dtypes, as stored (see `ingest.file_hash`)."""
    from studio.data import ingest

    with tempfile.TemporaryDirectory() as tmp:
        path = ingest.write_chunks([frame], Path(tmp) / "t.parquet")
        return ingest.file_hash(path)


class DatasetCatalog:
    """Save, list, load and delete dataset snapshots; files under `root`, rows in the studio database."""

    def __init__(self, engine: sa.Engine, root: Path) -> None:
        self.engine = engine
        self.root = root

    def save(self, frame: pd.DataFrame, name: str, *, source: str, origin: Origin | None = None) -> DatasetRecord:
        """Freeze `frame` as the next version of `name`; an unchanged table returns the existing version."""
        from studio.data import ingest

        _check_name(name)
        staged = ingest.write_chunks([frame], self.staging_path())
        return self.save_file(staged, name, source=source, origin=origin)

    def save_file(self, staged: Path, name: str, *, source: str, origin: Origin | None = None) -> DatasetRecord:
        """Freeze a staged Parquet file (from `ingest`) as the next version of `name`; the file is moved in.

        The hash and column summary are computed column by column, so a big file is never loaded whole.
        """
        from studio.data import ingest

        try:
            name = _check_name(name)
            digest = ingest.file_hash(staged)
            latest = self._latest(name)
            if latest is not None and latest.content_hash == digest:
                return latest
            n_rows, columns = ingest.describe_file(staged)
            version = 1 if latest is None else latest.version + 1
            slug = paths.slug(name).lower()
            dataset_id = f"{slug}-v{version}"
            path = paths.confined(self.root, slug, f"v{version}.parquet")
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(staged, path)
        finally:
            staged.unlink(missing_ok=True)
        record = DatasetRecord(
            id=dataset_id, name=name, version=version, path=str(path), content_hash=digest,
            n_rows=n_rows, n_cols=len(columns), columns=columns, source=source, created_at=time.time(),
            origin=origin,
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(db.datasets.insert().values(
                    **record.model_dump(exclude={"columns", "origin"}),
                    columns_json=json.dumps([c.model_dump() for c in record.columns]),
                ))
                if origin is not None:
                    conn.execute(db.dataset_origins.insert().values(dataset_id=dataset_id,
                                                                    origin_json=origin.model_dump_json()))
        except sa.exc.IntegrityError:
            path.unlink(missing_ok=True)
            raise DataError(f"Version {version} of '{name}' was saved concurrently. Save again.") from None
        return record

    def staging_path(self) -> Path:
        """A fresh path beside the snapshots for a file being ingested (moved in by `save_file`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root / f".staged-{uuid.uuid4().hex}.parquet"

    def list(self) -> list[DatasetRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(_SELECT.order_by(db.datasets.c.created_at.desc())).mappings().all()
        return [_record(row) for row in rows]

    def get(self, dataset_id: str) -> DatasetRecord:
        with self.engine.connect() as conn:
            row = conn.execute(_SELECT.where(db.datasets.c.id == dataset_id)).mappings().first()
        if row is None:
            raise DatasetNotFound(f"No dataset '{dataset_id}'. Run `studio data list` to see saved datasets.")
        return _record(row)

    def load(self, dataset_id: str) -> pd.DataFrame:
        import pandas as pd

        return pd.read_parquet(self.file(dataset_id))

    def sample(self, dataset_id: str, n_rows: int, *, seed: int = 0) -> pd.DataFrame:
        """At most `n_rows` rows of the snapshot (a seeded sample, in file order), read in bounded memory."""
        from studio.data import ingest

        return ingest.sample_file(self.file(dataset_id), n_rows, seed=seed)

    def file(self, dataset_id: str) -> Path:
        path = paths.confined(self.root, self.get(dataset_id).path)  # a catalog row is not trusted to point out
        if not path.is_file():
            raise DataError(f"The snapshot file of '{dataset_id}' is missing at {path}.")
        return path

    def delete(self, dataset_id: str) -> None:
        path = paths.confined(self.root, self.get(dataset_id).path)
        with self.engine.begin() as conn:
            conn.execute(db.dataset_origins.delete().where(db.dataset_origins.c.dataset_id == dataset_id))
            conn.execute(db.datasets.delete().where(db.datasets.c.id == dataset_id))
        path.unlink(missing_ok=True)

    def _latest(self, name: str) -> DatasetRecord | None:
        query = _SELECT.where(db.datasets.c.name == name).order_by(db.datasets.c.version.desc())
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _record(row)


_SELECT = sa.select(db.datasets, db.dataset_origins.c.origin_json).outerjoin(
    db.dataset_origins, db.dataset_origins.c.dataset_id == db.datasets.c.id)


def _check_name(name: str) -> str:
    try:
        return paths.check_name(name, what="dataset name")
    except paths.UnsafePath as exc:
        raise DataError(str(exc)) from None


def _record(row: sa.RowMapping) -> DatasetRecord:
    values = dict(row)
    columns = [ColumnInfo(**c) for c in json.loads(values.pop("columns_json"))]
    origin = values.pop("origin_json", None)
    return DatasetRecord(**values, columns=columns,
                         origin=None if origin is None else Origin.model_validate_json(origin))
