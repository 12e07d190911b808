"""The BentoML service every exported bento runs, copied into the bento unchanged: a model, one typed API.

Its input preparation is the studio's own (`studio_prepare.py`, a copy of `studio/prepare.py`); its schema, the
request and response models and the request guard are in `studio_runtime.py`. Nothing here comes from data.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import bentoml
import numpy as np
import pandas as pd
from pydantic import Field
from studio_prepare import model_frame, onnx_feed
from studio_runtime import CLASSES, COLUMNS, MAX_ROWS, SCHEMA, InputRow, Prediction, RequestGuard, predictions


@bentoml.service(name=SCHEMA["service_name"], traffic={"timeout": 60})
class ModelService:
    bento_model = bentoml.models.BentoModel(SCHEMA["model_tag"])

    def __init__(self) -> None:
        if SCHEMA["runtime"] == "onnx":
            import onnxruntime as ort

            self.session = ort.InferenceSession(self.bento_model.path_of("model.onnx"),
                                                providers=["CPUExecutionProvider"])
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
        return predictions(self._scores(model_frame(pd.DataFrame([r.model_dump(by_alias=True) for r in rows]),
                                                    COLUMNS)))

    @bentoml.api(route="/cache_info")
    def cache_info(self) -> dict[str, int]:
        """For a model family: the partition-model cache's hits, misses, models loaded now, capacity
        (STUDIO_FAMILY_CACHE_SIZE) and partitions; empty for a single model."""
        info = getattr(getattr(self, "pipeline", None), "cache_info", None)
        return info() if info is not None else {}

    def _scores(self, X: pd.DataFrame) -> Any:
        """Predictions (regression) or class probabilities."""
        if SCHEMA["runtime"] == "onnx":
            outputs = self.session.run(None, onnx_feed(X, COLUMNS, self.inputs))
            return np.asarray(outputs[0]).ravel() if CLASSES is None else np.asarray(outputs[1])
        return self.pipeline.predict(X) if CLASSES is None else self.pipeline.predict_proba(X)


ModelService.add_asgi_middleware(RequestGuard)  # type: ignore[attr-defined]
