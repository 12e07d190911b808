"""Time counted in steps, and the time-ordered split of a forecast's rows: training up to the last `horizon`
steps, test rows within them (used by every training run with a forecast, single model or family)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from studio.errors import SpecError
from studio.prepare import parse_dates
from studio.training.spec import Forecasting

HOUR_NS = 3_600 * 10**9
DAY_NS = 24 * HOUR_NS
#: Steps per season by time step: the seasonal-naive baseline's and the seasonal lags' period.
SEASONS = {HOUR_NS: 24, DAY_NS: 7, 7 * DAY_NS: 52}
MONTH_SEASON = 12

@dataclass(frozen=True)
class TimeSteps:
    """How a time column is counted in steps: calendar months, or a fixed length (whole hours or longer)."""

    monthly: bool
    step_ns: int

    @classmethod
    def infer(cls, times: pd.Series, column: str) -> TimeSteps:
        distinct = np.unique(parse_dates(times).dropna().to_numpy().astype("datetime64[ns]").astype(np.int64))
        if len(distinct) < 3:
            raise SpecError(f"The time column '{column}' holds {len(distinct)} distinct times; forecasting needs a "
                            "series of them.")
        step = int(np.median(np.diff(distinct)))
        if 28 * DAY_NS <= step <= 31 * DAY_NS:
            return cls(monthly=True, step_ns=0)
        if step < HOUR_NS:
            raise SpecError(f"The time column '{column}' has a step of {pd.Timedelta(step)}; forecasting supports "
                            "steps of an hour or longer. Aggregate the data to hours or days first.")
        return cls(monthly=False, step_ns=round(step / HOUR_NS) * HOUR_NS)

    @property
    def label(self) -> str:
        if self.monthly:
            return "month"
        days, hours = divmod(self.step_ns // HOUR_NS, 24)
        return {(1, 0): "day", (7, 0): "week", (0, 1): "hour"}.get((days, hours), str(pd.Timedelta(self.step_ns)))

    @property
    def season(self) -> int | None:
        return MONTH_SEASON if self.monthly else SEASONS.get(self.step_ns)

    def numbers(self, times: pd.Series) -> np.ndarray:
        """Step numbers of timestamps (float, NaN where missing)."""
        ts = pd.to_datetime(times)
        if self.monthly:
            return (ts.dt.year * 12 + ts.dt.month - 1).to_numpy(dtype=float)
        ns = ts.to_numpy().astype("datetime64[ns]").astype(np.int64).astype(float)
        return np.where(ts.isna().to_numpy(), np.nan, np.floor(ns / self.step_ns))

    def numbers_from_parts(self, X: pd.DataFrame, column: str) -> np.ndarray:
        """Step numbers from a model frame, where the time column is already expanded into its date parts."""
        parts = {p: X[f"{column}__{p}"] for p in ("year", "month", "day", "hour")}
        return self.numbers(pd.to_datetime(pd.DataFrame(parts), errors="coerce"))


def time_split(frame: pd.DataFrame, forecast: Forecasting) -> tuple[np.ndarray, np.ndarray]:
    """Training rows up to the last `horizon` time steps of the data, test rows within them. Raises SpecError
    when too few steps are left to train on."""
    column = forecast.time_column
    steps = TimeSteps.infer(frame[column], column)
    numbers = steps.numbers(parse_dates(frame[column]))
    if np.isnan(numbers).any():
        raise SpecError(f"The time column '{column}' has {int(np.isnan(numbers).sum())} missing values; forecasting "
                        "needs a time on every row. Drop or fill those rows.")
    distinct = np.unique(numbers)
    cutoff = distinct.max() - forecast.horizon
    kept = int((distinct <= cutoff).sum())
    if kept < max(10, forecast.horizon):
        raise SpecError(f"The data spans {len(distinct)} time steps ({steps.label}s); forecasting "
                        f"{forecast.horizon} ahead leaves {kept} to train on, and at least {max(10, forecast.horizon)}"
                        " are needed. Lower the horizon or use a longer history.")
    positions = np.arange(len(frame))
    return positions[numbers <= cutoff], positions[numbers > cutoff]
