"""The BentoML service every exported bento runs, copied into the bento unchanged.

Nothing in this file comes from data: the column names, kinds, categories, classes and clip bounds are read
from `schema.json` shipped beside it (written by `studio.export.service_code`), and the request model is
built from that file with `pydantic.create_model`, so a column may be named with any Unicode text and is
still only ever a JSON key. It is not imported by the studio itself.
"""

from __future__ import annotations

import functools
import json
import operator
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import bentoml
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, create_model

SCHEMA: dict[str, Any] = json.loads(Path(__file__).with_name("schema.json").read_text(encoding="utf-8"))
CLASSES: list[Any] | None = SCHEMA["classes"]
MAX_ROWS: int = SCHEMA["max_rows"]
#: The largest request body accepted (STUDIO_MAX_REQUEST_MB, default from the export); a larger one gets a 413.
MAX_BODY = int(float(os.environ.get("STUDIO_MAX_REQUEST_MB", SCHEMA["max_request_mb"])) * 2**20)
TOO_LARGE = (f"The request is larger than {MAX_BODY // 2**20} MB; send fewer rows per request "
             "(STUDIO_MAX_REQUEST_MB raises the cap).")
BOUND = SCHEMA["max_abs_number"]
Number = Annotated[float, Field(ge=-BOUND, le=BOUND, allow_inf_nan=False)]
_TYPES: dict[str, Any] = {"numeric": Number | None, "categorical": str | int | None, "boolean": bool | None,
                          "datetime": datetime | None}


def _input_row() -> type[BaseModel]:
    """One row to score; every column is required (null means missing), its JSON key the original column name."""
    fields: dict[str, Any] = {}
    for i, column in enumerate(SCHEMA["fields"]):
        extra = {"examples": column["examples"]} if column["examples"] else {}
        fields[f"f{i}"] = (_TYPES[column["kind"]], Field(alias=column["name"], description=column["description"],
                                                         **extra))
    return create_model("InputRow", __config__=ConfigDict(extra="forbid"), **fields)


def _prediction() -> type[BaseModel]:
    """The answer per row: the prediction (typed like the target's classes, a float for regression), class
    probabilities and the model version."""
    kinds = {"float": float, "int": int, "str": str, "bool": bool}
    found = [kinds[k] for k in SCHEMA["prediction_types"] if k in kinds]
    kind: Any = functools.reduce(operator.or_, found) if found else Any
    return create_model("Prediction", prediction=(kind, ...), probabilities=(dict[str, float] | None, None),
                        model_version=(str, SCHEMA["model_uri"]))


InputRow: Any = _input_row()
Prediction: Any = _prediction()


@bentoml.service(name=SCHEMA["service_name"], traffic={"timeout": 60})
class ModelService:
    bento_model = bentoml.models.BentoModel(SCHEMA["model_tag"])

    def __init__(self) -> None:
        if SCHEMA["runtime"] == "onnx":
            import onnxruntime as ort

            self.session = ort.InferenceSession(self.bento_model.path_of("model.onnx"),
                                                providers=["CPUExecutionProvider"])
            # the graph's inputs follow model_columns' order (their names may be sanitised copies)
            self.inputs = [i.name for i in self.session.get_inputs()]
            return
        import mlflow.sklearn

        self.pipeline = mlflow.sklearn.load_model(self.bento_model.path_of("mlflow_model"))
        if hasattr(self.pipeline, "cache_info"):  # a model family: partition models load on demand into an LRU
            self.pipeline.cache_size = int(os.environ.get("STUDIO_FAMILY_CACHE_SIZE", self.pipeline.cache_size))

    # a batch holds up to MAX_ROWS rows, so the largest request a client may send is one batch; the latency cap
    # (a request waiting longer gets a 503) leaves room for such a request on a busy service
    @bentoml.api(batchable=SCHEMA["batching"], max_batch_size=MAX_ROWS, max_latency_ms=30_000)
    def predict(self, rows: Annotated[list[InputRow], Field(min_length=1, max_length=MAX_ROWS)]
                ) -> list[Prediction]:
        scores = self._scores(prepare(pd.DataFrame([row.model_dump(by_alias=True) for row in rows])))
        if CLASSES is None:
            return [Prediction(prediction=float(p)) for p in scores]
        return [Prediction(prediction=CLASSES[int(p.argmax())],
                           probabilities={str(c): float(v) for c, v in zip(CLASSES, p, strict=True)}) for p in scores]

    @bentoml.api(route="/cache_info")
    def cache_info(self) -> dict[str, int]:
        """For a model family (one model per partition): the partition-model cache's hits, misses, models loaded
        now, capacity (STUDIO_FAMILY_CACHE_SIZE) and partitions; empty for a single model."""
        info = getattr(getattr(self, "pipeline", None), "cache_info", None)
        return info() if info is not None else {}

    def _scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Predictions (regression) or class probabilities."""
        if SCHEMA["runtime"] != "onnx":
            return self.pipeline.predict(frame) if CLASSES is None else self.pipeline.predict_proba(frame)
        feed = {}
        for input_name, name in zip(self.inputs, SCHEMA["model_columns"], strict=True):
            if name in SCHEMA["categorical"]:  # a missing category becomes the level the imputer learned
                feed[input_name] = frame[name].fillna(SCHEMA["missing_category"]).astype(str).to_numpy(
                    dtype=object)[:, None]
            else:
                feed[input_name] = frame[name].to_numpy(dtype=np.float32)[:, None]
        outputs = self.session.run(None, feed)
        return np.asarray(outputs[0]).ravel() if CLASSES is None else np.asarray(outputs[1])


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input frame, prepared as in training: numbers as floats, outliers capped, categories as text,
    dates expanded into the same numeric parts (each value on its own terms: naive = UTC, offsets moved to UTC)."""
    frame[SCHEMA["numeric"]] = frame[SCHEMA["numeric"]].astype("float64")
    for name, (low, high) in SCHEMA["clip"].items():
        frame[name] = frame[name].clip(low, high)
    for name in SCHEMA["categorical"]:
        frame[name] = frame[name].map(lambda v: np.nan if pd.isna(v) else str(v)).astype(object)
    for name in SCHEMA["dates"]:
        parsed = pd.to_datetime(frame.pop(name), errors="coerce", format="mixed", utc=True).dt.tz_localize(None)
        for part in SCHEMA["date_parts"]:
            frame[f"{name}__{part}"] = getattr(parsed.dt, part).astype("float64")
    return frame


class RequestGuard:
    """Only JSON, and only up to MAX_BODY bytes: a POST with another content type gets a 415 (the API takes rows
    as JSON, never files or pickles; BentoML would otherwise try to parse a form), a larger body a 413, counted
    while it arrives, so a body without a length header cannot grow memory past the cap either."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if kind != b"application/json":
            await _refuse(send, 415, "Send the rows as JSON, with the header content-type: application/json.")
            return
        declared = headers.get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > MAX_BODY:
            await _refuse(send, 413, TOO_LARGE)
            return
        chunks, size = [], 0
        while True:  # read the body here, bounded, then hand it on
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if size > MAX_BODY:
                await _refuse(send, 413, TOO_LARGE)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


async def _refuse(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


ModelService.add_asgi_middleware(RequestGuard)  # type: ignore[attr-defined]
