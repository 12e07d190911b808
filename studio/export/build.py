"""Build a bento in its own process (`python -m studio.export.build`), so BENTOML_HOME is this studio's.

BentoML reads its home directory once, at import; running the import, build and archive here keeps the
caller (a worker, a test) free of that global state. Prints one JSON line with the bento tag.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from studio.packages import MODEL_PACKAGES, pinned

SERVICE_PACKAGES = (*MODEL_PACKAGES, "mlflow", "pydantic", "bentoml")


def pinned_packages() -> list[str]:
    return pinned(SERVICE_PACKAGES)


def build(model_uri: str, *, name: str, build_dir: Path, archive_dir: Path, onnx_path: str | None = None,
          batching: bool = True) -> dict[str, str]:
    """Import the MLflow model, generate service.py, build and archive the bento. With `onnx_path`, the service
    serves that ONNX graph (packaged as its own BentoML model) instead of the scikit-learn pipeline."""
    import bentoml
    from mlflow.models import Model

    from studio.export.service_code import SERVICE_FILES, service_schema, write_service
    from studio.training.model import ModelInfo

    imported = bentoml.mlflow.import_model(name, model_uri, labels={"source": "studio"})
    from studio.model_refs import check_mlmodel

    mlmodel = Model.load(imported.path_of("mlflow_model"))
    info = ModelInfo.model_validate(check_mlmodel(mlmodel.flavors, mlmodel.metadata, ref=model_uri))
    build_dir.mkdir(parents=True, exist_ok=True)
    import mlflow.sklearn

    from studio.export.service_code import known_categories

    categories = known_categories(mlflow.sklearn.load_model(imported.path_of("mlflow_model")))
    served = imported
    if onnx_path is not None:
        with bentoml.models.create(f"{name}-onnx", labels={"source": "studio", "runtime": "onnx"}) as served:
            shutil.copy(onnx_path, served.path_of("model.onnx"))
    write_service(build_dir, service_schema(
        info, model_tag=str(served.tag), model_uri=model_uri, service_name=name, categories=categories,
        runtime="native" if onnx_path is None else "onnx", batching=batching))
    bento = bentoml.bentos.build(
        "service:ModelService", name=name, build_ctx=str(build_dir), include=["schema.json", *SERVICE_FILES],
        labels={"model_uri": model_uri.replace("/", "_").replace(":", "_")},
        python={"packages": pinned_packages(), "lock_packages": False},
    )
    archive_dir.mkdir(parents=True, exist_ok=True)
    archive = bentoml.export_bento(bento.tag, str(archive_dir / f"{bento.tag.name}-{bento.tag.version}.bento"))
    return {"bento_tag": str(bento.tag), "model_tag": str(served.tag), "archive_path": archive,
            "service_path": str(build_dir / "service.py")}


if __name__ == "__main__":
    args = json.loads(sys.argv[1])
    out = build(args["model_uri"], name=args["name"], build_dir=Path(args["build_dir"]),
                archive_dir=Path(args["archive_dir"]), onnx_path=args.get("onnx_path"),
                batching=args.get("batching", True))
    print(json.dumps(out))
