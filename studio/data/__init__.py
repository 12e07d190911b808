"""Bringing data in: reading files, inferring column kinds, profiling, and versioned snapshots.

The public names are imported on first use (PEP 562): the CLI's `jobs list` opens the catalog without pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "ENCODINGS": "readers", "SUPPORTED_SUFFIXES": "readers", "read_table": "readers",
    "ColumnInfo": "schema", "ColumnKind": "schema", "describe_columns": "schema", "infer_kind": "schema",
    "DatasetCatalog": "catalog", "DatasetRecord": "catalog", "content_hash": "catalog",
    "Distribution": "profile", "Profile": "profile", "profile_frame": "profile",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'studio.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"studio.data.{_WHERE[name]}"), name)
