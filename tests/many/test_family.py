"""A family of models: trained per partition (on Dask in the first test, in this process elsewhere), registered as one
version, routed when scoring."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from studio.compute.inline import InlineFanOut
from studio.compute.profiles import ComputeProfile
from studio.context import Studio
from studio.many.router import PartitionRouter, partition_rows
from studio.many.train import FanOut, train_family
from studio.names import PARTITIONS_TABLE
from studio.training.draft import draft_spec
from studio.training.progress import TrainResult
from studio.training.spec import Budget, Forecasting, Partitioning, section
from tests.conftest import SMALL, ListReporter


def shop_frame(n_stores: int = 3, n_items: int = 4, rows: int = 80, seed: int = 0) -> pd.DataFrame:
    """Sales whose price effect differs by store x item (one global model cannot fit them all), plus one tiny
    partition that must fall back."""
    rng = np.random.default_rng(seed)
    parts = []
    for s in range(n_stores):
        for i in range(n_items):
            price = rng.uniform(1, 10, rows)
            promo = rng.integers(0, 2, rows)
            slope = (s + 1) * (1 if i % 2 else -1)
            parts.append(pd.DataFrame({"store": s, "item": f"i{i}", "price": price, "promo": promo,
                                       "sales": 50 + slope * price + 5 * promo + rng.normal(0, 1, rows)}))
    parts.append(pd.DataFrame({"store": 9, "item": "tiny", "price": [1.0, 2.0, 3.0], "promo": [0, 1, 0],
                               "sales": [40.0, 41.0, 42.0]}))
    return pd.concat(parts, ignore_index=True)


def train_shop(studio: Studio, frame: pd.DataFrame, *, job_id: str, reporter: ListReporter | None = None,
               fan_outs: Callable[[ComputeProfile], FanOut] = InlineFanOut.open, **draft: object) -> TrainResult:
    """Save `frame` as the dataset 'shop' and train a family on it: linear models per store x item with at least
    20 training rows, unless `draft` says otherwise (any `draft_spec` argument). The partitions are fitted in this
    process (`InlineFanOut`) unless `fan_outs` says otherwise; the first test below fits them on Dask."""
    record = studio.catalog.save(frame, "shop", source="test")
    parts = draft.pop("partition_by", ["store", "item"])
    forecast = {k: draft.pop(k) for k in ("time_column", "horizon", "season_length") if k in draft}
    options: dict[str, object] = {
        "target": "sales", "algorithms": ["linear"], "budget": Budget(seconds=draft.pop("budget_seconds", 30)),
        "partition": section(Partitioning, columns=parts, min_rows=draft.pop("min_rows", 20)) if parts else None,
        "forecast": section(Forecasting, **forecast) if forecast else None, **draft}
    spec = draft_spec(record, frame, **options)  # type: ignore[arg-type]
    return train_family(spec, catalog=studio.catalog, tracker=studio.tracker, job_id=job_id, profile=SMALL,
                        reporter=reporter or ListReporter(), fan_outs=fan_outs)


def test_a_family_beats_its_baselines_and_is_one_registered_version(studio: Studio) -> None:
    frame = shop_frame()
    record = studio.catalog.save(frame, "shop", source="test")
    spec = draft_spec(record, frame, target="sales", algorithms=["linear", "lightgbm"], budget=Budget(seconds=60),
                      partition=Partitioning(columns=["store", "item"], min_rows=20))
    assert {f.name: f.kind for f in spec.features}["store"] == "categorical"  # a store number is a name
    reporter = ListReporter()
    result = train_family(spec, catalog=studio.catalog, tracker=studio.tracker, job_id="fam", profile=SMALL,
                          reporter=reporter)
    assert result.model_uri == "models:/shop/1"
    table = studio.tracker.load_table(result.run_id, PARTITIONS_TABLE)
    own = table[table["status"] == "model"]
    assert len(own) == 12 and set(table.loc[table["status"] == "fallback", "key"]) >= {"9|tiny"}
    assert (own["score"] < own["baseline"]).all()  # RMSE: every partition model beats its mean baseline
    run = studio.tracker.client.get_run(result.run_id)
    assert run.data.metrics["partitions_modeled"] == 12 and run.data.metrics["partitions_beating_baseline"] == 1.0
    assert any("have at least 20 rows and get their own model" in line for line in reporter.lines)

    model = studio.tracker.load_model(result.model_uri)
    assert isinstance(model.pipeline, PartitionRouter)
    rows = frame.sample(50, random_state=1)
    unseen = pd.DataFrame({"store": [42], "item": ["new"], "price": [5.0], "promo": [1], "sales": [0.0]})
    scored = model.predict_frame(pd.concat([rows, unseen], ignore_index=True))
    assert len(scored) == 51 and scored["prediction"].notna().all()  # row order kept; unseen -> fallback
    assert model.pipeline.cache_info()["loaded"] <= 12 and model.pipeline.cache_info()["misses"] >= 1
    # each row is predicted by its own partition's model: the slope differs by partition
    one = rows.iloc[[0]]
    cheap, dear = one.assign(price=2.0), one.assign(price=8.0)
    store, item = int(one["store"].iloc[0]), one["item"].iloc[0]
    slope = (store + 1) * (1 if int(item[1:]) % 2 else -1)
    delta = float(model.predict_frame(dear)["prediction"].iloc[0] - model.predict_frame(cheap)["prediction"].iloc[0])
    assert delta == pytest.approx(6 * slope, rel=0.2, abs=1.0)


def test_the_router_loads_models_on_demand_into_an_lru_cache(studio: Studio) -> None:
    frame = shop_frame(n_stores=2, n_items=3)
    result = train_shop(studio, frame, job_id="lru")
    router: PartitionRouter = studio.tracker.load_model(result.model_uri).pipeline
    router.cache_size = 2
    assert router.cache_info()["loaded"] == 0  # nothing deserialized at load
    from studio.training.features import model_frame

    X = model_frame(frame, studio.tracker.load_model(result.model_uri).info.features)
    groups = partition_rows(X, ["store", "item"])
    keys = [k for k in groups if router.has_model(k)]
    for key in [keys[0], keys[1], keys[0], keys[2], keys[1]]:
        router.predict(X.iloc[groups[key]])
    info = router.cache_info()
    assert info["loaded"] == 2 and info["hits"] == 1 and info["misses"] == 4  # k1 evicted by k2 then reloaded


def test_a_failing_partition_is_listed_and_does_not_fail_the_job(studio: Studio) -> None:
    frame = shop_frame(n_stores=1, n_items=2)
    frame["label"] = np.where(frame["sales"] > frame["sales"].median(), "high", "low")
    frame.loc[frame["item"] == "i0", "label"] = "low"  # one partition holds one class only
    frame = frame.drop(columns="sales")
    result = train_shop(studio, frame, job_id="cls", target="label", partition_by=["item"])
    table = studio.tracker.load_table(result.run_id, PARTITIONS_TABLE).set_index("key")
    assert table.loc["i0", "status"] == "fallback" and "one class only" in table.loc["i0", "error"]
    assert table.loc["i1", "status"] == "model"
    scored = studio.tracker.load_model(result.model_uri).predict_frame(frame)
    assert {"proba_high", "proba_low"} <= set(scored.columns) and np.allclose(
        scored[["proba_high", "proba_low"]].sum(axis=1), 1)


def test_the_cli_trains_a_family_and_predict_routes_in_row_order(tmp_path, capsys) -> None:
    import json

    from studio.cli import main

    frame = shop_frame(n_stores=2, n_items=2)
    path = tmp_path / "shop.csv"
    frame.to_csv(path, index=False)
    assert main(["train", str(path), "--target", "sales", "--partition-by", "store,item", "--min-rows", "20",
                 "--algorithms", "linear", "--budget-seconds", "30", "--wait", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "succeeded" and out["model_uri"] == "models:/shop/1" and out["n_trials"] == 4
    new = frame.sample(frac=1, random_state=3).head(30)
    new.to_csv(tmp_path / "new.csv", index=False)
    assert main(["predict", out["model_uri"], "--data", str(tmp_path / "new.csv"), "--out",
                 str(tmp_path / "scored.csv"), "--with-input"]) == 0
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert scored["price"].tolist() == pytest.approx(new["price"].tolist())  # the input's row order
    assert np.corrcoef(scored["prediction"], new["sales"])[0, 1] > 0.9
    assert main(["train", str(path), "--target", "sales", "--partition-by", "nope"]) == 2
    assert "Partition columns ['nope'] are not in" in capsys.readouterr().err


class _Future:
    """A Dask future stand-in: computed when its result is asked for, never done before."""

    def __init__(self, compute) -> None:  # type: ignore[no-untyped-def]
        self.compute, self.cancelled = compute, False

    def done(self) -> bool:
        return False

    def result(self):  # type: ignore[no-untyped-def]
        assert not self.cancelled
        return self.compute()


class _LateFanOut:
    """Runs each batch only when its result is read, so the clock decides which batches were in time."""

    def share(self, *values):  # type: ignore[no-untyped-def]
        return list(values)

    def submit(self, fn, *args):  # type: ignore[no-untyped-def]
        return _Future(lambda: fn(*args))

    def cancel(self, futures) -> None:  # type: ignore[no-untyped-def]
        for f in futures:
            f.cancelled = True


def test_partitions_not_trained_when_the_budget_runs_out_go_to_the_fallback(studio: Studio,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import studio.many.train as family_train

    clock = iter([0.0, 0.0, 0.0] + [1e9] * 100)  # the deadline, the first two batches in time, then past it
    monkeypatch.setattr(family_train, "_now", lambda: next(clock))
    monkeypatch.setattr(family_train, "BATCH", 3)
    frame = shop_frame()
    reporter = ListReporter()
    result = train_shop(studio, frame, job_id="late", reporter=reporter, fan_outs=lambda profile: _LateFanOut())
    table = studio.tracker.load_table(result.run_id, PARTITIONS_TABLE)
    late = table[table["error"].fillna("").str.contains("time budget ran out")]
    assert (table["status"] == "model").sum() == 6 and len(late) == 6 and set(late["status"]) == {"fallback"}
    assert any("The time budget ran out: 6 partitions" in line for line in reporter.lines)
    scored = studio.tracker.load_model(result.model_uri).predict_frame(frame)
    assert scored["prediction"].notna().all()  # the late partitions are served by the fallback
