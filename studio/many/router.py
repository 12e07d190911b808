"""A family of models behind one scikit-learn estimator: rows are routed by their partition columns.

The family is logged, registered, loaded, batch-scored and exported exactly like a single model (it is one
estimator with `predict` / `predict_proba`), so every path the studio has works for it. Each partition's
fitted pipeline is kept serialized (skops bytes) and deserialized only when a row of that partition arrives,
into an LRU cache of `cache_size` models: a family of 10,000 partitions loads in the time it takes to read its
file, never all models at start. Partitions without their own model, and partitions never seen in training,
go to the fallback model (trained on every row, with the partition columns as features). A forecasting family
adds the target's lags to each row from the history it keeps (`studio.many.forecast.ForecastLags`) first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

#: Models kept deserialized at once by default (a served family: the hot partitions).
CACHE_SIZE = 256


def partition_key(values: Sequence[Any]) -> str:
    """The key of one partition: its column values joined (missing as empty), e.g. 'north|17'."""
    return "|".join("" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values)


def partition_rows(X: pd.DataFrame, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Positions of the rows of each partition, in first-seen order."""
    groups = X.groupby(list(columns), sort=False, dropna=False).indices
    return {partition_key(k if isinstance(k, tuple) else (k,)): np.asarray(v) for k, v in groups.items()}


class PartitionRouter(BaseEstimator):  # type: ignore[misc]
    def __init__(self, partition_columns: Sequence[str] = (), models: dict[str, bytes] | None = None,
                 fallback: Any = None, trusted: Sequence[str] = (), n_classes: int | None = None,
                 cache_size: int = CACHE_SIZE, forecast: Any = None) -> None:
        self.partition_columns = partition_columns
        self.models = models
        self.fallback = fallback
        self.trusted = trusted
        self.n_classes = n_classes
        self.cache_size = cache_size
        self.forecast = forecast  # a ForecastLags: a forecasting family builds its target lags from its history

    # -- serving ---------------------------------------------------------------------------------------
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._route(X, "predict")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if self.n_classes is None:
            raise AttributeError("a regression family has no predict_proba")
        return self._route(X, "predict_proba")

    @property
    def classes_(self) -> np.ndarray:
        return np.arange(self.n_classes or 0)

    def cache_info(self) -> dict[str, int]:
        """Hits and misses of the model cache, and how many models are loaded now."""
        state = self._state()
        return {"hits": state["hits"], "misses": state["misses"], "loaded": len(state["cache"]),
                "capacity": self.cache_size, "partitions": len(self.models or {})}

    def has_model(self, key: str) -> bool:
        return key in (self.models or {})

    def _route(self, X: pd.DataFrame, method: str) -> np.ndarray:
        width = self.n_classes if method == "predict_proba" else None
        out = np.zeros((len(X), width)) if width else np.zeros(len(X))
        groups = partition_rows(X, self.partition_columns)
        if self.forecast is not None:
            X = self.forecast.add(X, groups)
        for key, rows in groups.items():
            model = self._model(key)
            part = X.iloc[rows]
            if model is None:
                out[rows] = getattr(self.fallback, method)(part)
            elif width:
                proba = model.predict_proba(part)  # a partition may have seen only some of the classes
                out[np.ix_(rows, np.asarray(model.classes_, dtype=int))] = proba
            else:
                out[rows] = model.predict(part)
        if method == "predict" and self.n_classes is not None:
            return out.astype(int)
        return out

    def _model(self, key: str) -> Any:
        blob = (self.models or {}).get(key)
        if blob is None:
            return None
        state = self._state()
        with state["lock"]:
            cache: OrderedDict[str, Any] = state["cache"]
            if key in cache:
                cache.move_to_end(key)
                state["hits"] += 1
                return cache[key]
            state["misses"] += 1
        import skops.io as sio

        model = sio.loads(blob, trusted=list(self.trusted))
        with state["lock"]:
            cache[key] = model
            while len(cache) > max(self.cache_size, 1):
                cache.popitem(last=False)
        return model

    def _state(self) -> dict[str, Any]:
        # built lazily and never serialized: a loaded family starts with an empty cache
        state = self.__dict__.get("_cache_state")
        if state is None:
            state = {"lock": threading.Lock(), "cache": OrderedDict(), "hits": 0, "misses": 0}
            self.__dict__["_cache_state"] = state
        return state

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_cache_state"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
