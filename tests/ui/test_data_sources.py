"""The Data page's Database and Parquet/Delta tabs, driven headless against the real local PostgreSQL and files."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
import streamlit as st
from deltalake import write_deltalake
from streamlit.testing.v1 import AppTest

from studio.context import Studio
from tests.conftest import REPO, churn_frame, make_settings


@pytest.fixture
def app() -> AppTest:
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("app_pages/data.py").run()
    assert not at.exception
    return at


def _by_label(widgets: object, label: str) -> object:
    return next(w for w in widgets if w.label.startswith(label))  # type: ignore[attr-defined]


def test_connect_browse_snapshot_a_table_and_a_query_then_refresh(app: AppTest, postgres_url: str,
                                                                  tmp_path: Path) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        churn_frame(150).to_sql("churn", conn, index=False)
    url = sa.make_url(postgres_url)
    at = app
    _by_label(at.text_input, "Host").set_value(url.host)
    _by_label(at.number_input, "Port").set_value(url.port)
    _by_label(at.text_input, "Database").set_value(url.database)
    _by_label(at.text_input, "User").set_value(url.username)
    _by_label(at.text_input, "Save as").set_value("warehouse")
    next(b for b in at.button if b.label == "Connect").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Connected to" in s.value for s in at.success)
    assert "churn" in at.dataframe[-1].value["table"].tolist()
    assert at.dataframe[-1].value.set_index("table").loc["churn", "rows"] == 150
    _by_label(at.text_input, "Dataset name").set_value("churn")
    next(b for b in at.button if b.label == "Take snapshot").click().run()
    assert any("Saved **churn-v1** (150 rows" in s.value for s in at.success)

    _by_label(at.radio, "Read").set_value("A query").run()
    _by_label(at.text_area, "SELECT query").set_value("DELETE FROM churn").run()
    next(b for b in at.button if b.label == "Take snapshot").click().run()
    assert any("Refused" in e.value for e in at.error)
    _by_label(at.text_area, "SELECT query").set_value("SELECT * FROM churn WHERE plan = 'pro'").run()
    _by_label(at.text_input, "Dataset name").set_value("pro customers")
    next(b for b in at.button if b.label == "Take snapshot").click().run()
    assert any("Saved **pro-customers-v1**" in s.value for s in at.success)

    studio = Studio(make_settings(tmp_path / "home"))
    assert [c.name for c in studio.connections.list()] == ["warehouse"]
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM churn WHERE tenure > 40"))
    engine.dispose()
    _by_label(at.selectbox, "Dataset").set_value("churn-v1").run()
    assert any("Source: sql churn @ warehouse" in c.value for c in at.caption)
    next(b for b in at.button if b.label == "Refresh from the source").click().run()
    assert any("Saved **churn-v2**" in s.value for s in at.success)


def test_a_wrong_host_says_so_and_nothing_is_saved(app: AppTest, tmp_path: Path) -> None:
    at = app
    _by_label(at.text_input, "Host").set_value("127.0.0.1")
    _by_label(at.number_input, "Port").set_value(1)
    _by_label(at.text_input, "Database").set_value("test")
    _by_label(at.text_input, "Save as").set_value("broken")
    next(b for b in at.button if b.label == "Connect").click().run()
    assert not at.exception
    assert any("check the host and port" in e.value for e in at.error)
    assert Studio(make_settings(tmp_path / "home")).connections.list() == []


def test_a_delta_table_with_columns_and_a_filter(app: AppTest, tmp_path: Path) -> None:
    frame = churn_frame(200)
    data = Studio(make_settings(tmp_path / "home")).settings.data_paths[0]  # the Parquet/Delta reads stay in here
    write_deltalake(data / "churn_delta", frame)
    at = app
    _by_label(at.text_input, "Path").set_value("churn_delta")  # relative to the data folder
    next(b for b in at.button if b.label == "Open").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("Delta table" in m.value for m in at.markdown)
    _by_label(at.multiselect, "Columns to read").set_value(["tenure", "plan", "churned"]).run()
    _by_label(at.number_input, "Row limit").set_value(50).run()
    next(b for b in at.button if b.label == "Take snapshot").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any("(50 rows x 3 columns" in s.value for s in at.success)
    assert any("delta" in c.value and "version 0" in c.value for c in at.caption)


def test_a_big_upload_streams_to_disk_and_saves(app: AppTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import studio.ui.data as ui_data

    monkeypatch.setattr(ui_data, "STREAM_CSV_BYTES", 0)  # stream even this small file
    frame = churn_frame(400)
    at = app
    at.file_uploader[0].set_value(("shop.csv", frame.to_csv(index=False).encode(), "text/csv")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = {m.label: m.value for m in at.metric}
    assert shown["Rows"] == "400" and shown["Duplicate rows"] == str(int(frame.duplicated().sum()))
    assert any(b.label == "Download the profile (HTML)" for b in at.get("download_button"))
    next(b for b in at.button if b.label == "Save dataset").click().run()
    assert any("Saved **shop-v1** (400 rows" in s.value for s in at.success)
    record = Studio(make_settings(tmp_path / "home")).catalog.get("shop-v1")
    assert record.source == "upload:shop.csv" and record.column("plan").n_missing == frame["plan"].isna().sum()


def test_the_train_page_records_data_preparation_in_the_spec(app: AppTest, tmp_path: Path) -> None:
    studio = Studio(make_settings(tmp_path / "home"))
    studio.catalog.save(churn_frame(200), "churn", source="test")
    at = app
    at.switch_page("app_pages/train.py").run()
    _by_label(at.toggle, "Drop duplicate rows").set_value(True).run()
    _by_label(at.selectbox, "Cap outliers").set_value("iqr").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    spec = next(c.value for c in at.code if '"cleaning"' in c.value)
    assert '"drop_duplicates": true' in spec and '"cap_outliers": "iqr"' in spec and '"clip": [' in spec
