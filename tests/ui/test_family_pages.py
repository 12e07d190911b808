"""The Train page's partition choice and the Runs page's Partitions view, headless, on a real trained family."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from studio.context import Studio
from tests.conftest import REPO, make_settings
from tests.many.test_family import shop_frame, train_shop


def _app() -> AppTest:
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=90)
    at.run()
    return at


def test_choosing_partition_columns_previews_them_and_goes_into_the_spec(tmp_path: Path) -> None:
    studio = Studio(make_settings(tmp_path / "home"))
    studio.catalog.save(shop_frame(), "shop", source="test")
    at = _app()
    at.switch_page("app_pages/train.py").run()
    next(s for s in at.selectbox if s.label.startswith("Target")).set_value("sales").run()
    next(m for m in at.multiselect if m.label == "Partition columns").set_value(["store", "item"]).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("13 partitions; about 12 get their own model, 1 the fallback" in c.value for c in at.caption)
    spec = next(c.value for c in at.code if '"partition"' in c.value)
    assert '"columns": [\n      "store",\n      "item"\n    ]' in spec and '"min_rows": 30' in spec


def test_the_partitions_view_of_a_family_run(tmp_path: Path) -> None:
    studio = Studio(make_settings(tmp_path / "home"))
    frame = shop_frame()
    train_shop(studio, frame, job_id="ui")
    at = _app()
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio[0].options[0] == "Partitions" and "Tuning" not in at.radio[0].options
    shown = {m.label: m.value for m in at.metric}
    assert shown["Partitions"] == "13" and shown["Own model"] == "12" and shown["Beat their baseline"] == "100%"
    assert any(s.label == "Heat-map rows" for s in at.selectbox)
    drill = next(s for s in at.selectbox if s.label == "Diagnostics of one partition")
    drill.set_value(drill.options[-1]).run()
    assert not at.exception and any("held-out rows of partition" in c.value for c in at.caption)


def test_the_models_page_promotes_a_family_partition_by_partition(tmp_path: Path) -> None:
    studio = Studio(make_settings(tmp_path / "home"))
    frame = shop_frame(n_stores=1, n_items=3)
    train_shop(studio, frame, job_id="m1")
    at = _app()
    at.switch_page("app_pages/models.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("3 partitions pass and take v1's model" in c.value for c in at.caption)
    next(n for n in at.number_input if n.label.startswith("Beat its baseline")).set_value(99.0).run()
    assert any("0 partitions pass" in c.value and "3 go to the fallback" in c.value for c in at.caption)
    next(n for n in at.number_input if n.label.startswith("Beat its baseline")).set_value(5.0).run()
    next(b for b in at.button if b.label.startswith("Promote v1's passing partitions")).click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("now points at v2: v1's model for 3 partitions" in s.value for s in at.success)
    assert studio.registry.holder("shop").version == "2"


def test_a_forecast_is_chosen_on_the_train_page_and_drawn_on_the_runs_page(tmp_path: Path) -> None:
    from tests.many.test_forecast import weekly_sales

    studio = Studio(make_settings(tmp_path / "home"))
    frame = weekly_sales()
    studio.catalog.save(frame, "daily", source="test")
    at = _app()
    at.switch_page("app_pages/train.py").run()
    next(s for s in at.selectbox if s.label.startswith("Target")).set_value("sales").run()
    toggle = next(t for t in at.toggle if t.label == "Forecast ahead in time")
    assert toggle.disabled  # no partition columns yet
    next(m for m in at.multiselect if m.label == "Partition columns").set_value(["store"]).run()
    next(t for t in at.toggle if t.label == "Forecast ahead in time").set_value(True).run()
    next(n for n in at.number_input if n.label.startswith("Horizon")).set_value(5).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    spec = next(c.value for c in at.code if '"forecast"' in c.value)
    assert '"time_column": "date"' in spec and '"horizon": 5' in spec and '"task": "regression"' in spec

    train_shop(studio, frame, job_id="fc-ui", partition_by=["store"], time_column="date", horizon=7)
    at = _app()
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    drill = next(s for s in at.selectbox if s.label == "Diagnostics of one partition")
    drill.set_value("s1").run()
    assert not at.exception and any("7 held-out rows of partition s1" in c.value for c in at.caption)
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Forecast of partition s1 over its held-out steps" in t for t in titles)
