"""What every exported bento's service uses besides the model: its schema (read from `schema.json`), the request
and response models built from it, and the request guard. Shipped in the bento as `studio_runtime.py` (with
`studio_prepare.py`, the studio's one input preparation), copied unchanged.

Nothing in this file comes from data: column names, kinds, categories, classes and clip bounds are read from
`schema.json`, and the request model is built with `pydantic.create_model`, so a column may be named with any
Unicode text and is still only ever a JSON key.
"""

from __future__ import annotations

import functools
import json
import operator
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, create_model
from studio_prepare import Column

SCHEMA: dict[str, Any] = json.loads(Path(__file__).with_name("schema.json").read_text(encoding="utf-8"))
COLUMNS = [Column(c["name"], c["kind"], None if c["clip"] is None else tuple(c["clip"])) for c in SCHEMA["columns"]]
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


def predictions(scores: np.ndarray) -> list[Any]:
    """The response rows for the model's scores: predictions (regression) or class probabilities."""
    if CLASSES is None:
        return [Prediction(prediction=float(p)) for p in scores]
    return [Prediction(prediction=CLASSES[int(p.argmax())],
                       probabilities={str(c): float(v) for c, v in zip(CLASSES, p, strict=True)}) for p in scores]


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
