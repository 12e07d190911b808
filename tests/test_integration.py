"""The whole path on real parts: CLI train --wait -> MLflow -> predict -> export -> the bundle's own commands
serve the bento from a fresh BentoML home -> HTTP (our client, BentoML's client, schemathesis)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from studio.context import Studio
from studio.export import ServiceInfo, call_predict, wait_ready
from studio.export.examples import example_rows
from studio.export.serving import free_port
from tests.conftest import make_settings

pytestmark = pytest.mark.slow


def _studio_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STUDIO_HOME=str(home), STUDIO_EMBEDDED_WORKER="false")
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, env=env,
                          timeout=600)


@pytest.fixture
def wine_csv(tmp_path: Path) -> Path:
    """scikit-learn's bundled wine data (3 classes) with a categorical and a date column and missing values."""
    frame = load_wine(as_frame=True).frame
    frame["region"] = np.where(frame["alcohol"] > 13, "north", "south")
    frame.loc[::9, "region"] = None
    frame.loc[::7, "magnesium"] = np.nan
    stamps = pd.date_range("2019-01-01", periods=len(frame), freq="37h")  # expanded into parts by the pipeline
    frame["harvested"] = np.random.default_rng(0).permutation(stamps.strftime("%Y-%m-%d %H:%M").to_numpy())
    frame.loc[::11, "harvested"] = None
    frame["target"] = frame["target"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    path = tmp_path / "wine.csv"
    frame.to_csv(path, index=False)
    return path


def test_train_predict_export_serve(tmp_path: Path, wine_csv: Path) -> None:
    home = tmp_path / "home"
    proc = _studio_cli("train", str(wine_csv), "--target", "target", "--algorithms", "linear,lightgbm",
                       "--max-trials", "4", "--compute", "small", "--wait", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    job = json.loads(proc.stdout.strip().splitlines()[-1])
    assert job["status"] == "succeeded" and job["n_trials"] == 4 and job["metric"] == "log_loss"
    assert job["model_uri"] == "models:/wine/1" and job["duration_s"] > 0

    studio = Studio(make_settings(home))
    run = studio.tracker.client.get_run(job["run_id"])
    assert run.data.metrics["validation_log_loss"] == pytest.approx(job["validation_score"])
    assert "test_log_loss" in run.data.metrics
    spec = studio.tracker.spec_of(job["run_id"])
    assert spec.target == "target" and ("harvested", "datetime") in {(f.name, f.kind.value) for f in spec.features}

    out = tmp_path / "pred.csv"
    proc = _studio_cli("predict", job["model_uri"], "--data", str(wine_csv), "--out", str(out), home=home)
    assert proc.returncode == 0, proc.stderr
    predictions = pd.read_csv(out)
    data = pd.read_csv(wine_csv)
    assert len(predictions) == len(data)
    assert list(predictions.columns) == ["prediction", "proba_barbera", "proba_barolo", "proba_grignolino"]
    assert (predictions["prediction"] == data["target"]).mean() > 0.9

    proc = _studio_cli("export", job["model_uri"], "--format", "bento", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    export = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(export["archive_path"]).is_file() and export["bento_tag"].startswith("wine-v1:")
    archive = Path(export["archive_path"]).name
    with zipfile.ZipFile(export["bundle_path"]) as bundle:
        assert set(bundle.namelist()) == {"Dockerfile", "k8s.yaml", "README.md", archive}
        bundle.extractall(tmp_path / "bundle")
    readme = (tmp_path / "bundle" / "README.md").read_text()
    commands = {line.split()[1]: line.split("#")[0].strip()
                for line in readme.splitlines() if line.startswith("bentoml ")}
    assert commands["import"] == f'bentoml import "$PWD/{archive}"'
    assert commands["serve"] == f"bentoml serve {export['bento_tag']} --port 3000"
    assert "curl -s -X POST http://127.0.0.1:3000/predict" in readme and '"magnesium"' in readme
    dockerfile = (tmp_path / "bundle" / "Dockerfile").read_text()
    assert "USER bentoml" in dockerfile and "HEALTHCHECK" in dockerfile and archive in dockerfile
    assert "readinessProbe" in (tmp_path / "bundle" / "k8s.yaml").read_text()

    # Serve it as the bundle's README says, from a BentoML home that has never seen the studio.
    fresh = dict(os.environ, BENTOML_HOME=str(tmp_path / "fresh-bentoml"), BENTOML_DO_NOT_TRACK="true")
    fresh["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{fresh['PATH']}"  # this venv's bentoml
    imported = subprocess.run(["bash", "-c", commands["import"]], cwd=tmp_path / "bundle", env=fresh,
                              capture_output=True, text=True, timeout=300)
    assert imported.returncode == 0, imported.stderr
    port = free_port()
    server = subprocess.Popen(["bash", "-c", f"exec {commands['serve'].replace('3000', str(port))}"],
                              cwd=tmp_path / "bundle", env=fresh, start_new_session=True,
                              stdout=(tmp_path / "serve.log").open("wb"), stderr=subprocess.STDOUT)
    service = ServiceInfo(bento_tag=export["bento_tag"], port=port, pid=server.pid, started_at=0, log_path="")
    try:
        wait_ready(service, timeout=120)
        rows = json.loads(data.drop(columns="target").head(20).to_json(orient="records", double_precision=15))
        assert any(r["region"] is None for r in rows) and any(r["magnesium"] is None for r in rows)
        response = call_predict(service.url, rows)
        assert response.status_code == 200
        served = pd.DataFrame([r["probabilities"] for r in response.body])
        expected = predictions.head(20)
        np.testing.assert_allclose(served[["barbera", "barolo", "grignolino"]].to_numpy(),
                                   expected[["proba_barbera", "proba_barolo", "proba_grignolino"]].to_numpy(),
                                   rtol=1e-6, atol=1e-9)
        assert [r["prediction"] for r in response.body] == expected["prediction"].tolist()
        assert response.body[0]["model_version"] == "models:/wine/1"

        import bentoml

        with bentoml.SyncHTTPClient(service.url) as client:
            via_client = client.predict(rows=rows[:3])
        assert [r["prediction"] for r in via_client] == expected["prediction"].head(3).tolist()

        assert example_rows(studio.tracker, export["model_uri"])[0].keys() == rows[0].keys()
        bad = call_predict(service.url, [{**rows[0], "alcohol": "strong"}])
        assert bad.status_code == 400 and "alcohol" in json.dumps(bad.body)
        missing = call_predict(service.url, [{k: v for k, v in rows[0].items() if k != "hue"}])
        assert missing.status_code == 400 and "hue" in json.dumps(missing.body)
        assert call_predict(service.url, []).status_code == 400
        largest = call_predict(service.url, rows[:1] * 10_000)  # the most a request may hold: one whole batch
        assert largest.status_code == 200 and len(largest.body) == 10_000
        too_many = call_predict(service.url, rows[:1] * 10_001)
        assert too_many.status_code == 400 and "at most 10000" in json.dumps(too_many.body)
        extra = call_predict(service.url, [{**rows[0], "surprise": 1}])
        assert extra.status_code == 400 and "surprise" in json.dumps(extra.body)
        assert httpx.post(f"{service.url}/predict", content=b"not json",
                          headers={"content-type": "application/json"}).status_code == 400
        assert httpx.get(f"{service.url}/livez").status_code == 200
        form = httpx.post(f"{service.url}/predict", data={"rows": "x"})  # a form, not JSON
        assert form.status_code == 415 and "application/json" in form.json()["error"]
        # A body over the cap (8 MB by default) is a 413, with a length header or streamed without one
        as_json = {"content-type": "application/json"}
        huge = httpx.post(f"{service.url}/predict", content=b'{"rows": [' + b" " * 9 * 2**20 + b"]}", headers=as_json)
        assert huge.status_code == 413 and "8 MB" in huge.json()["error"]

        def streamed() -> Iterator[bytes]:
            yield b'{"rows": ['
            for _ in range(9):
                yield b" " * 2**20
            yield b"]}"

        assert httpx.post(f"{service.url}/predict", content=streamed(), headers=as_json).status_code == 413
        assert call_predict(service.url, rows[:2]).status_code == 200  # and it still serves
        # Property-based requests from the OpenAPI spec: whatever they send, never a 5xx.
        fuzz = subprocess.run([str(Path(sys.executable).parent / "schemathesis"), "run", f"{service.url}/docs.json",
                               "--checks", "not_a_server_error", "--max-examples", "30", "--generation-deterministic"],
                              capture_output=True, text=True, cwd=tmp_path, timeout=600)
        assert fuzz.returncode == 0, fuzz.stdout[-3000:] + (tmp_path / "serve.log").read_text()[-3000:]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
