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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
EVIL = 'x"""\nimport os; os.system("touch /tmp/pwned")\n"""'
ROWS: list[tuple[str, str, str, bool]] = []


def check(surface: str, tried: str) -> Callable[[Callable[[], str]], None]:
    """Run the attack; it must end in a refusal (the function returns what happened, or raises the refusal)."""

    def run(attack: Callable[[], str]) -> None:
        from studio.errors import StudioError

        try:
            outcome, held = attack(), True
        except StudioError as exc:
            outcome, held = f"refused: {str(exc).splitlines()[0][:90]}", True
        except AssertionError as exc:
            outcome, held = f"GOT THROUGH: {exc}", False
        ROWS.append((surface, tried, outcome, held))

    return run


def tested(surface: str, tried: str, where: str) -> None:
    ROWS.append((surface, tried, f"see {where}", True))


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="studio-security-")) / "home"
    os.environ.update(STUDIO_HOME=str(home), STUDIO_EMBEDDED_WORKER="false", STUDIO_SECRET_KEY="k" * 43 + "=")
    from studio.context import Studio

    studio = Studio()

    @check("bento service.py", "a column and a target named with triple quotes, a newline and a statement")
    def _() -> str:
        from studio.data import ColumnKind
        from studio.export.service_code import SERVICE_FILE, service_schema, write_service
        from studio.training import Feature, ModelInfo, Task

        info = ModelInfo(task=Task.BINARY, target=EVIL, metric="roc_auc", classes=["a", "b"],
                         features=(Feature(name=EVIL, kind=ColumnKind.NUMERIC),))
        out = write_service(home / "svc", service_schema(info, model_tag="m:1", model_uri="models:/m/1",
                                                          service_name="m"))
        assert out.read_text() == SERVICE_FILE.read_text(), "service.py differs from the template"
        return "service.py is the template; the names are values in schema.json"

    @check("batch-scoring upload", "a file named ../../x.csv")
    def _() -> str:
        from studio.export.scoring import upload_path

        path = upload_path(studio.settings.exports_path, "id", "../../x.csv")
        assert path.parent == studio.settings.exports_path / "scoring" / "uploads", str(path)
        return f"written as {path.name} under exports/scoring/uploads"

    @check("run and dataset names", "a run named ../../etc")
    def _() -> str:
        from studio.training.spec import TrainSpec

        TrainSpec.parse({"dataset_id": "d", "dataset_hash": "h", "target": "y", "task": "binary", "name": "../../etc",
                         "algorithms": ["linear"], "features": [{"name": "x", "kind": "numeric"}], "metric": "roc_auc"})
        raise AssertionError("accepted")

    @check("studio up", "--address 0.0.0.0 without login")
    def _() -> str:
        proc = subprocess.run([sys.executable, "-m", "studio", "up", "--address", "0.0.0.0"], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr[-300:]
        return "refused: " + proc.stderr.strip().splitlines()[-1][7:97]

    tested("studio up", "default address", "tests/security/test_auth.py (listens on 127.0.0.1 only)")
    tested("login and roles", "a visitor, a viewer acting, an expired sign-in", "tests/e2e/test_login.py (Chromium, "
           "oidc-provider-mock)")

    for location in ("/etc/passwd", "http://127.0.0.1:9/probe.parquet", "file:///etc/shadow",
                     "s3://KEY:SECRET@bucket/t"):
        @check("Parquet/Delta path", location)
        def _(location: str = location) -> str:
            from studio.data.sources import snapshot_lake

            snapshot_lake(studio, location, "x")
            raise AssertionError("read")

    @check("local Dask cluster", "its address, dashboard and a task reading the environment")
    def _() -> str:
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

    for ref in ("runs:/0123456789abcdef0123456789abcdef/../../somewhere", "file:///tmp/model.pkl"):
        @check("studio predict", ref)
        def _(ref: str = ref) -> str:
            studio.tracker.load_model(ref)
            raise AssertionError("loaded")

    @check("upload", "a 300 KB Parquet of 3M rows of 1 KB strings (3 GB decoded)")
    def _() -> str:
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

    tested("upload", "an xlsx of 2 MB holding 160 MB of sheet XML", "tests/security/test_upload_bombs.py")
    for query, driver in (("SELECT * FROM t /*! WHERE SLEEP(5) = 0 */", "mysql"),
                          ("SELECT pg_read_file('/etc/passwd')", "postgresql"),
                          ("SELECT query_to_xml('DELETE FROM t', true, true, '')", "postgresql")):
        @check("SELECT check", query)
        def _(query: str = query, driver: str = driver) -> str:
            from studio.data.sql import check_select

            check_select(query, driver)
            raise AssertionError("accepted")

    @check("served bento environment", "STUDIO_SECRET_KEY and store URLs in the parent's environment")
    def _() -> str:
        from studio.export.bento import service_env

        env = service_env(studio)
        assert "STUDIO_SECRET_KEY" not in env and not any("TRACKING" in k for k in env), sorted(env)
        return f"{len(env)} variables passed, no secret"

    tested("served bento", "a 9 MB body, with and without a length", "tests/test_integration.py (413)")
    tested("studio database", "locked 10x past its busy timeout mid-job", "tests/jobs/test_worker.py (job succeeds)")

    @check("file modes", "the home, studio.db, mlflow.db, a snapshot")
    def _() -> str:
        import pandas as pd

        record = studio.catalog.save(pd.DataFrame({"a": [1], "b": [2]}), "modes", source="bench")
        studio.tracker.client.search_experiments()
        modes = {p.name: oct(p.stat().st_mode & 0o777) for p in (home, home / "studio.db", home / "mlflow.db",
                                                                    Path(record.path))}
        assert set(modes.values()) <= {"0o700", "0o600"}, modes
        return ", ".join(f"{k} {v}" for k, v in modes.items())

    @check("wide CSV header", "100,000 columns (once refused as duplicates)")
    def _() -> str:
        from studio.data.readers import read_table

        header = ",".join(f"c{i}" for i in range(100_000))
        frame = read_table(f"{header}\n{','.join(['1'] * 100_000)}\n".encode(), "wide.csv")
        return f"read: {frame.shape[1]:,} columns"

    @check("model card", "a column named ![x](http://127.0.0.1:9/pixel.png)")
    def _() -> str:
        from markdown_it import MarkdownIt

        from studio.markup import text

        html = MarkdownIt("commonmark", {"html": False}).render(text("![x](http://127.0.0.1:9/pixel.png)"))
        assert "<img" not in html, html
        return "shown as text, no image fetched"

    import shutil

    shutil.rmtree(home.parent, ignore_errors=True)
    width = max(len(r[0]) for r in ROWS)
    for surface, tried, outcome, held in ROWS:
        print(f"{'ok ' if held else 'BAD'} {surface:<{width}}  {tried[:60]:<60}  {outcome}")
    print(json.dumps({"surfaces": len(ROWS), "got_through": sum(not r[3] for r in ROWS)}))
    return 0 if all(r[3] for r in ROWS) else 1


if __name__ == "__main__":
    raise SystemExit(main())
