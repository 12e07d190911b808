"""`studio models ...`: the registry from the command line, over the same core functions as the Models page."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from studio.errors import PromotionRefused, SpecError

_RULE = re.compile(r"^\s*([a-z0-9_]+)\s*(>=|<=)\s*([-+0-9.eE]+)\s*$")


def add_parser(sub: Any) -> None:
    m = sub.add_parser("models", help="registered models: list, promote, roll back, gates, model cards")
    msub = m.add_subparsers(dest="models_command", required=True)
    ml = msub.add_parser("list", help="registered models, their versions, aliases and held-out metrics")
    ml.add_argument("name", nargs="?")
    ml.add_argument("--json", action="store_true")
    mp = msub.add_parser("promote", help="point an alias (default champion) at a version, if its gates pass")
    mp.add_argument("name")
    mp.add_argument("version")
    mp.add_argument("--alias", default="champion")
    mp.add_argument("--reason", default="", help="why, for the audit log")
    mp.add_argument("--force", action="store_true", help="promote even if a gate fails (recorded as forced)")
    mp.add_argument("--json", action="store_true")
    mp.add_argument("--beat-baseline", type=float, default=0.0, metavar="SHARE",
                    help="a model family: each partition's model must beat its baseline by this share (0.1 = 10%%)")
    mp.add_argument("--champion-margin", default="0", metavar="SHARE|off",
                    help="a model family: each partition's model may be at most this share worse than the "
                         "champion's model for that partition (off: not checked); one that fails keeps the champion's")
    mr = msub.add_parser("rollback", help="return an alias to the version that held it before")
    mr.add_argument("name")
    mr.add_argument("--alias", default="champion")
    mr.add_argument("--reason", default="")
    mg = msub.add_parser("gates", help="show or set a model's promotion gates")
    mg.add_argument("name")
    mg.add_argument("--rule", action="append", default=[], help="a held-out metric rule, e.g. 'roc_auc>=0.85'")
    mg.add_argument("--champion", help="METRIC:MARGIN, e.g. roc_auc:0.005: not worse than the champion by more")
    mg.add_argument("--clear", action="store_true", help="remove every gate")
    mg.add_argument("--reason", default="")
    mc = msub.add_parser("card", help="write a version's model card")
    mc.add_argument("name")
    mc.add_argument("version")
    mc.add_argument("--format", choices=["md", "html"], default="md")
    mc.add_argument("--out", help="file to write (default: standard output)")


def _promote_family(studio: Any, args: argparse.Namespace, actor: str) -> int:
    from pydantic import ValidationError

    from studio.many.promote import PartitionRules, promote_family

    try:
        margin = None if args.champion_margin == "off" else float(args.champion_margin)
        rules = PartitionRules(beat_baseline_by=args.beat_baseline, champion_margin=margin)
    except (ValueError, ValidationError) as exc:
        raise SpecError(f"Partition rules: {str(exc).splitlines()[0]}. Give shares between 0 and 1, e.g. "
                        "--beat-baseline 0.1 --champion-margin 0.02 (or off).") from None
    done = promote_family(studio.registry, args.name, args.version, rules, actor=actor, reason=args.reason)
    if args.json:
        print(done.model_dump_json())
        return 0
    print(f"{args.name}@champion -> v{done.version} (from v{done.candidate}: {done.passed} partitions passed, "
          f"{done.kept_champion} kept the champion's model, {done.to_fallback} went to the fallback)")
    return 0


def cmd_models(args: argparse.Namespace, studio: Any) -> int:
    from studio.registry import default_actor

    registry = studio.registry
    command = args.models_command
    if command == "list":
        names = [args.name] if args.name else registry.model_names()
        listing = {n: [v.model_dump() for v in registry.versions(n)] for n in names}
        if args.json:
            print(json.dumps(listing))
            return 0
        for name, versions in listing.items():
            print(name)
            for v in versions:
                metric = v["metric"]
                print(f"  v{v['version']:<4} {','.join(v['aliases']) or '-':<20} held-out {metric} "
                      f"{v['held_out'].get(metric, float('nan')):.4g}  {v['final_model']}")
        return 0
    if command == "promote" and registry.version(args.name, args.version).partition_by:
        return _promote_family(studio, args, default_actor())
    if command == "promote":
        try:
            entry = registry.promote(args.name, args.version, alias=args.alias, actor=default_actor(),
                                     reason=args.reason, force=args.force)
        except PromotionRefused as exc:
            for check in getattr(exc.report, "checks", []):
                print(f"{'pass' if check.passed else 'FAIL'}  {check.gate}: {check.evidence}", file=sys.stderr)
            raise
        print(entry.model_dump_json() if args.json else
              f"{args.name}@{args.alias} -> v{args.version} ({len(entry.detail['gates']['checks'])} gate(s)"
              f"{', forced' if entry.detail.get('forced') else ''})")
        return 0
    if command == "rollback":
        entry = registry.rollback(args.name, alias=args.alias, actor=default_actor(), reason=args.reason)
        print(f"{args.name}@{args.alias} -> v{entry.version} (was v{entry.detail['from']})")
        return 0
    if command == "gates":
        return _gates(args, registry, default_actor())
    return _card(args, studio)


def _gates(args: argparse.Namespace, registry: Any, actor: str) -> int:
    from studio.registry import GatePolicy, GateRule

    if not (args.rule or args.champion or args.clear):
        print(registry.policy(args.name).model_dump_json(indent=2))
        return 0
    rules = []
    for text in args.rule:
        match = _RULE.match(text)
        if not match:
            raise SpecError(f"Gate rule '{text}' is not of the form METRIC>=NUMBER or METRIC<=NUMBER "
                            "(e.g. roc_auc>=0.85).")
        rules.append(GateRule(metric=match[1], op=match[2], threshold=float(match[3])))  # type: ignore[arg-type]
    metric, margin = None, None
    if args.champion:
        metric, _, raw = args.champion.partition(":")
        try:
            margin = float(raw)
        except ValueError:
            raise SpecError(f"--champion takes METRIC:MARGIN (e.g. roc_auc:0.005), not '{args.champion}'.") from None
    registry.set_policy(args.name, GatePolicy(rules=rules, champion_metric=metric, champion_margin=margin),
                        actor=actor, reason=args.reason)
    print(registry.policy(args.name).model_dump_json(indent=2))
    return 0


def _card(args: argparse.Namespace, studio: Any) -> int:
    from studio.registry import build_card, to_html, to_markdown

    card = build_card(studio.registry, studio.settings.exports_path, args.name, args.version)
    text = to_html(card) if args.format == "html" else to_markdown(card)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0
