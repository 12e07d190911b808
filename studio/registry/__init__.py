"""Registered models: versions and aliases, promotion gates, the audit log, rollback and model cards."""

from studio.registry.card import ModelCard, build_card, to_html, to_markdown
from studio.registry.gates import GateCheck, GatePolicy, GateReport, GateRule, check_gates
from studio.registry.store import CHAMPION, AuditEntry, Registry, VersionInfo, default_actor

__all__ = [
           "CHAMPION",
           "AuditEntry",
           "GateCheck",
           "GatePolicy",
           "GateReport",
           "GateRule",
           "ModelCard",
           "Registry",
           "VersionInfo",
           "build_card",
           "check_gates",
           "default_actor",
           "to_html",
           "to_markdown",
]
