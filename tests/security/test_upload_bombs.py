"""Small files that unpack to huge tables are refused while they are read, before memory grows: a 330 KB
Parquet of 3 million 1 KB strings once took 9 GB, a 2.6 MB xlsx that unpacks to 1 GB took 4.6 GB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from studio.data.limits import ReadLimits
from studio.data.readers import read_table
from studio.errors import DataError

#: Reads one file with the default caps in a fresh process; prints the error and the process's peak memory.
PROBE = """
import json, sys, threading
from pathlib import Path
import psutil
from studio.data.limits import ReadLimits
from studio.data.readers import read_table
from studio.errors import DataError
from studio.settings import Settings
me = psutil.Process()
base, peak, done = me.memory_info().rss, [0], threading.Event()
def sample():  # the memory the read itself adds, sampled every 10 ms
    while not done.wait(0.01):
        peak[0] = max(peak[0], me.memory_info().rss - base)
threading.Thread(target=sample, daemon=True).start()
try:  # the caps the app uses: from the settings (STUDIO_MAX_DECODED_MB, ...)
    read_table(Path(sys.argv[1]).read_bytes(), Path(sys.argv[1]).name, limits=ReadLimits.from_settings(Settings()))
    outcome = "read"
except DataError as exc:
    outcome = str(exc)
done.set()
print(json.dumps({"outcome": outcome, "peak_mb": peak[0] / 2**20}))
"""


def _probe(path: Path, **env: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _parquet_bomb(path: Path, rows: int = 3_000_000) -> Path:
    """One 1 KB string repeated as plain text: Parquet's dictionary encoding and zstd make it a few hundred KB on
    disk, 3 GB once decoded. Written 100,000 rows at a time (the test itself stays small)."""
    chunk = pa.table({"a": pa.array(["x" * 1024] * 100_000), "b": pa.array([7] * 100_000, pa.int32())})
    with pq.ParquetWriter(path, chunk.schema, compression="zstd") as writer:
        for _ in range(rows // 100_000):
            writer.write_table(chunk)
    return path


def _xlsx_bomb(path: Path, rows: int = 60_000, columns: int = 60) -> Path:
    """A sheet of many repeated cells, streamed into the zip: its XML deflates to almost nothing."""
    cells = "".join(f'<c r="{_col(c)}{{r}}" t="inlineStr"><is><t>{"y" * 200}</t></is></c>' for c in range(columns))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="application/'
                   'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
                   'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                   'spreadsheetml.worksheet+xml"/></Types>')
        z.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/'
                   'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
                   'relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
                   'openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
                   "</Relationships>")
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                        b'2006/main"><sheetData>')
            for r in range(1, rows + 1):
                sheet.write((f'<row r="{r}">' + cells.replace("{r}", str(r)) + "</row>").encode())
            sheet.write(b"</sheetData></worksheet>")
    return path


def _col(i: int) -> str:
    name = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        name = chr(65 + rem) + name
    return name


def test_a_parquet_bomb_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    bomb = _parquet_bomb(tmp_path / "bomb.parquet")
    assert bomb.stat().st_size < 2 * 2**20
    result = _probe(bomb)
    assert "unpacks to more than 1,024 MB" in str(result["outcome"])
    assert float(result["peak_mb"]) < 1_600  # the 1 GB cap and one batch, not the 9 GB it took before


def test_an_xlsx_bomb_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    bomb = _xlsx_bomb(tmp_path / "bomb.xlsx", rows=12_000)  # 160 MB of sheet XML in about 2 MB
    assert bomb.stat().st_size < 4 * 2**20
    result = _probe(bomb, STUDIO_MAX_DECODED_MB="100")  # the cap, lowered so the test stays quick
    assert "unpacks to more than 100 MB" in str(result["outcome"])
    assert float(result["peak_mb"]) < 200  # the workbook was never parsed


def test_rows_and_cells_are_capped_while_reading(tmp_path: Path) -> None:
    limits = ReadLimits(max_rows=1_000, max_cells=10_000, max_decoded_bytes=2**30)
    csv_text = "a,b\n" + "1,2\n" * 1_001
    with pytest.raises(DataError, match="more than 1,000 rows"):
        read_table(csv_text.encode(), "t.csv", limits=limits)
    wide = ",".join(f"c{i}" for i in range(100)) + "\n" + ("1," * 99 + "1\n") * 200
    with pytest.raises(DataError, match="more than 10,000 cells"):
        read_table(wide.encode(), "w.csv", limits=limits)
    assert len(read_table(("a,b\n" + "1,2\n" * 1_000).encode(), "ok.csv", limits=limits)) == 1_000
    small = _xlsx_bomb(tmp_path / "small.xlsx", rows=300, columns=40)
    with pytest.raises(DataError, match="cells"):
        read_table(small.read_bytes(), "small.xlsx", limits=limits)
    with pytest.raises(DataError, match="duplicate column names"):  # within the default caps it is read whole
        read_table(small.read_bytes(), "small.xlsx")


def test_a_header_longer_than_the_sniffed_sample_is_read_whole() -> None:
    """A 100,000-column header was refused as having duplicate names (only its first 64 KB were read)."""
    header = ",".join(f"column_{i}" for i in range(100_000))
    frame = read_table((header + "\n" + ",".join(["1"] * 100_000) + "\n").encode(), "wide.csv")
    assert frame.shape == (1, 100_000) and frame.columns[-1] == "column_99999"
