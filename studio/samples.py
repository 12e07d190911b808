"""Sample datasets for a first run, generated offline and seeded: a classification, a regression and a store x item
sales table (many models and forecasting). Each knows its target and the settings of its guided first model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from studio.errors import StudioError
from studio.many.synthetic import store_item_sales

if TYPE_CHECKING:
    from studio.data.catalog import DatasetCatalog, DatasetRecord


def customer_churn(n: int = 2_000, seed: int = 7) -> pd.DataFrame:
    """Telecom customers and whether they left: contract, tenure, charges, support calls (some values missing)."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(1, 72, n)
    contract = rng.choice(["month-to-month", "one year", "two year"], n, p=[0.55, 0.25, 0.2])
    internet = rng.choice(["fiber", "dsl", "none"], n, p=[0.45, 0.4, 0.15])
    charges = (np.select([internet == "fiber", internet == "dsl"], [85, 55], 25) + rng.normal(0, 12, n)).round(2)
    calls = rng.poisson(1.2, n)
    auto_pay = rng.random(n) < 0.5
    senior = rng.random(n) < 0.16
    logit = (-1.2 - 0.045 * tenure + 0.02 * (charges - 60) + 0.45 * calls
             + np.select([contract == "month-to-month", contract == "one year"], [1.3, 0.0], -1.2)
             - 0.5 * auto_pay + 0.4 * senior + rng.normal(0, 0.6, n))
    frame = pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(n)], "tenure_months": tenure,
                          "contract": contract, "internet": internet, "monthly_charges": charges,
                          "support_calls": calls, "auto_pay": auto_pay, "senior": senior,
                          "churned": np.where(logit > 0, "yes", "no")})
    frame.loc[rng.random(n) < 0.03, "monthly_charges"] = np.nan
    frame.loc[rng.random(n) < 0.02, "internet"] = None
    return frame


def house_prices(n: int = 1_500, seed: int = 11) -> pd.DataFrame:
    """Homes and their sale price: size, rooms, age, neighbourhood, garage, condition, sale date."""
    rng = np.random.default_rng(seed)
    hoods = np.array(["riverside", "old town", "hillcrest", "harbor", "meadows", "northgate"])
    premium = dict(zip(hoods, [1.25, 1.1, 1.35, 1.2, 0.9, 0.95], strict=True))
    hood = rng.choice(hoods, n)
    area = rng.gamma(9, 14, n).round()
    rooms = np.clip((area / 28 + rng.normal(0, 1, n)).round(), 1, 9).astype(int)
    built = rng.integers(1920, 2024, n)
    garage = rng.random(n) < 0.6
    condition = rng.choice(["poor", "fair", "good", "excellent"], n, p=[0.1, 0.3, 0.45, 0.15])
    sold = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 4 * 365, n), unit="D")
    price = (2_600 * area * np.vectorize(premium.get)(hood) * (1 + 0.03 * rooms) * (1 - 0.0015 * (2024 - built))
             * np.select([condition == "poor", condition == "excellent"], [0.85, 1.15], 1.0)
             * (1 + 0.06 * garage) * (1 + 0.0002 * (sold - pd.Timestamp("2022-01-01")).days)
             * rng.lognormal(0, 0.08, n))
    return pd.DataFrame({"neighbourhood": hood, "area_m2": area, "rooms": rooms, "year_built": built,
                         "garage": garage, "condition": condition, "sold_on": sold.strftime("%Y-%m-%d"),
                         "price": price.round(-2)})


def store_item_daily(seed: int = 5) -> pd.DataFrame:
    """Daily sales of 8 stores x 25 items over 180 days (see `studio.many.synthetic.store_item_sales`)."""
    return store_item_sales(n_stores=8, n_items=25, days=180, seed=seed)


@dataclass(frozen=True)
class Sample:
    name: str
    label: str
    description: str
    target: str
    build: Callable[[], pd.DataFrame]
    partition_by: tuple[str, ...] = ()
    time_column: str | None = None


SAMPLES = {s.name: s for s in (
    Sample("customer-churn", "Customer churn (classification)",
           "2,000 telecom customers: contract, tenure, charges, support calls. Predict who leaves (yes/no).",
           "churned", customer_churn),
    Sample("house-prices", "House prices (regression)",
           "1,500 home sales: size, rooms, age, neighbourhood, condition, sale date. Predict the price.",
           "price", house_prices),
    Sample("store-item-sales", "Store x item sales (many models, forecasting)",
           "Daily sales of 8 stores x 25 items over 180 days with prices and promotions. Train one model per "
           "store x item, or forecast the next two weeks.", "sales", store_item_daily,
           partition_by=("store", "item"), time_column="date"),
)}


def add_sample(catalog: DatasetCatalog, name: str) -> DatasetRecord:
    """Save a sample as a dataset; adding it again returns the same snapshot (the rows are seeded)."""
    sample = SAMPLES.get(name)
    if sample is None:
        raise StudioError(f"There is no sample dataset '{name}'; choose from {', '.join(SAMPLES)}.")
    return catalog.save(sample.build(), name, source=f"sample: {sample.label}")
