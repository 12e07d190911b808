"""The files of an exported bento's service: `schema.json` (the model's columns, kinds, categories, clip bounds
and classes) and three files copied unchanged: `service.py` (`bento_service.py`), `studio_runtime.py`
(`bento_runtime.py`) and `studio_prepare.py` (`studio/prepare.py`, the studio's one input preparation).

Everything that comes from data (column names, categories, the target's classes, the model's and dataset's
names) reaches the service only as values in `schema.json`, never as Python source.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from studio import prepare
from studio.data.schema import ColumnKind
from studio.prepare import MISSING_CATEGORY
from studio.training.features import Feature, columns_of
from studio.training.model import ModelInfo

#: Numbers a request may send: finite and within this bound, so that no model overflows to infinity while
#: scaling or summing them (that would be a 500); larger values get a 400 naming the field.
MAX_ABS_NUMBER = 1e15
MAX_ROWS = 10_000  # per request; a larger body gets a 400
MAX_REQUEST_MB = 8.0  # per request body; a larger one gets a 413 (STUDIO_MAX_REQUEST_MB when serving)
SHOWN_CATEGORIES = 20
SERVICE_FILE = Path(__file__).with_name("bento_service.py")
#: The files a bento's service is made of: the name in the bento -> the studio's own file, copied unchanged.
SERVICE_FILES = {"service.py": SERVICE_FILE, "studio_runtime.py": Path(__file__).with_name("bento_runtime.py"),
                 "studio_prepare.py": Path(prepare.__file__)}


class ServiceField(BaseModel):
    name: str  # the column's own name: the JSON key
    kind: str
    description: str
    examples: list[str] = []


class ServiceColumn(BaseModel):
    name: str
    kind: str
    clip: tuple[float, float] | None = None


class ServiceSchema(BaseModel):
    """What `bento_service.py` reads from `schema.json`."""

    title: str
    model_tag: str
    model_uri: str
    service_name: str
    runtime: str
    batching: bool
    fields: list[ServiceField]
    columns: list[ServiceColumn]  # what studio_prepare.model_frame prepares, in the model's order
    classes: list[Any] | None
    prediction_types: list[str]
    max_rows: int
    max_abs_number: float
    max_request_mb: float


def known_categories(model: Any) -> dict[str, list[str]]:
    """The categories each categorical column had in training, read from the fitted encoders (of the first
    member, for an ensemble: they all saw the same rows)."""
    model = getattr(model, "fallback", None) or model  # a family: its fallback saw every category of every column
    members = getattr(model, "estimators_", None)  # a soft-voting ensemble of pipelines
    pipeline = members[0] if members else model
    found: dict[str, list[str]] = {}
    for _, transformer, columns in pipeline[0].transformers_:
        encoder = transformer[-1] if hasattr(transformer, "steps") else transformer
        for column, values in zip(columns, getattr(encoder, "categories_", []), strict=False):
            found[column] = [str(v) for v in values if str(v) != MISSING_CATEGORY]
    return found


def _describe(feature: Feature, categories: dict[str, list[str]]) -> str:
    if feature.kind is not ColumnKind.CATEGORICAL or feature.name not in categories:
        bounds = f" between -{MAX_ABS_NUMBER:g} and {MAX_ABS_NUMBER:g}" if feature.kind is ColumnKind.NUMERIC else ""
        return f"{feature.kind}{bounds}; null if missing"
    values = categories[feature.name]
    shown = ", ".join(values[:SHOWN_CATEGORIES]) + (f", ... ({len(values)} in all)" if len(values) > SHOWN_CATEGORIES
                                                   else "")
    return f"one of: {shown}. Another value is accepted and treated as unseen; null if missing"


def service_schema(info: ModelInfo, *, model_tag: str, model_uri: str, service_name: str,
                   max_rows: int = MAX_ROWS, categories: dict[str, list[str]] | None = None,
                   runtime: str = "native", batching: bool = True) -> ServiceSchema:
    """The schema a bento's service is built from: every value here is data, read by the service as JSON."""
    categories = categories or {}
    if info.classes is None:
        prediction_types = ["float"]
    else:
        kinds = {type(c).__name__ for c in info.classes}
        prediction_types = sorted(kinds) if kinds <= {"int", "str", "float", "bool"} else []
    return ServiceSchema(
        title=f"{model_uri} ({info.task} on {info.target!r})", model_tag=model_tag, model_uri=model_uri,
        service_name=service_name, runtime=runtime, batching=batching,
        fields=[ServiceField(name=f.name, kind=str(f.kind), description=_describe(f, categories),
                             examples=categories.get(f.name, [])[:1]) for f in info.features],
        columns=[ServiceColumn(name=c.name, kind=c.kind, clip=c.clip) for c in columns_of(info.features)],
        classes=info.classes, prediction_types=prediction_types, max_rows=max_rows, max_abs_number=MAX_ABS_NUMBER,
        max_request_mb=MAX_REQUEST_MB)


def write_service(build_dir: Path, schema: ServiceSchema) -> Path:
    """Write `schema.json` and the service's files (the same for every model) into `build_dir`; returns the
    path of `service.py`."""
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / "schema.json").write_text(schema.model_dump_json(indent=2), encoding="utf-8")
    for name, source in SERVICE_FILES.items():
        shutil.copyfile(source, build_dir / name)
    return build_dir / "service.py"
