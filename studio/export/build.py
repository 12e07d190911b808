"""Build a bento in its own process (`python -m studio.export.build`), so BENTOML_HOME is this studio's.

BentoML reads its home directory once, at import; running the import, build and archive here keeps the
caller (a worker, a test) free of that global state. Prints one JSON line with the bento tag.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

SERVICE_PACKAGES = ("scikit-learn", "pandas", "numpy", "mlflow", "skops", "xgboost-cpu", "lightgbm", "pydantic",
                    "bentoml")


def pinned_packages() -> list[str]:
    pins = []
    for name in SERVICE_PACKAGES:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def build(model_uri: str, *, name: str, build_dir: Path, archive_dir: Path) -> dict[str, str]:
    import bentoml
    from mlflow.models import Model

    from studio.export.service_code import render_service
    from studio.training.model import ModelInfo

    imported = bentoml.mlflow.import_model(name, model_uri, labels={"source": "studio"})
    meta = Model.load(imported.path_of("mlflow_model")).metadata or {}
    info = ModelInfo.model_validate(meta["studio"])
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / "service.py").write_text(render_service(info, model_tag=str(imported.tag), model_uri=model_uri,
                                                         service_name=name))
    bento = bentoml.bentos.build(
        "service:ModelService", name=name, build_ctx=str(build_dir), include=["service.py"],
        labels={"model_uri": model_uri.replace("/", "_").replace(":", "_")},
        python={"packages": pinned_packages(), "lock_packages": False},
    )
    archive_dir.mkdir(parents=True, exist_ok=True)
    archive = bentoml.export_bento(bento.tag, str(archive_dir / f"{bento.tag.name}-{bento.tag.version}.bento"))
    return {"bento_tag": str(bento.tag), "model_tag": str(imported.tag), "archive_path": archive,
            "service_path": str(build_dir / "service.py")}


if __name__ == "__main__":
    args = json.loads(sys.argv[1])
    out = build(args["model_uri"], name=args["name"], build_dir=Path(args["build_dir"]),
                archive_dir=Path(args["archive_dir"]))
    print(json.dumps(out))
