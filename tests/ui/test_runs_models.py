"""The Runs and Models pages over seeded runs: filtering and selecting, comparing, every analysis tab,
promotion through gates, rollback and the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from studio.context import Studio
from studio.registry import GatePolicy, GateRule
from studio.studies import storage_for
from studio.training.draft import draft_spec
from studio.training.run import train
from studio.training.spec import Budget
from tests.conftest import INLINE, SMALL, ListReporter, churn_frame, make_settings
from tests.ui.test_pages import _click, _open, app  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _titles(at: AppTest) -> set[str]:
    return {f["layout"].get("title", {}).get("text", "") for f in _figures(at)}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A studio home with two finished training runs of one model (linear, then lightgbm)."""
    home = tmp_path_factory.mktemp("seeded") / "home"
    studio = Studio(make_settings(home))
    frame = churn_frame(300)
    record = studio.catalog.save(frame, "churn", source="test")
    for n, algorithms in enumerate((["linear"], ["lightgbm", "random_forest"])):
        spec = draft_spec(record, frame, target="churned", algorithms=algorithms,
                          budget=Budget(max_trials=4, seconds=None))
        # the first run's model is one linear configuration (a blend of two, 3:1, can edge it on validation)
        spec = spec.model_copy(update={"ensemble": n > 0})
        # trials in this process: these tests are of the pages, not of the job system or Dask (tests/jobs, compute)
        train(spec, catalog=studio.catalog, tracker=studio.tracker, job_id=f"seed{n}", profile=SMALL, pools=INLINE,
              storage=storage_for(studio.settings, f"job-seed{n}"), reporter=ListReporter())
    return home


@pytest.fixture
def home(seeded: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STUDIO_HOME", str(seeded))
    return seeded


def test_runs_page_filters_selects_and_draws_every_tab(app: AppTest, home: Path) -> None:  # noqa: F811
    at = _open(app, "runs")
    board = at.dataframe[0].value
    assert len(board) == 2 and list(board["rank"]) == [1, 2]
    next(s for s in at.selectbox if s.label == "Algorithm").set_value("linear").run()
    assert list(at.dataframe[0].value["algorithm"]) == ["linear"]
    next(s for s in at.selectbox if s.label == "Algorithm").set_value("(any)").run()
    assert not at.exception
    expected = {"Tuning": ("Optimization history", "Trial durations", "Best validation roc_auc per algorithm",
                           "Hyperparameter importance", "Parallel coordinates", "Slice"),
                "Diagnostics": ("Confusion matrix (rows)", "Calibration", "ROC curve", "Precision-recall curve",
                                "Cumulative gains", "Lift", "Error rate by tenure"),
                "Explain": ("Permutation importance (held-out rows)", "Partial dependence on tenure", "Why P(yes)")}
    for view, titles in expected.items():
        at.radio(key="runs-view").set_value(view).run()
        assert not at.exception and not at.error, view
        drawn = _titles(at)
        for title in titles:
            assert any(t.startswith(title) for t in drawn), (view, title, sorted(drawn))


def test_runs_page_compares_selected_runs(app: AppTest, home: Path) -> None:  # noqa: F811
    at = _open(app, "runs")
    at.session_state["leaderboard-1"] = {"selection": {"rows": [0, 1], "columns": []}}
    at.radio(key="runs-view").set_value("Compare").run()
    assert any("2 runs selected" in h.value for h in at.subheader)
    assert "roc_auc by run" in _titles(at)
    roc = next(f for f in _figures(at) if f["layout"]["title"]["text"] == "ROC curve")
    assert len([t for t in roc["data"] if "AUC" in t["name"]]) == 2  # both runs' curves, overlaid
    assert not at.exception


def test_models_page_promotes_through_gates_rolls_back_and_audits(app: AppTest, home: Path) -> None:  # noqa: F811
    studio = Studio(make_settings(home))
    studio.registry.set_policy("churn", GatePolicy(rules=[GateRule(metric="roc_auc", op=">=", threshold=0.99)]),
                               actor="test")
    at = _open(app, "models")
    assert len(at.dataframe[0].value) == 2  # the versions
    next(s for s in at.selectbox if s.label == "Version").set_value("1").run()
    assert any("held-out roc_auc >= 0.99" in e.value for e in at.error)  # the failing gate, with its evidence
    promote = next(b for b in at.button if b.label.startswith("Promote v1"))
    assert promote.disabled
    next(c for c in at.checkbox if c.label.startswith("Promote anyway")).check().run()
    next(t for t in at.text_input if t.label == "Why").set_value("first model").run()
    _click(at, "Promote v1 to 'champion'")
    assert studio.registry.holder("churn").version == "1"
    studio.registry.set_policy("churn", GatePolicy(), actor="test")
    next(s for s in at.selectbox if s.label == "Version").set_value("2").run()
    _click(at, "Promote v2 to 'champion'")
    assert studio.registry.holder("churn").version == "2"
    at.run()
    _click(at, "Roll back the champion to v1")
    assert studio.registry.holder("churn").version == "1"
    log = [(a.action, a.version) for a in studio.registry.audit("churn")]
    assert log[:3] == [("rollback", "1"), ("promote", "2"), ("gates", None)] and ("promote", "1") in log
    at.run()
    audit = next(d.value for d in at.dataframe if "who" in d.value.columns)
    assert list(audit["action"])[:2] == ["rollback", "promote"]
    assert any("# Model card: churn v2" in m.value for m in at.markdown)
    assert not at.exception
