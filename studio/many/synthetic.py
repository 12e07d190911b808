"""A realistic synthetic store x item daily sales table, generated offline (for benchmarks, tests and samples).

Each store x item has its own level, price elasticity and promotion uplift; sales follow a weekly pattern that
differs by store, a yearly season that differs by item, price changes around each item's list price, and
Poisson noise. Items launch at different dates and some stores stock few items, so many partitions are small.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def store_item_sales(n_stores: int = 10, n_items: int = 50, days: int = 120, *, seed: int = 0,
                     start: str = "2025-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    day_of_year = dates.dayofyear.to_numpy()
    weekday = dates.dayofweek.to_numpy()
    frames = []
    for store in range(n_stores):
        week = 1 + rng.uniform(0.05, 0.4) * np.sin(2 * np.pi * (weekday - rng.integers(0, 7)) / 7)
        stocked = rng.random(n_items) < rng.uniform(0.5, 1.0)
        for item in np.flatnonzero(stocked):
            launch = int(rng.integers(0, days * 3 // 4)) if rng.random() < 0.3 else 0  # late launches: small
            span = slice(launch, days)
            n = days - launch
            list_price = float(np.round(rng.lognormal(1.5, 0.5), 2))
            price = np.round(list_price * rng.choice([1.0, 1.0, 1.0, 0.9, 0.8, 1.1], n), 2)
            promo = (rng.random(n) < 0.12).astype(int)
            level = rng.lognormal(2.0, 0.7)
            elasticity = rng.uniform(-2.5, -0.5)
            uplift = rng.uniform(1.1, 2.0)
            season = 1 + rng.uniform(0, 0.5) * np.sin(2 * np.pi * (day_of_year[span] - rng.integers(0, 365)) / 365)
            mean = level * week[span] * season * (price / list_price) ** elasticity * np.where(promo, uplift, 1.0)
            frames.append(pd.DataFrame({
                "date": dates[span], "store": f"S{store:03d}", "item": f"I{item:04d}", "price": price,
                "promo": promo, "sales": rng.poisson(mean).astype(float)}))
    return pd.concat(frames, ignore_index=True)
