"""The Models page's registry: versions with their metrics and aliases, promotion gates, promote with the
evidence, roll back, the audit log, and each version's model card."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import streamlit as st

from studio.auth import Role
from studio.errors import PromotionRefused, StudioError
from studio.registry import CHAMPION, GatePolicy, GateReport, GateRule, Registry, VersionInfo
from studio.registry.card import build_card, to_html, to_markdown
from studio.training.metrics import METRICS, metrics_for
from studio.training.task import Task
from studio.ui.auth import allowed, can, creator_of, current_actor, needs
from studio.ui.common import get_studio, show_error, table_download


def registry_section(name: str, asked_version: str | None) -> None:
    registry = get_studio().registry
    if flash := st.session_state.pop("registry-flash", None):
        st.success(flash)
    versions = registry.versions(name)
    _versions_table(versions)
    labels = [v.version for v in versions]
    version = st.selectbox("Version", labels, index=labels.index(asked_version) if asked_version in labels else 0,
                           format_func=lambda v: f"v{v}" + (f" ({', '.join(_by(versions, v).aliases)})"
                                                             if _by(versions, v).aliases else ""))
    chosen = _by(versions, version)
    with st.expander(f"The spec behind v{version} (dataset snapshot `{chosen.dataset_id}`)"):
        try:
            st.code(get_studio().tracker.spec_of(chosen.run_id).model_dump_json(indent=2), language="json")
        except StudioError as exc:
            show_error(exc)
    gates, promote, history, card = st.tabs(["Promotion gates", "Promote or roll back", "Audit log", "Model card"])
    with gates:
        _gates_editor(registry, name, chosen)
    with promote:
        _promote(registry, name, chosen)
    with history:
        entries = registry.audit(name)
        frame = pd.DataFrame([{"when": time.strftime("%Y-%m-%d %H:%M", time.localtime(a.at)), "who": a.actor,
                               "action": a.action, "version": a.version or "-", "alias": a.alias or "-",
                               "why": a.reason, "forced": a.detail.get("forced", False)} for a in entries])
        if frame.empty:
            st.info("Nothing promoted or changed yet.")
        else:
            st.dataframe(frame, hide_index=True, width="stretch")
            table_download(frame, name=f"{name}-audit", key="audit")
    with card:
        _card(registry, name, chosen)


def _by(versions: list[VersionInfo], version: str) -> VersionInfo:
    return next(v for v in versions if v.version == version)


def _versions_table(versions: list[VersionInfo]) -> None:
    metrics = sorted({m for v in versions for m in v.held_out})
    made_by = creator_of("model", [v.uri for v in versions])
    st.dataframe(pd.DataFrame([{
        "version": f"v{v.version}", "aliases": ", ".join(v.aliases), "registered": time.strftime(
            "%Y-%m-%d %H:%M", time.localtime(v.created_at)), "by": made_by.get(v.uri, "-"), "model": v.algorithm,
        "dataset": v.dataset_id,
        f"validation {v.metric}": v.validation_score, **{f"held-out {m}": v.held_out.get(m) for m in metrics},
    } for v in versions]), hide_index=True, width="stretch")


def _gates_editor(registry: Registry, name: str, chosen: VersionInfo) -> None:
    policy = registry.policy(name)
    choices = [m.name for m in metrics_for(Task(chosen.task))] if chosen.task else sorted(METRICS)
    st.caption("A version must pass every gate to be promoted. Thresholds apply to the held-out metrics (rows no "
               "trial saw); the champion gate compares with the version that is champion now.")
    rules = st.data_editor(
        pd.DataFrame([r.model_dump() for r in policy.rules] or [], columns=["metric", "op", "threshold"]),
        num_rows="dynamic", hide_index=True, key=f"gates-{name}", width="stretch",
        column_config={"metric": st.column_config.SelectboxColumn("held-out metric", options=choices, required=True),
                       "op": st.column_config.SelectboxColumn("must be", options=[">=", "<="], required=True),
                       "threshold": st.column_config.NumberColumn("threshold", required=True, format="%.4f")})
    left, right = st.columns(2)
    use_champion = left.toggle("Not worse than the champion by more than…", value=policy.champion_metric is not None,
                               help="A new version may not lose more than the margin on this held-out metric "
                                    "against the version that is champion now (skipped when there is none).")
    champion_metric = left.selectbox("on", choices, disabled=not use_champion, index=choices.index(
        policy.champion_metric) if policy.champion_metric in choices else 0, key=f"champion-metric-{name}",
        help="The held-out metric both versions are compared on.")
    margin = right.number_input("margin", min_value=0.0, value=policy.champion_margin or 0.005, step=0.001,
                                format="%.4f", disabled=not use_champion, key=f"champion-margin-{name}",
                                help="How much worse than the champion a version may score, in the metric's units "
                                     "(e.g. 0.005 ROC AUC).")
    reason = st.text_input("Why (for the audit log)", key=f"gates-reason-{name}")
    if st.button("Save gates", icon=":material/rule:", disabled=not can(Role.ADMIN), help=needs(Role.ADMIN)) and \
            allowed(Role.ADMIN):
        try:
            registry.set_policy(name, GatePolicy(
                rules=[GateRule(metric=r["metric"], op=r["op"], threshold=float(r["threshold"]))
                       for r in rules.dropna().to_dict("records")],
                champion_metric=champion_metric if use_champion else None,
                champion_margin=float(margin) if use_champion else None), actor=current_actor().id, reason=reason)
        except StudioError as exc:
            show_error(exc)
        else:
            st.session_state["registry-flash"] = f"Gates of '{name}' saved."
            st.rerun()


def _report(report: GateReport) -> None:
    for check in report.checks:
        (st.success if check.passed else st.error)(f"{check.gate}: {check.evidence}",
                                                   icon=":material/check:" if check.passed else ":material/close:")
    if not report.checks:
        st.info("No gates are defined for this model: any version can be promoted.")


def _promote(registry: Registry, name: str, chosen: VersionInfo) -> None:
    left, mid, right = st.columns(3)
    alias = left.selectbox("Alias", [CHAMPION, "challenger", "other…"], key="promote-alias")
    if alias == "other…":
        alias = left.text_input("Alias name", value="staging", key="promote-alias-other").strip() or "staging"
    actor = current_actor().id  # the person signed in (the local admin without login), never a typed name
    mid.text_input("Who", value=actor, disabled=True, key="promote-actor",
                   help="Recorded in the audit log: the person signed in.")
    reason = right.text_input("Why", key="promote-reason", placeholder="e.g. better on last month's data")
    if chosen.partition_by and alias == CHAMPION:
        from studio.ui.family_view import family_promotion

        family_promotion(chosen, actor, reason)
        st.divider()
        st.caption("Or promote the whole family as it is, through the gates:")
    report = registry.check(name, chosen.version, alias=alias)
    st.markdown(f"**Gates for v{chosen.version}** ({report.summary()})")
    _report(report)
    force = False
    if not report.passed:
        force = st.checkbox("Promote anyway (recorded as forced in the audit log)", key="promote-force")
    if st.button(f"Promote v{chosen.version} to '{alias}'", type="primary", icon=":material/workspace_premium:",
                 disabled=not (report.passed or force) or not can(Role.ADMIN), help=needs(Role.ADMIN)) and \
            allowed(Role.ADMIN):
        try:
            registry.promote(name, chosen.version, alias=alias, actor=actor, reason=reason,
                             force=force)
        except PromotionRefused as exc:
            show_error(exc)
        else:
            st.session_state["registry-flash"] = f"'{name}@{alias}' now points at v{chosen.version}."
            st.rerun()
    history = registry.alias_history(name, CHAMPION)
    if len(history) >= 2:
        st.divider()
        st.markdown(f"The champion is v{history[-1]}; before it, v{history[-2]}.")
        if st.button(f"Roll back the champion to v{history[-2]}", icon=":material/undo:", disabled=not can(Role.ADMIN),
                     help=needs(Role.ADMIN)) and allowed(Role.ADMIN):
            registry.rollback(name, actor=actor, reason=reason or "rollback")
            st.session_state["registry-flash"] = f"'{name}@{CHAMPION}' points at v{history[-2]} again."
            st.rerun()


@st.cache_data(max_entries=32, show_spinner=False)
def _card_of(name: str, version: str, aliases: tuple[str, ...], audit_entries: int) -> Any:
    """A version's model card, built once per state of the registry that shows on it (its aliases and the audit
    log's length): building it reads the run, its spec and the gates, most of a Models page rerun otherwise."""
    studio = get_studio()
    return build_card(studio.registry, studio.settings.exports_path, name, version)


def _card(registry: Registry, name: str, chosen: VersionInfo) -> None:
    try:
        card = _card_of(name, chosen.version, tuple(chosen.aliases), len(registry.audit(name)))
    except StudioError as exc:
        show_error(exc)
        return
    left, right = st.columns(2)
    stem = f"{name}-v{chosen.version}"
    left.download_button("Model card (Markdown)", data=lambda: to_markdown(card), file_name=f"{stem}.md",
                         mime="text/markdown", icon=":material/download:")
    right.download_button("Model card (HTML)", data=lambda: to_html(card), file_name=f"{stem}.html",
                          mime="text/html", icon=":material/download:")
    with st.container(border=True):
        st.markdown(to_markdown(card))
