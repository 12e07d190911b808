"""The Runs page's Diagnostics, Explain and Reproduce tabs for one run."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from studio.auth import Role
from studio.charts import diagnostics as diag
from studio.charts import explain as ex
from studio.errors import StudioError
from studio.reproduce import reproduce, reproductions
from studio.runs import RunSummary
from studio.training.evaluation import Evaluation, Holdout
from studio.training.evaluation.explain import explain_row, partial_dependence
from studio.training.model import TrainedModel
from studio.ui.auth import allowed, can, mark_created, needs
from studio.ui.common import chart, get_studio, show_error, table_download
from studio.ui.run_tabs import evaluation_of


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def model_of(uri: str) -> TrainedModel:
    return get_studio().tracker.load_model(uri)


def _evaluation(run: RunSummary) -> Evaluation | None:
    found = evaluation_of(run.run_id)
    if found is None:
        st.info("This run recorded no held-out evaluation: runs record one once their model is registered "
                "(a failed or still-running run has none).")
    return found


def diagnostics(run: RunSummary) -> None:
    evaluation = _evaluation(run)
    if evaluation is None:
        return
    h = evaluation.holdout
    st.caption(f"On {len(h.frame):,} held-out rows, scored by the model fitted on the training rows only (the "
               "registered model may also have learnt from these rows).")
    left, right = st.columns(2)
    if h.classes is not None:
        normalize = left.toggle("Normalise the confusion matrix", key="cm-normalize",
                                help="Each actual class's row as shares, so rare classes are as readable as common.")
        chart(diag.confusion_matrix(h, normalize=normalize), key="confusion", container=left)
        chart(diag.calibration(h), key="calibration", container=right)
        chart(diag.roc_curves({run.name: h}), key="roc", container=left)
        chart(diag.pr_curves({run.name: h}), key="pr", container=right)
        cls = 1 if len(h.classes) == 2 else st.selectbox(
            "Gains and lift for class", range(len(h.classes)), format_func=h.label, key="gains-class")
        left, right = st.columns(2)
        chart(diag.gains_chart(h, cls=cls), key="gains", container=left)
        chart(diag.lift_chart(h, cls=cls), key="lift", container=right)
    else:
        chart(diag.residuals({run.name: h}), key="residuals", container=left)
        chart(diag.predicted_vs_actual({run.name: h}), key="pva", container=right)
    column = st.selectbox("Error by segment of", list(h.features.columns), key="segment-column",
                          help="Numbers and dates are cut into five equal-size bins; other columns show their "
                               "most frequent values.")
    chart(diag.error_by_segment(h, column), key="segments")


def explain(run: RunSummary) -> None:
    evaluation = _evaluation(run)
    if evaluation is None:
        return
    summary, h = evaluation.summary, evaluation.holdout
    left, right = st.columns(2)
    if summary.importance:
        chart(ex.permutation_bars(summary.importance, metric=summary.metric), key="permutation", container=left)
        table_download(pd.DataFrame([f.model_dump() for f in summary.importance]), name="importance",
                       key="importance", container=left)
    else:
        left.info(summary.importance_note or "No permutation importance was recorded for this run.")
    if summary.shap_importance and evaluation.shap is not None:
        chart(ex.shap_bars(summary.shap_importance), key="shap", container=right)
        chart(ex.shap_beeswarm(evaluation.shap, h.features), key="beeswarm")
    else:
        right.info(summary.shap_note or "No SHAP values were recorded for this run.")
    if not run.model_uri:
        st.info("Partial dependence and per-row explanations use the registered model; this run has none.")
        return
    try:
        model = model_of(run.model_uri)
    except StudioError as exc:
        show_error(exc)
        return
    feature = st.selectbox("Partial dependence on", [f.name for f in model.info.features], key="pdp-feature",
                           help="The model's average output as this column takes each value, all other columns "
                                "left as they were (computed with the registered model on held-out rows).")
    chart(ex.pdp_chart(partial_dependence(model, h.features, feature)), key="pdp")
    row = int(st.number_input(f"Explain held-out row (0 to {len(h.frame) - 1})", min_value=0,
                              max_value=len(h.frame) - 1, value=0, key="explain-row"))
    left, right = st.columns([2, 1])
    chart(ex.row_contributions(explain_row(model, h.features, row)), key="row", container=left)
    right.dataframe(_row_table(h, row), width="stretch")


def _row_table(h: Holdout, row: int) -> pd.DataFrame:
    """One held-out row as the analyst reads it: its columns, the actual value and the model's answer."""
    values = {name: h.features.iloc[row][name] for name in h.features.columns}
    if h.classes is None:
        values.update({"actual": h.y[row], "predicted": h.predicted[row]})
    else:
        values.update({"actual": h.label(int(h.y[row])), "predicted": h.label(int(h.predicted[row]))})
        proba = h.proba
        assert proba is not None
        values.update({f"P({h.label(i)})": round(float(p), 4) for i, p in enumerate(proba[row])})
    return pd.DataFrame({"value": [str(v) for v in values.values()]}, index=list(values))


def reproduce_tab(run: RunSummary) -> None:
    studio = get_studio()
    st.caption("Launch this run's exact spec on its exact dataset snapshot as a new job, then compare its scores "
               "with this run's.")
    if st.button("Reproduce this run", icon=":material/replay:", key="reproduce", disabled=not can(Role.ANALYST),
                 help=needs(Role.ANALYST)) and allowed(Role.ANALYST):
        try:
            job = reproduce(studio, run.run_id)
        except StudioError as exc:
            show_error(exc)
        else:
            mark_created("job", job.id)
            st.success(f"Job **{job.id}** queued; its result appears below when it ends.")
    try:
        found = reproductions(studio, run.run_id)
    except StudioError as exc:
        show_error(exc)
        return
    for r in found:
        verdict = {True: st.success, False: st.warning, None: st.info}[r.matches]
        scores = " · ".join(f"{k}: {_fmt(r.source[k])} → {_fmt(r.again[k])}" for k in r.source)
        verdict(f"Job {r.job_id[:8]} ({r.status}) · {r.metric} {scores}: {r.note}.")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"
