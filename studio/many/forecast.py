"""Forecasting per partition: time steps, lag features the horizon allows, the time-ordered split and the naive
baselines.

A forecast `horizon` steps ahead can only use the target's values at least `horizon` steps back: those are the
lags (the horizon itself, the seasonal lags at or beyond it, and the mean of one season ending at the horizon).
Calendar parts come from the time column like any date feature; every other feature is a known future covariate
(a planned price, a promotion) the caller supplies for the dates forecast.

The family's router keeps every partition's target history (`ForecastLags.history`, Parquet bytes) and builds
the lags itself, so a request carries only the partition keys, the date and the covariates, exactly like
training rows without the target. Time is counted in integer steps (a month is one step; days, weeks and
hours are fixed lengths), so a lag is a subtraction and a lookup, identical in training and serving.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from studio.data.schema import ColumnKind
from studio.training.features import Feature
from studio.training.time_steps import TimeSteps

#: Combined (partition code, step) lookup keys: code * 2**32 + step + 2**31.
_SHIFT = 2**32
_OFFSET = 2**31


@dataclass(frozen=True)
class LagPlan:
    """The target lags a horizon allows: the horizon itself, the seasonal lags at or beyond it, and the mean
    of the season (or three steps) ending at the horizon."""

    target: str
    horizon: int
    lags: tuple[int, ...]
    window: int
    season: int | None = None

    @classmethod
    def for_horizon(cls, target: str, horizon: int, season: int | None, train_steps: int) -> LagPlan:
        lags = {horizon}
        if season:
            first = season * math.ceil(horizon / season)
            lags |= {first, first + season}
        usable = tuple(sorted(k for k in lags if k <= train_steps // 2))  # a lag needs history to learn from
        return cls(target, horizon, usable, season or 3, season)

    @property
    def names(self) -> list[str]:
        lags = [f"{self.target}__lag_{k}" for k in self.lags] + [self.mean_name] if self.lags else []
        return lags + ([self.season_name] if self.season else [])

    @property
    def mean_name(self) -> str:
        return f"{self.target}__mean_{self.window}_at_{self.horizon}"

    @property
    def season_name(self) -> str:
        """The step's place in the season (the weekday of daily data, the month of monthly data) as a category,
        so a linear model gets a level per place rather than a slope over them."""
        return f"{self.target}__season_{self.season}"

    def features(self) -> tuple[Feature, ...]:
        return tuple(Feature(name=n, kind=ColumnKind.CATEGORICAL if n == self.season_name else ColumnKind.NUMERIC,
                             n_distinct=self.season if n == self.season_name else None) for n in self.names)


class ForecastLags:
    """Builds a family's lag features from the target history it keeps (serialized with the router)."""

    def __init__(self, time_column: str, monthly: bool, step_ns: int, target: str, horizon: int,
                 lags: tuple[int, ...], window: int, history: bytes, season: int | None = None) -> None:
        self.time_column = time_column
        self.monthly = monthly
        self.step_ns = step_ns
        self.target = target
        self.horizon = horizon
        self.lags = lags
        self.window = window
        self.history = history
        self.season = season

    @classmethod
    def of(cls, time_column: str, steps: TimeSteps, plan: LagPlan, keys: np.ndarray, step_numbers: np.ndarray,
           values: np.ndarray) -> ForecastLags:
        table = pd.DataFrame({"key": pd.Categorical(keys), "step": step_numbers, "value": values}).dropna()
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False, compression="zstd")
        return cls(time_column, steps.monthly, steps.step_ns, plan.target, plan.horizon, plan.lags, plan.window,
                   buffer.getvalue(), plan.season)

    @property
    def steps(self) -> TimeSteps:
        return TimeSteps(self.monthly, self.step_ns)

    @property
    def plan(self) -> LagPlan:
        return LagPlan(self.target, self.horizon, self.lags, self.window, self.season)

    def add(self, X: pd.DataFrame, groups: Mapping[str, np.ndarray]) -> pd.DataFrame:
        """X (a model frame) with the lag columns, looked up in the history by each row's partition and step."""
        if not self.plan.names:
            return X
        codes, index, values = self._lookup()
        step = self.steps.numbers_from_parts(X, self.time_column)
        return with_lags(X, self.plan, row_codes(groups, codes, len(X)), step, index, values)

    def _lookup(self) -> tuple[dict[str, int], pd.Index, np.ndarray]:
        cached = self.__dict__.get("_decoded")
        if cached is None:
            table = pd.read_parquet(io.BytesIO(self.history))
            categories = table["key"].cat.categories
            codes = table["key"].cat.codes.to_numpy(dtype=np.int64)
            cached = ({str(k): i for i, k in enumerate(categories)},
                      pd.Index(combined(codes, table["step"].to_numpy())), table["value"].to_numpy(dtype=float))
            self.__dict__["_decoded"] = cached
        return cached

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_decoded"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def row_codes(groups: Mapping[str, np.ndarray], codes: Mapping[str, int], n: int) -> np.ndarray:
    """Each of `n` rows' partition code (-1 for a partition without history), from the rows of each partition."""
    out = np.full(n, -1, dtype=np.int64)
    for key, rows in groups.items():
        out[rows] = codes.get(key, -1)
    return out


def combined(codes: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """One int64 per (partition code, step); -1 where either is unknown."""
    valid = (codes >= 0) & np.isfinite(steps)
    out = np.full(len(codes), -1, dtype=np.int64)
    out[valid] = codes[valid] * _SHIFT + steps[valid].astype(np.int64) + _OFFSET
    return out


def with_lags(X: pd.DataFrame, plan: LagPlan, codes: np.ndarray, steps: np.ndarray, index: pd.Index,
              values: np.ndarray) -> pd.DataFrame:
    """X with the plan's lag columns: the history value `k` steps before each row (NaN when unknown)."""
    looked_up: dict[int, np.ndarray] = {}  # each distinct lag once: the mean's window starts at the horizon lag

    def back(k: int) -> np.ndarray:
        if k not in looked_up:
            at = index.get_indexer(combined(codes, steps - k))
            looked_up[k] = np.where(at >= 0, values[np.maximum(at, 0)], np.nan)
        return looked_up[k]

    out = X.copy()
    if plan.lags:
        for k in plan.lags:
            out[f"{plan.target}__lag_{k}"] = back(k)
        window = np.column_stack([back(plan.horizon + i) for i in range(plan.window)])
        with np.errstate(all="ignore"):
            known = np.isfinite(window).sum(axis=1)
            out[plan.mean_name] = np.where(known > 0, np.nansum(window, axis=1) / np.maximum(known, 1), np.nan)
    if plan.season:
        places = np.array([str(i) for i in range(plan.season)], dtype=object)
        known_step = np.isfinite(steps)
        place = np.full(len(steps), np.nan, dtype=object)
        place[known_step] = places[np.mod(steps[known_step], plan.season).astype(int)]
        out[plan.season_name] = place
    return out


def naive_baselines(y_train: np.ndarray, train_steps: np.ndarray, test_steps: np.ndarray,
                    season: int | None) -> dict[str, np.ndarray]:
    """A partition's naive forecasts of its test steps: its last value, and (with a season) the value one or
    more whole seasons back from each test step, within the training history (else the last value)."""
    order = np.argsort(train_steps, kind="stable")
    steps, values = train_steps[order], y_train[order]
    last = np.full(len(test_steps), values[-1], dtype=float)
    out = {"last value": last}
    if season:
        ahead = test_steps - steps[-1]
        back = test_steps - season * np.ceil(np.maximum(ahead, 1) / season)
        at = np.searchsorted(steps, back)
        found = (at < len(steps)) & (steps[np.minimum(at, len(steps) - 1)] == back)
        out["seasonal naive"] = np.where(found, values[np.minimum(at, len(steps) - 1)], last)
    return out
