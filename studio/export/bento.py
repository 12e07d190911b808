"""One-click export of a registered model as a BentoML service (bento + archive), and the list of exports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from studio.errors import ExportError
from studio.paths import confined, slug

if TYPE_CHECKING:
    from studio.settings import Settings
    from studio.tracking import Tracker


class ExportRequest(BaseModel):
    model_uri: str
    format: Literal["bento", "onnx"] = "bento"
    runtime: Literal["native", "onnx"] = "native"  # bento: serve the ONNX graph (only when parity holds)


class ExportResult(BaseModel):
    model_uri: str
    bento_tag: str
    model_tag: str
    archive_path: str
    service_path: str
    created_at: float
    bundle_path: str | None = None  # the zip an engineer downloads: bento, Dockerfile, k8s.yaml, README
    runtime: str = "native"


#: What a child process may inherit from ours: where programs and libraries are, the locale and the thread
#: settings. Nothing else passes: the secret key, database passwords and store URLs (which may hold
#: credentials) stay in the app and the worker.
_INHERITED = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LOGNAME", "VIRTUAL_ENV", "PYTHONPATH",
              "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "SSL_CERT_FILE", "SSL_CERT_DIR",
              "STUDIO_FAMILY_CACHE_SIZE", "STUDIO_MAX_REQUEST_MB")


def service_env(settings: Settings) -> dict[str, str]:
    """Environment for a served bento: its BentoML home and the service's own settings, no secret."""
    inherited = {k: v for k, v in os.environ.items() if k in _INHERITED or k.startswith("LC_")}
    return dict(inherited, BENTOML_HOME=str(settings.bentoml_path), BENTOML_DO_NOT_TRACK="true")


def build_env(settings: Settings) -> dict[str, str]:
    """Environment for `studio.export.build`: a service's, plus the MLflow store the model is imported from."""
    return dict(service_env(settings), MLFLOW_TRACKING_URI=settings.tracking_uri,
                MLFLOW_REGISTRY_URI=settings.tracking_uri, MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
                GIT_PYTHON_REFRESH="quiet")


def bento_name(model_uri: str) -> str:
    """`models:/churn/3` -> `churn-v3` (a valid BentoML name)."""
    body = model_uri.removeprefix("models:/")
    name = re.sub(r"[^a-z0-9_.-]+", "-", body.replace("/", "-v").replace("@", "-").lower()).strip("-.")
    return name or "model"


def export_bento(tracker: Tracker, settings: Settings, model_ref: str, *, log: Callable[[str], None] = lambda _: None,
                 runtime: str = "native", batching: bool = True, name: str | None = None) -> ExportResult:
    """Import the model into the studio's BentoML store, generate its service, build it and archive it.
    runtime="onnx" serves the model converted to ONNX, refused unless the parity check holds; batching=False
    turns adaptive batching off (bench/serving.py compares both); `name` overrides the bento's name."""
    model_uri = tracker.resolve_model_uri(model_ref)
    if not model_uri.startswith("models:/"):
        raise ExportError(f"Export needs a registered model (models:/name/version), got '{model_uri}'.")
    tracker.run_id_of(model_uri)  # fails early, with a clear message, for an unknown model version
    tracker.check_own_model(model_uri)
    name = bento_name(name or model_uri)
    build_dir = confined(settings.exports_path, name, "build")
    args = {"model_uri": model_uri, "name": name, "build_dir": str(build_dir),
            "archive_dir": str(build_dir.parent), "batching": batching}
    if runtime == "onnx":
        from studio.export.onnx_model import export_onnx

        log("Converting the model to ONNX and checking parity on its held-out rows.")
        onnx = export_onnx(tracker, settings.exports_path, model_uri)
        if not onnx.report.holds:
            raise ExportError(f"The ONNX model does not match the native one ({onnx.report.summary()}); serve the "
                              "native model instead.")
        args["onnx_path"] = onnx.path
    log(f"Building bento '{name}' (import model, generate service.py, bentoml build).")
    proc = subprocess.run([sys.executable, "-m", "studio.export.build", json.dumps(args)], capture_output=True,
                          text=True, env=build_env(settings), timeout=900)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise ExportError(f"Building the bento for {model_uri} failed:\n{tail}")
    built = json.loads(proc.stdout.strip().splitlines()[-1])
    log("Writing the bundle (bento archive, Dockerfile, Kubernetes manifest, README).")
    bundle = _bundle(tracker, model_uri, built)
    result = ExportResult(model_uri=model_uri, created_at=time.time(), bundle_path=str(bundle), runtime=runtime,
                          **built)
    manifest = confined(build_dir.parent, f"{slug(result.bento_tag.split(':')[1])}.json")
    manifest.write_text(result.model_dump_json(indent=2))
    return result


def _bundle(tracker: Tracker, model_uri: str, built: dict[str, str]) -> Path:
    from importlib.metadata import version

    from studio.export.bundle import render, write_bundle
    from studio.export.examples import example_rows
    from studio.export.service_code import MAX_ROWS

    spec = tracker.spec_of(tracker.run_id_of(model_uri))
    summary = (f"A {spec.task} model predicting `{spec.target}` from {len(spec.features)} columns "
               f"({', '.join(f.name for f in spec.features[:12])}{', ...' if len(spec.features) > 12 else ''}), "
               f"trained by the ML studio on dataset `{spec.dataset_id}`, chosen by {spec.metric}.")
    archive = Path(built["archive_path"])
    files = render(tag=built["bento_tag"], archive=archive.name, model_uri=model_uri, summary=summary,
                   sample=example_rows(tracker, model_uri, n=2), bentoml_version=version("bentoml"), max_rows=MAX_ROWS)
    return write_bundle(archive.parent, archive_path=archive, files=files)


def list_exports(exports_path: Path) -> list[ExportResult]:
    found = [ExportResult.model_validate_json(p.read_text()) for p in Path(exports_path).glob("*/*.json")]
    return sorted(found, key=lambda r: r.created_at, reverse=True)
