"""Every attack surface the security review found, tried again on a fresh studio: the input, and what happens now.

Quick checks run here, live, against a throw-away STUDIO_HOME (a local Dask cluster, the CLI, the readers, the
path helper, the SELECT check); the ones that need a served bento, a browser or an identity provider name the
test that reproduces them (each also runs in the suite). Prints one line per surface and exits non-zero if any
attack got through.

Usage: .venv/bin/python bench/security.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
EVIL = 'x"""\nimport os; os.system("touch /tmp/pwned")\n"""'
ROWS: list[tuple[str, str, str, bool]] = []

if TYPE_CHECKING:
    from studio.context import Studio


def run(surface: str, tried: str, attack: Callable[[], str]) -> None:
    """Run the attack; it must end in a refusal (it returns what happened, or raises the studio's refusal)."""
    from studio.errors import StudioError

    try:
        outcome, held = attack(), True
    except StudioError as exc:
        outcome, held = f"refused: {str(exc).splitlines()[0][:90]}", True
    except AssertionError as exc:
        outcome, held = f"GOT THROUGH: {exc}", False
    ROWS.append((surface, tried, outcome, held))


def tested(surface: str, tried: str, where: str) -> None:
    ROWS.append((surface, tried, f"see {where}", True))


def service_source(home: Path) -> str:
    from studio.data import ColumnKind
    from studio.export.service_code import SERVICE_FILE, service_schema, write_service
    from studio.training import Feature, ModelInfo, Task

    info = ModelInfo(task=Task.BINARY, target=EVIL, metric="roc_auc", classes=["a", "b"],
                     features=(Feature(name=EVIL, kind=ColumnKind.NUMERIC),))
    out = write_service(home / "svc", service_schema(info, model_tag="m:1", model_uri="models:/m/1", service_name="m"))
    assert out.read_text() == SERVICE_FILE.read_text(), "service.py differs from the template"
    return "service.py is the template; the names are values in schema.json"


def upload_name(studio: Studio) -> str:
    from studio.scoring import upload_path

    path = upload_path(studio.settings.exports_path, "id", "../../x.csv")
    assert path.parent == studio.settings.exports_path / "scoring" / "uploads", str(path)
    return f"written as {path.name} under exports/scoring/uploads"


def run_name() -> str:
    from studio.training.spec import TrainSpec

    TrainSpec.parse({"dataset_id": "d", "dataset_hash": "h", "target": "y", "task": "binary", "name": "../../etc",
                     "algorithms": ["linear"], "features": [{"name": "x", "kind": "numeric"}], "metric": "roc_auc"})
    raise AssertionError("accepted")


def listen_everywhere() -> str:
    proc = subprocess.run([sys.executable, "-m", "studio", "up", "--address", "0.0.0.0"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-300:]
    return "refused: " + proc.stderr.strip().splitlines()[-1][7:97]


def lake_path(studio: Studio, location: str) -> str:
    from studio.data.sources import snapshot_lake

    snapshot_lake(studio.sources, location, "x")
    raise AssertionError("read")


def dask_cluster() -> str:
    from studio.compute.cluster import client_for, discard
    from studio.compute.profiles import ComputeProfile

    shape = ComputeProfile(name="probe", workers=1, threads=1, memory_gb=1.0)
    client = client_for(shape)
    try:
        address = client.scheduler.address
        seen = next(iter(client.run(lambda: dict(os.environ)).values()))
        assert address.startswith("tls://127.0.0.1:"), address
        assert "STUDIO_SECRET_KEY" not in seen, "the worker holds the secret key"
        return f"{address.rsplit(':', 1)[0]}, TLS, no dashboard routes, no secret in the workers"
    finally:
        discard(shape)


def model_ref(studio: Studio, ref: str) -> str:
    studio.tracker.load_model(ref)
    raise AssertionError("loaded")


def parquet_bomb(home: Path) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from studio.data.readers import read_table

    bomb = home / "bomb.parquet"
    chunk = pa.table({"a": pa.array(["x" * 1024] * 100_000)})
    with pq.ParquetWriter(bomb, chunk.schema, compression="zstd") as writer:
        for _ in range(30):
            writer.write_table(chunk)
    read_table(bomb.read_bytes(), bomb.name)
    raise AssertionError("read whole")


def select_check(query: str, driver: str) -> str:
    from studio.data.sql import check_select

    check_select(query, driver)
    raise AssertionError("accepted")


def bento_environment(studio: Studio) -> str:
    from studio.export.bento import service_env

    env = service_env(studio.settings)
    assert "STUDIO_SECRET_KEY" not in env and not any("TRACKING" in k for k in env), sorted(env)
    return f"{len(env)} variables passed, no secret"


def file_modes(studio: Studio, home: Path) -> str:
    import pandas as pd

    record = studio.catalog.save(pd.DataFrame({"a": [1], "b": [2]}), "modes", source="bench")
    studio.tracker.client.search_experiments()
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in (home, home / "studio.db", home / "mlflow.db",
                                                                Path(record.path))}
    assert set(modes.values()) <= {"0o700", "0o600"}, modes
    return ", ".join(f"{k} {v}" for k, v in modes.items())


def wide_header() -> str:
    from studio.data.readers import read_table

    header = ",".join(f"c{i}" for i in range(100_000))
    frame = read_table(f"{header}\n{','.join(['1'] * 100_000)}\n".encode(), "wide.csv")
    return f"read: {frame.shape[1]:,} columns"


def model_card() -> str:
    from markdown_it import MarkdownIt

    from studio.markup import text

    html = MarkdownIt("commonmark", {"html": False}).render(text("![x](http://127.0.0.1:9/pixel.png)"))
    assert "<img" not in html, html
    return "shown as text, no image fetched"


def attacks(studio: Studio, home: Path) -> None:
    run("bento service.py", "a column and a target named with triple quotes, a newline and a statement",
        lambda: service_source(home))
    run("batch-scoring upload", "a file named ../../x.csv", lambda: upload_name(studio))
    run("run and dataset names", "a run named ../../etc", run_name)
    run("studio up", "--address 0.0.0.0 without login", listen_everywhere)
    tested("studio up", "default address", "tests/security/test_auth.py (listens on 127.0.0.1 only)")
    tested("login and roles", "a visitor, a viewer acting, an expired sign-in",
           "tests/e2e/test_login.py (Chromium, oidc-provider-mock)")
    for location in ("/etc/passwd", "http://127.0.0.1:9/probe.parquet", "file:///etc/shadow",
                     "s3://KEY:SECRET@bucket/t"):
        run("Parquet/Delta path", location, lambda location=location: lake_path(studio, location))
    run("local Dask cluster", "its address, dashboard and a task reading the environment", dask_cluster)
    for ref in ("runs:/0123456789abcdef0123456789abcdef/../../somewhere", "file:///tmp/model.pkl"):
        run("studio predict", ref, lambda ref=ref: model_ref(studio, ref))
    run("upload", "a 300 KB Parquet of 3M rows of 1 KB strings (3 GB decoded)", lambda: parquet_bomb(home))
    tested("upload", "an xlsx of 2 MB holding 160 MB of sheet XML", "tests/security/test_upload_bombs.py")
    for query, driver in (("SELECT * FROM t /*! WHERE SLEEP(5) = 0 */", "mysql"),
                          ("SELECT pg_read_file('/etc/passwd')", "postgresql"),
                          ("SELECT query_to_xml('DELETE FROM t', true, true, '')", "postgresql")):
        run("SELECT check", query, lambda query=query, driver=driver: select_check(query, driver))
    run("served bento environment", "STUDIO_SECRET_KEY and store URLs in the parent's environment",
        lambda: bento_environment(studio))
    tested("served bento", "a 9 MB body, with and without a length", "tests/test_integration.py (413)")
    tested("bento build", "a trained model whose column names are code", "tests/security/test_bento_names.py")
    tested("studio database", "locked 10x past its busy timeout mid-job", "tests/jobs/test_worker.py (job succeeds)")
    run("file modes", "the home, studio.db, mlflow.db, a snapshot", lambda: file_modes(studio, home))
    run("wide CSV header", "100,000 columns (once refused as duplicates)", wide_header)
    run("model card", "a column named ![x](http://127.0.0.1:9/pixel.png)", model_card)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="studio-security-") as tmp:
        home = Path(tmp) / "home"
        os.environ.update(STUDIO_HOME=str(home), STUDIO_EMBEDDED_WORKER="false", STUDIO_SECRET_KEY="k" * 43 + "=")
        from studio.context import Studio

        attacks(Studio(), home)
    width = max(len(r[0]) for r in ROWS)
    for surface, tried, outcome, held in ROWS:
        print(f"{'ok ' if held else 'BAD'} {surface:<{width}}  {tried[:60]:<60}  {outcome}")
    print(json.dumps({"surfaces": len(ROWS), "got_through": sum(not r[3] for r in ROWS)}))
    return 0 if all(r[3] for r in ROWS) else 1


if __name__ == "__main__":
    raise SystemExit(main())
