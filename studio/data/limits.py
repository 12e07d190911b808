"""Caps on what one file may unpack to (rows, cells, decoded bytes), checked while it is read, before memory grows.

A small file can unpack to a huge table: a 330 KB Parquet file of 3 million 1 KB strings (9 GB once read),
an xlsx whose 2.6 MB zip holds 1 GB of sheet XML. Readers check the file's own metadata first (row count,
columns, the zip's stated sizes), then count while decoding, and stop with a DataError at the cap, so the
app and the jobs of everyone else on the server stay up. Each cap is a setting (STUDIO_MAX_UPLOAD_ROWS,
STUDIO_MAX_UPLOAD_CELLS, STUDIO_MAX_DECODED_MB).
"""

from __future__ import annotations

from dataclasses import dataclass

from studio.errors import DataError
from studio.settings import Settings

#: Rows per chunk when streaming a source; bounds memory at roughly one chunk of the widest table.
CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class ReadLimits:
    max_rows: int = 10_000_000
    max_cells: int = 50_000_000
    max_decoded_bytes: int = 1024 * 2**20

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadLimits:
        return cls(max_rows=settings.max_upload_rows, max_cells=settings.max_upload_cells,
                   max_decoded_bytes=int(settings.max_decoded_mb * 2**20))

    def check_shape(self, name: str, *, rows: int, columns: int) -> None:
        self.check_rows(name, rows)
        self.check_cells(name, rows * max(columns, 1))

    def check_rows(self, name: str, rows: int) -> None:
        if rows > self.max_rows:
            raise DataError(f"'{name}' holds more than {self.max_rows:,} rows, the cap for one file "
                            "(STUDIO_MAX_UPLOAD_ROWS). Split it, or read it in place as a Parquet/Delta table.")

    def check_cells(self, name: str, cells: int) -> None:
        if cells > self.max_cells:
            raise DataError(f"'{name}' holds more than {self.max_cells:,} cells (rows x columns), the cap for one "
                            "file (STUDIO_MAX_UPLOAD_CELLS). Drop columns or split it.")

    def check_decoded(self, name: str, decoded: int) -> None:
        if decoded > self.max_decoded_bytes:
            raise DataError(f"'{name}' unpacks to more than {self.max_decoded_bytes / 2**20:,.0f} MB, the cap for "
                            "one file (STUDIO_MAX_DECODED_MB); it was not read further. Upload a smaller table.")
