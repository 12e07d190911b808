"""Dataset snapshots: a frozen Parquet file + content hash + catalog row, versioned by name."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from studio import db
from studio.data.schema import ColumnInfo, describe_columns
from studio.errors import DataError, DatasetNotFound

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,79}$")


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

    def column(self, name: str) -> ColumnInfo:
        for info in self.columns:
            if info.name == name:
                return info
        raise DataError(f"Dataset '{self.id}' has no column '{name}'. Columns: {', '.join(self.column_names)}.")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def content_hash(frame: pd.DataFrame) -> str:
    """A hash of the table's values, column names and dtypes (independent of the Parquet writer)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([[str(c), str(t)] for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


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


class DatasetCatalog:
    """Save, list, load and delete dataset snapshots; files under `root`, rows in the studio database."""

    def __init__(self, engine: sa.Engine, root: Path) -> None:
        self.engine = engine
        self.root = root

    def save(self, frame: pd.DataFrame, name: str, *, source: str) -> DatasetRecord:
        """Freeze `frame` as the next version of `name`; an unchanged table returns the existing version."""
        name = name.strip()
        if not _NAME.match(name):
            raise DataError(
                f"'{name}' is not a valid dataset name. Use 1-80 letters, digits, spaces, '_', '-' or '.', "
                "starting with a letter or digit."
            )
        frame = normalize(frame)
        digest = content_hash(frame)
        latest = self._latest(name)
        if latest is not None and latest.content_hash == digest:
            return latest
        version = 1 if latest is None else latest.version + 1
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-").lower()
        dataset_id = f"{slug}-v{version}"
        path = self.root / slug / f"v{version}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        import pyarrow as pa

        try:
            frame.to_parquet(tmp, index=False)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            tmp.unlink(missing_ok=True)
            raise DataError(f"The table cannot be stored as Parquet: {exc}. Check mixed-type columns.") from None
        tmp.replace(path)
        record = DatasetRecord(
            id=dataset_id, name=name, version=version, path=str(path), content_hash=digest,
            n_rows=len(frame), n_cols=frame.shape[1], columns=describe_columns(frame), source=source,
            created_at=time.time(),
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(db.datasets.insert().values(
                    **record.model_dump(exclude={"columns"}),
                    columns_json=json.dumps([c.model_dump() for c in record.columns]),
                ))
        except sa.exc.IntegrityError:
            path.unlink(missing_ok=True)
            raise DataError(f"Version {version} of '{name}' was saved concurrently. Save again.") from None
        return record

    def list(self) -> list[DatasetRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(db.datasets).order_by(db.datasets.c.created_at.desc())).mappings().all()
        return [_record(row) for row in rows]

    def get(self, dataset_id: str) -> DatasetRecord:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(db.datasets).where(db.datasets.c.id == dataset_id)).mappings().first()
        if row is None:
            raise DatasetNotFound(f"No dataset '{dataset_id}'. Run `studio data list` to see saved datasets.")
        return _record(row)

    def load(self, dataset_id: str) -> pd.DataFrame:
        record = self.get(dataset_id)
        if not Path(record.path).is_file():
            raise DataError(f"The snapshot file of '{dataset_id}' is missing at {record.path}.")
        return pd.read_parquet(record.path)

    def delete(self, dataset_id: str) -> None:
        record = self.get(dataset_id)
        with self.engine.begin() as conn:
            conn.execute(db.datasets.delete().where(db.datasets.c.id == dataset_id))
        Path(record.path).unlink(missing_ok=True)

    def _latest(self, name: str) -> DatasetRecord | None:
        query = sa.select(db.datasets).where(db.datasets.c.name == name).order_by(db.datasets.c.version.desc())
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _record(row)


def _record(row: sa.RowMapping) -> DatasetRecord:
    values = dict(row)
    columns = [ColumnInfo(**c) for c in json.loads(values.pop("columns_json"))]
    return DatasetRecord(**values, columns=columns)
