"""One served bento for a whole family: rows carry their partition keys; models load on demand (cache stats)."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from studio.context import Studio
from studio.export.bento import export_bento
from studio.export.serving import call_predict, start_service, stop_service, wait_ready
from tests.many.test_family import shop_frame, train_shop


@pytest.mark.slow
def test_a_family_bento_routes_rows_and_loads_models_on_demand(studio: Studio, monkeypatch) -> None:
    frame = shop_frame(n_stores=2, n_items=3)
    result = train_shop(studio, frame, job_id="svc")
    export = export_bento(studio.tracker, studio.settings, result.model_uri)
    monkeypatch.setenv("STUDIO_FAMILY_CACHE_SIZE", "2")  # the service process reads it at start
    service = start_service(studio.settings, studio.engine, export.bento_tag)
    try:
        wait_ready(service, timeout=120)
        cold = httpx.post(f"{service.url}/cache_info", json={}).json()
        assert cold == {"hits": 0, "misses": 0, "loaded": 0, "capacity": 2, "partitions": 6}  # nothing at start
        rows = frame.drop(columns="sales").sample(12, random_state=0)
        unseen = {"store": 77, "item": "brand-new", "price": 4.0, "promo": 0}
        payload = [*rows.to_dict("records"), unseen]
        response = call_predict(service.url, payload)
        assert response.status_code == 200, response.body
        local = studio.tracker.load_model(result.model_uri).predict_frame(pd.DataFrame(payload))
        assert [r["prediction"] for r in response.body] == pytest.approx(local["prediction"].tolist())
        again = call_predict(service.url, payload[:1])
        assert again.status_code == 200
        warm = httpx.post(f"{service.url}/cache_info", json={}).json()
        assert warm["loaded"] == 2 and warm["misses"] >= 2 and warm["hits"] + warm["misses"] > cold["misses"]
    finally:
        stop_service(studio.engine, export.bento_tag)


@pytest.mark.slow
def test_a_forecasting_family_serves_the_next_days_from_its_kept_history(studio: Studio) -> None:
    from tests.many.test_forecast import weekly_sales

    frame = weekly_sales()
    result = train_shop(studio, frame, job_id="fc-svc", partition_by=["store"], time_column="date", horizon=7)
    export = export_bento(studio.tracker, studio.settings, result.model_uri)
    service = start_service(studio.settings, studio.engine, export.bento_tag)
    try:
        wait_ready(service, timeout=120)
        # the week after the data ends: keys, date and the planned promotions; no target, no lags
        payload = [{"date": f"2026-03-{d}", "store": store, "promo": d % 2} for d in (30, 31) for store in
                   ("s0", "s2")] + [{"date": "2026-04-01", "store": "new-store", "promo": 0}]
        response = call_predict(service.url, payload)
        assert response.status_code == 200, response.body
        local = studio.tracker.load_model(result.model_uri).predict_frame(pd.DataFrame(payload))
        assert [r["prediction"] for r in response.body] == pytest.approx(local["prediction"].tolist())
        week_before = frame.set_index(["store", "date"])["sales"]
        for row, served in zip(payload[:4], response.body[:4], strict=True):  # near last week's same weekday
            last_week = week_before[(row["store"], f"2026-03-{int(row['date'][-2:]) - 7}")]
            assert abs(served["prediction"] - 30 * row["promo"] - last_week) < 40
    finally:
        stop_service(studio.engine, export.bento_tag)
