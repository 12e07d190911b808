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

if TYPE_CHECKING:
    from studio.context import Studio


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


def studio_env(studio: Studio) -> dict[str, str]:
    """Environment for BentoML/MLflow subprocesses: this studio's stores, no usage tracking."""
    return dict(os.environ, STUDIO_HOME=str(studio.settings.root), BENTOML_HOME=str(studio.settings.bentoml_path),
                MLFLOW_TRACKING_URI=studio.settings.tracking_uri, MLFLOW_REGISTRY_URI=studio.settings.tracking_uri,
                BENTOML_DO_NOT_TRACK="true", MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")


def bento_name(model_uri: str) -> str:
    """`models:/churn/3` -> `churn-v3` (a valid BentoML name)."""
    body = model_uri.removeprefix("models:/")
    name = re.sub(r"[^a-z0-9_.-]+", "-", body.replace("/", "-v").replace("@", "-").lower()).strip("-.")
    return name or "model"


def export_bento(studio: Studio, model_ref: str, *, log: Callable[[str], None] = lambda _: None,
                 runtime: str = "native", batching: bool = True, name: str | None = None) -> ExportResult:
    """Import the model into the studio's BentoML store, generate its service, build it and archive it.
    runtime="onnx" serves the model converted to ONNX, refused unless the parity check holds; batching=False
    turns adaptive batching off (bench/serving.py compares both); `name` overrides the bento's name."""
    model_uri = studio.tracker.resolve_model_uri(model_ref)
    if not model_uri.startswith("models:/"):
        raise ExportError(f"Export needs a registered model (models:/name/version), got '{model_uri}'.")
    studio.tracker.run_id_of(model_uri)  # fails early, with a clear message, for an unknown model version
    name = name or bento_name(model_uri)
    build_dir = studio.settings.exports_path / name / "build"
    args = {"model_uri": model_uri, "name": name, "build_dir": str(build_dir),
            "archive_dir": str(studio.settings.exports_path / name), "batching": batching}
    if runtime == "onnx":
        from studio.export.onnx_model import export_onnx

        log("Converting the model to ONNX and checking parity on its held-out rows.")
        onnx = export_onnx(studio, model_uri)
        if not onnx.report.holds:
            raise ExportError(f"The ONNX model does not match the native one ({onnx.report.summary()}); serve the "
                              "native model instead.")
        args["onnx_path"] = onnx.path
    log(f"Building bento '{name}' (import model, generate service.py, bentoml build).")
    proc = subprocess.run([sys.executable, "-m", "studio.export.build", json.dumps(args)], capture_output=True,
                          text=True, env=studio_env(studio), timeout=900)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise ExportError(f"Building the bento for {model_uri} failed:\n{tail}")
    built = json.loads(proc.stdout.strip().splitlines()[-1])
    log("Writing the bundle (bento archive, Dockerfile, Kubernetes manifest, README).")
    bundle = _bundle(studio, model_uri, built)
    result = ExportResult(model_uri=model_uri, created_at=time.time(), bundle_path=str(bundle), runtime=runtime,
                          **built)
    manifest = studio.settings.exports_path / name / f"{result.bento_tag.split(':')[1]}.json"
    manifest.write_text(result.model_dump_json(indent=2))
    return result


def _bundle(studio: Studio, model_uri: str, built: dict[str, str]) -> Path:
    from importlib.metadata import version

    from studio.export.bundle import render, write_bundle
    from studio.export.samples import sample_rows
    from studio.export.service_code import MAX_ROWS

    spec = studio.tracker.spec_of(studio.tracker.run_id_of(model_uri))
    summary = (f"A {spec.task} model predicting `{spec.target}` from {len(spec.features)} columns "
               f"({', '.join(f.name for f in spec.features[:12])}{', ...' if len(spec.features) > 12 else ''}), "
               f"trained by the ML studio on dataset `{spec.dataset_id}`, chosen by {spec.metric}.")
    archive = Path(built["archive_path"])
    files = render(tag=built["bento_tag"], archive=archive.name, model_uri=model_uri, summary=summary,
                   sample=sample_rows(studio, model_uri, n=2), bentoml_version=version("bentoml"), max_rows=MAX_ROWS)
    return write_bundle(archive.parent, archive_path=archive, files=files)


def list_exports(studio: Studio) -> list[ExportResult]:
    found = [ExportResult.model_validate_json(p.read_text())
             for p in Path(studio.settings.exports_path).glob("*/*.json")]
    return sorted(found, key=lambda r: r.created_at, reverse=True)
