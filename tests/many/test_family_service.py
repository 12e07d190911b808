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
    export = export_bento(studio, result.model_uri)
    monkeypatch.setenv("STUDIO_FAMILY_CACHE_SIZE", "2")  # the service process reads it at start
    service = start_service(studio, export.bento_tag)
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
        stop_service(studio, export.bento_tag)
