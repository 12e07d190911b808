"""Bringing data in: reading files, inferring column kinds, profiling, and versioned snapshots."""

from studio.data.catalog import DatasetCatalog, DatasetRecord, content_hash
from studio.data.profile import Distribution, Profile, profile_frame
from studio.data.readers import ENCODINGS, SUPPORTED_SUFFIXES, read_table
from studio.data.schema import ColumnInfo, ColumnKind, describe_columns, infer_kind

__all__ = [
    "ENCODINGS", "SUPPORTED_SUFFIXES", "ColumnInfo", "ColumnKind", "DatasetCatalog", "DatasetRecord",
    "Distribution", "Profile", "content_hash", "describe_columns", "infer_kind", "profile_frame", "read_table",
]
