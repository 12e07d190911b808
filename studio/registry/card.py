"""A model card per registered version: what the model does, the data and search behind it, its held-out
metrics, the gates it passed, what drives it, and how it was exported. Markdown is the source; the HTML
download is the same Markdown rendered (markdown-it, with tables)."""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING

from pydantic import BaseModel

from studio import names
from studio.errors import TrackingError
from studio.markup import text
from studio.paths import confined
from studio.registry.gates import GateReport
from studio.registry.store import AuditEntry, Registry, VersionInfo

if TYPE_CHECKING:
    from pathlib import Path


class ModelCard(BaseModel):
    version: VersionInfo
    target: str
    features: list[tuple[str, str]]  # (name, kind)
    guardrails: list[str]
    search: dict[str, str]
    validation_spread: float | None
    gates: GateReport
    audit: list[AuditEntry]
    top_features: list[tuple[str, float]]  # permutation importance on held-out rows
    exports: list[str]
    onnx: str | None


def build_card(registry: Registry, exports_path: Path, name: str, version: str) -> ModelCard:
    """The card of one registered version: its registry record, its run (through the registry's tracker) and
    what was exported of it under `exports_path`."""
    from studio.export.bento import bento_name, list_exports
    from studio.export.onnx_model import ParityReport

    tracker = registry.tracker
    info = registry.version(name, version)
    spec = tracker.spec_of(info.run_id)
    try:
        importance = tracker.load_evaluation(info.run_id).summary.importance
    except TrackingError:
        importance = []
    parity = confined(exports_path, bento_name(info.uri), "onnx", "parity.json")
    run = tracker.client.get_run(info.run_id)
    search = {"algorithms searched": ", ".join(spec.algorithms), "chosen model": info.final_model or "-",
              "trials": f"{int(run.data.metrics.get('n_trials', 0))}",
              "validation": f"{spec.validation.kind} ({spec.validation.splits} split(s))",
              "budget": f"{spec.budget.seconds or '-'} s / {spec.budget.max_trials or '-'} trials",
              "compute": spec.compute, "seed": str(spec.seed)}
    return ModelCard(
        version=info, target=spec.target, features=[(f.name, f.kind.value) for f in spec.features],
        guardrails=[f"{g.column}: {g.finding} ({g.action})" for g in spec.guardrails], search=search,
        validation_spread=names.spread_of(run.data.metrics, info.metric), gates=registry.check(name, version),
        audit=[a for a in registry.audit(name) if a.version == info.version],
        top_features=[(f.feature, f.mean) for f in importance[:10]],
        exports=[f"{e.bento_tag} ({e.runtime})" for e in list_exports(exports_path) if e.model_uri == info.uri],
        onnx=ParityReport.model_validate_json(parity.read_text()).summary() if parity.is_file() else None)


def to_markdown(card: ModelCard) -> str:
    """The card as Markdown; every value that comes from data or a person (names, reasons, findings) is escaped,
    so it shows as text and never becomes a link, an image fetched from somewhere, or markup."""
    v, t = card.version, text
    lines = [f"# Model card: {t(v.name)} v{t(v.version)}", "",
             f"A **{t(v.task)}** model predicting **{t(card.target)}**, registered "
             f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(v.created_at))} UTC as {t(v.uri)}"
             + (f" (aliases: {t(', '.join(v.aliases))})" if v.aliases else "") + ".", "",
             "## Data", "", f"Dataset snapshot {t(v.dataset_id)}; {len(card.features)} input columns:", "",
             "| column | kind |", "|---|---|", *[f"| {t(n)} | {t(k)} |" for n, k in card.features], ""]
    if card.guardrails:
        lines += ["Data checks before training:", "", *[f"- {t(g)}" for g in card.guardrails], ""]
    lines += ["## Training", "", "| | |", "|---|---|", *[f"| {t(k)} | {t(val)} |" for k, val in card.search.items()],
              "", "## Metrics", "",
              f"Validation {t(v.metric)}: {_fmt(v.validation_score)}"
              + (f" ± {card.validation_spread:.3g} over the validation folds" if card.validation_spread else ""), "",
              "Held out (rows no trial saw, scored by the model fitted on the training rows):", "",
              "| metric | value |", "|---|---|", *[f"| {t(k)} | {val:.4g} |" for k, val in sorted(v.held_out.items())],
              "", "## Promotion gates", "", f"Evaluated now: {t(card.gates.summary())}.", ""]
    lines += [f"- {'passed' if c.passed else 'FAILED'}: {t(c.gate)} ({t(c.evidence)})" for c in card.gates.checks]
    if card.audit:
        lines += ["", "History:", ""] + [
            f"- {time.strftime('%Y-%m-%d %H:%M', time.gmtime(a.at))} UTC {t(a.action)} to '{t(a.alias or '')}' by "
            f"{t(a.actor)}" + (f": {t(a.reason)}" if a.reason else "") for a in card.audit]
    lines += ["", "## What drives it", ""]
    lines += (["Permutation importance on the held-out rows (loss of the metric when the column is shuffled):", "",
               "| column | importance |", "|---|---|", *[f"| {t(n)} | {val:.4g} |" for n, val in card.top_features]]
              if card.top_features else ["No held-out evaluation was recorded for this run."])
    lines += ["", "## Export", "", *([f"- BentoML service {t(e)}" for e in card.exports] or ["- Not exported yet."])]
    lines += [f"- ONNX: {t(card.onnx)}" if card.onnx else "- ONNX: not converted yet."]
    return "\n".join(lines) + "\n"


def to_html(card: ModelCard) -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(to_markdown(card))
    title = html.escape(f"{card.version.name} v{card.version.version}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}"
            "</title><style>body{font-family:sans-serif;max-width:900px;margin:2em auto;line-height:1.5}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}</style></head><body>"
            f"{body}</body></html>")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
