"""The model registry as the studio uses it: MLflow registered models and aliases, promotion gates kept in the
studio database, and an audit log of who promoted or rolled back what, when and why.

Rollback follows the audit log: each promotion of an alias pushes the version it gave the alias, each rollback
pops one, so "roll back" always returns the alias to the version that held it before the current one.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel

from studio import audit as audit_log
from studio import db
from studio.audit import AuditEntry
from studio.errors import ModelNotFound, PromotionRefused, SpecError

if TYPE_CHECKING:
    from studio.tracking import Tracker

from studio.registry.gates import GatePolicy, GateReport, check_gates
from studio.runs import RunSummary

CHAMPION = "champion"


class VersionInfo(BaseModel):
    """One registered model version, with what its training run recorded."""

    name: str
    version: str
    run_id: str
    created_at: float
    aliases: list[str]
    task: str
    metric: str
    validation_score: float | None
    held_out: dict[str, float]
    dataset_id: str
    algorithm: str  # the chosen model: an algorithm, or "ensemble: a x2 + b x1"
    final_model: str  # how it was chosen, in words
    partition_by: list[str] = []  # a model family's partition columns (empty for a single model)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def default_actor() -> str:
    """Who is acting from the CLI: the local admin (STUDIO_USER, else the operating-system user)."""
    from studio.auth import local_actor

    return local_actor().id


class Registry:
    def __init__(self, tracker: Tracker, engine: sa.Engine) -> None:
        self.tracker = tracker
        self.client = tracker.client
        self.engine = engine

    # -- reading -------------------------------------------------------------------------------------------
    def model_names(self) -> list[str]:
        return sorted(m.name for m in self.client.search_registered_models())

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of a registered model, newest first."""
        from mlflow.exceptions import MlflowException

        try:
            registered = self.client.get_registered_model(name)
        except MlflowException as exc:
            raise ModelNotFound(f"No registered model '{name}' ({str(exc).splitlines()[0]}).") from None
        aliases: dict[str, list[str]] = {}
        for alias, version in registered.aliases.items():
            aliases.setdefault(str(version), []).append(alias)
        found = [self._info(v, aliases.get(str(v.version), []))
                 for v in self.client.search_model_versions(f"name = '{name}'")]
        return sorted(found, key=lambda v: -int(v.version))

    def version(self, name: str, version: str) -> VersionInfo:
        match = [v for v in self.versions(name) if v.version == str(version)]
        if not match:
            raise ModelNotFound(f"Model '{name}' has no version {version}.")
        return match[0]

    def holder(self, name: str, alias: str = CHAMPION) -> VersionInfo | None:
        """The version an alias points at, if any."""
        return next((v for v in self.versions(name) if alias in v.aliases), None)

    def _info(self, mv: Any, aliases: list[str]) -> VersionInfo:
        run = RunSummary.from_mlflow(self.client.get_run(mv.run_id))
        return VersionInfo(
            name=mv.name, version=str(mv.version), run_id=mv.run_id, created_at=mv.creation_timestamp / 1000,
            aliases=sorted(aliases), task=run.task, metric=run.metric, validation_score=run.validation_score,
            held_out=run.held_out(), dataset_id=run.dataset_id, algorithm=run.algorithm or "",
            final_model=run.final_model or "", partition_by=run.partition_by)

    # -- gates ---------------------------------------------------------------------------------------------
    def policy(self, name: str) -> GatePolicy:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(db.gate_policies.c.policy_json)
                               .where(db.gate_policies.c.model == name)).first()
        return GatePolicy.model_validate_json(row[0]) if row else GatePolicy()

    def set_policy(self, name: str, policy: GatePolicy, *, actor: str, reason: str = "") -> None:
        try:
            policy.validate_metrics()
        except ValueError as exc:
            raise SpecError(str(exc)) from None
        self.versions(name)  # the model must exist
        values = {"policy_json": policy.model_dump_json(), "updated_at": time.time(), "updated_by": actor}
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(db.gate_policies).where(db.gate_policies.c.model == name).values(**values))
            if not done.rowcount:
                conn.execute(sa.insert(db.gate_policies).values(model=name, **values))
            self._audit(conn, actor=actor, action="gates", model=name, version=None, alias=None, reason=reason,
                        detail=policy.model_dump(mode="json"))

    def check(self, name: str, version: str, *, alias: str = CHAMPION) -> GateReport:
        """The gates' verdict on promoting `version` to `alias`, with the evidence for each gate."""
        candidate = self.version(name, version)
        champion = self.holder(name, CHAMPION)
        return check_gates(self.policy(name), model=name, version=candidate.version, held_out=candidate.held_out,
                        champion=None if champion is None else (champion.version, champion.held_out))

    # -- changing aliases ----------------------------------------------------------------------------------
    def promote(self, name: str, version: str, *, alias: str = CHAMPION, actor: str, reason: str,
                force: bool = False) -> AuditEntry:
        """Point `alias` at `version` if its gates pass (or `force`, which the audit log records)."""
        report = self.check(name, version, alias=alias)
        if not report.passed and not force:
            raise PromotionRefused(f"v{version} of '{name}' was not promoted to '{alias}': {report.summary()}.",
                                   report=report)
        previous = self.holder(name, alias)
        self.client.set_registered_model_alias(name, alias, str(version))
        with self.engine.begin() as conn:
            return self._audit(conn, actor=actor, action="promote", model=name, version=str(version), alias=alias,
                               reason=reason, detail={"gates": report.model_dump(mode="json"), "forced": force
                                                      and not report.passed,
                                                      "previous": previous.version if previous else None})

    def rollback(self, name: str, *, alias: str = CHAMPION, actor: str, reason: str) -> AuditEntry:
        """Return `alias` to the version that held it before the current one."""
        stack = self.alias_history(name, alias)
        if len(stack) < 2:
            raise PromotionRefused(f"'{name}@{alias}' has no earlier version to roll back to (it was promoted "
                                   f"{len(stack)} time(s) through the studio).")
        current, earlier = stack[-1], stack[-2]
        self.client.set_registered_model_alias(name, alias, earlier)
        with self.engine.begin() as conn:
            return self._audit(conn, actor=actor, action="rollback", model=name, version=earlier, alias=alias,
                               reason=reason, detail={"from": current})

    def alias_history(self, name: str, alias: str = CHAMPION) -> list[str]:
        """The versions that held `alias`, oldest first, as promotions and rollbacks left them."""
        stack: list[str] = []
        for entry in reversed(self.audit(name, limit=10_000)):
            if entry.alias != alias or entry.version is None:
                continue
            if entry.action == "promote":
                stack.append(entry.version)
            elif entry.action == "rollback" and stack:
                stack.pop()
        return stack

    # -- audit ---------------------------------------------------------------------------------------------
    def audit(self, name: str | None = None, *, limit: int = 200) -> list[AuditEntry]:
        """Audit entries, newest first (one model's when `name` is given)."""
        return audit_log.read(self.engine, target=name, limit=limit)

    @staticmethod
    def _audit(conn: sa.Connection, *, model: str, **values: Any) -> AuditEntry:
        return audit_log.write(conn, target=model, **values)
