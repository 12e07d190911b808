"""Cached data helpers for the pages: parsing uploads and profiling snapshots, keyed on content."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from studio.data import ColumnInfo, Profile, profile_frame, read_table
from studio.data.catalog import DatasetRecord
from studio.data.ingest import describe_file
from studio.data.limits import ReadLimits
from studio.data.profile import PROFILE_SAMPLE_ROWS
from studio.data.sources import STREAM_CSV_BYTES, ingest_csv
from studio.export import examples
from studio.training.draft import data_guardrails
from studio.training.guardrails import Guardrail
from studio.training.task import Task
from studio.ui.common import get_studio


@st.cache_data(max_entries=4, show_spinner="Reading the file…")
def parse_upload(raw: bytes, filename: str, encoding: str) -> pd.DataFrame:
    settings = get_studio().settings
    return read_table(raw, filename, encoding=encoding, max_bytes=settings.max_upload_mb * 2**20,
                      limits=ReadLimits.from_settings(settings))


@dataclass(frozen=True)
class StagedUpload:
    """A big uploaded CSV already streamed to a Parquet file on disk, with its exact column summary."""

    path: str
    n_rows: int
    columns: list[ColumnInfo]


def is_big_upload(size: int, filename: str) -> bool:
    return size >= STREAM_CSV_BYTES and Path(filename).suffix.lower() in (".csv", ".tsv", ".txt")


@st.cache_data(max_entries=2, show_spinner="Streaming the file to disk…")
def stage_upload(_upload: Any, file_id: str, encoding: str) -> StagedUpload:
    """Copy the upload to disk in 8 MB pieces, then stream it into Parquet block by block (no DataFrame of the
    whole file is ever built). Cached per upload and encoding."""
    studio = get_studio()
    folder = studio.settings.datasets_path / ".uploads"
    folder.mkdir(parents=True, exist_ok=True)
    raw = folder / f"{file_id}.csv"
    _upload.seek(0)
    with raw.open("wb") as out:
        while piece := _upload.read(8 * 2**20):
            out.write(piece)
    try:
        staged = ingest_csv(raw, folder / f"{file_id}-{encoding}.parquet", encoding=encoding)
    finally:
        raw.unlink(missing_ok=True)
    n_rows, columns = describe_file(staged)
    return StagedUpload(str(staged), n_rows, columns)


def save_staged(staged: StagedUpload, name: str, source: str) -> DatasetRecord:
    """Save a staged upload as a dataset (a copy: the staged file stays for a second save under another name)."""
    catalog = get_studio().catalog
    target = catalog.staging_path()
    shutil.copyfile(staged.path, target)
    return catalog.save_file(target, name, source=source)


@st.cache_data(max_entries=8, show_spinner="Profiling…")
def profile_of(_frame: pd.DataFrame, key: str, *, total_rows: int | None = None,
               columns: list[ColumnInfo] | None = None) -> Profile:
    """Profiles are cached on `key` (a content hash), never on hashing the frame itself."""
    return profile_frame(_frame, total_rows=total_rows, columns=columns)


@st.cache_data(max_entries=8, show_spinner="Reading a sample of the dataset…")
def dataset_preview(dataset_id: str) -> pd.DataFrame:
    """The snapshot, or a seeded sample of PROFILE_SAMPLE_ROWS of a big one read in bounded memory."""
    return get_studio().catalog.sample(dataset_id, PROFILE_SAMPLE_ROWS)


@st.cache_data(max_entries=8, show_spinner="Loading the dataset…")
def load_dataset(dataset_id: str) -> pd.DataFrame:
    return get_studio().catalog.load(dataset_id)


@st.cache_data(max_entries=16, show_spinner=False)
def example_rows(model_uri: str) -> list[dict[str, Any]]:
    """A held-out row recorded with the model's run, for "try it" (a registered version never changes)."""
    return examples.example_rows(get_studio().tracker, model_uri)


@st.cache_data(max_entries=16, show_spinner="Checking the data…")
def guardrails_for(dataset_id: str, target: str, task: str) -> list[Guardrail]:
    """The data checks of one dataset, target and task (a snapshot never changes, so this is cached)."""
    studio = get_studio()
    return data_guardrails(studio.catalog.get(dataset_id), load_dataset(dataset_id), target, Task(task))
