"""Who may do what: roles, the people an admin listed, who is acting, and where the app may listen.

Without login the studio is a one-person app on 127.0.0.1 and that person (like the CLI) is the local admin.
With login (`st.login`, any OIDC provider configured under `[auth]` in the studio's secrets file) each person
gets a role: from a claim of their identity token (`STUDIO_ROLE_CLAIM`, default `roles`), else from the user
table an admin edits on the Settings page, else `STUDIO_ADMINS` (the first admins), else the default role.

    viewer   look at everything
    analyst  also bring data, train, score, export and start services
    admin    also promote, delete, manage connections, gates and users
"""

from __future__ import annotations

import getpass
import ipaddress
import time
import tomllib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict

from studio import audit as audit_log
from studio import db, vault
from studio.errors import SpecError, StudioError


class Role(StrEnum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class NotAllowed(StudioError):
    """The acting person's role does not allow this action."""

    exit_code = 2


class Actor(BaseModel):
    """The person acting: an id (email, else the provider's subject), a display name and a role."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    role: Role

    def can(self, needed: Role) -> bool:
        return self.role.allows(needed)

    def require(self, needed: Role, action: str) -> None:
        if not self.can(needed):
            raise NotAllowed(f"{self.name} ({self.role}) may not {action}: that needs the {needed} role. Ask an "
                             "admin to change your role on the Settings page.")


def local_actor() -> Actor:
    """The one person of a studio without login, and the CLI: the local admin (STUDIO_USER, else the OS user)."""
    who = vault.getenv("STUDIO_USER") or getpass.getuser()
    return Actor(id=who, name=who, role=Role.ADMIN)


class UserEntry(BaseModel):
    id: str
    role: Role
    updated_by: str
    updated_at: float


class UserStore:
    """The user table: the role an admin gave each person (by email or subject)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def list(self) -> list[UserEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(db.users).order_by(db.users.c.id)).mappings()
            return [UserEntry(**dict(r)) for r in rows]

    def role_of(self, user_id: str) -> Role | None:
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(db.users.c.role).where(db.users.c.id == user_id.lower())).scalar()
        return None if value is None else Role(value)

    def set_role(self, user_id: str, role: Role, *, by: Actor) -> UserEntry:
        by.require(Role.ADMIN, "change roles")
        user_id = user_id.strip().lower()
        if not user_id or len(user_id) > 200:
            raise SpecError("A user is named by an email address or the provider's subject (1-200 characters).")
        entry = UserEntry(id=user_id, role=role, updated_by=by.id, updated_at=time.time())
        with self.engine.begin() as conn:
            conn.execute(db.users.delete().where(db.users.c.id == user_id))
            conn.execute(db.users.insert().values(**entry.model_dump()))
            audit(conn, by, "set role", f"user:{user_id}", {"role": str(role)})
        return entry

    def remove(self, user_id: str, *, by: Actor) -> None:
        by.require(Role.ADMIN, "remove users")
        with self.engine.begin() as conn:
            conn.execute(db.users.delete().where(db.users.c.id == user_id.lower()))
            audit(conn, by, "remove user", f"user:{user_id.lower()}", {})


def resolve_role(claims: Mapping[str, Any], *, users: UserStore, claim: str, admins: list[str],
                 default: Role) -> Role:
    """The role of a signed-in person: the highest role named in their `claim`, else the user table, else admin
    when listed in `admins`, else `default`."""
    named = claims.get(claim)
    values = [named] if isinstance(named, str) else list(named or []) if isinstance(named, list | tuple) else []
    found = [Role(v) for v in (str(v).lower() for v in values) if v in Role._value2member_map_]
    if found:
        return max(found, key=lambda r: r.rank)
    user_id = actor_id(claims)
    listed = users.role_of(user_id)
    if listed is not None:
        return listed
    return Role.ADMIN if user_id in {a.strip().lower() for a in admins if a.strip()} else default


def actor_id(claims: Mapping[str, Any]) -> str:
    """Who signed in: their email, unless the provider says it is not verified (anyone could claim any address
    then, an admin's included), else the provider's subject."""
    email = claims.get("email") if claims.get("email_verified", True) is not False else None
    return str(email or claims.get("sub") or "").lower()


def audit(conn: sa.Connection, actor: Actor, action: str, target: str, detail: dict[str, Any]) -> None:
    """One audit-log line naming the person: deletions, exports, connection and user changes (promotions and
    gates are written by the registry with the same actor)."""
    audit_log.write(conn, actor=actor.id, action=action, target=target, detail=detail)


def record_audit(engine: sa.Engine, actor: Actor, action: str, target: str,
                 detail: dict[str, Any] | None = None) -> None:
    with engine.begin() as conn:
        audit(conn, actor, action, target, detail or {})


read_audit = audit_log.read


# -- creators ---------------------------------------------------------------------------------------------
def record_creator(engine: sa.Engine, kind: str, object_id: str, who: str) -> None:
    """Remember who (an actor's id) created a dataset, job, model version or service."""
    with engine.begin() as conn:
        conn.execute(db.creators.delete().where(db.creators.c.kind == kind, db.creators.c.object_id == object_id))
        conn.execute(db.creators.insert().values(kind=kind, object_id=object_id, created_by=who,
                                                 created_at=time.time()))


def creators(engine: sa.Engine, kind: str, ids: Iterable[str]) -> dict[str, str]:
    """object id -> who created it, for the objects of one kind a page shows."""
    query = sa.select(db.creators.c.object_id, db.creators.c.created_by).where(
        db.creators.c.kind == kind, db.creators.c.object_id.in_(list(ids)))
    with engine.connect() as conn:
        return {object_id: who for object_id, who in conn.execute(query)}


# -- where the app may listen -----------------------------------------------------------------------------
def is_loopback(address: str) -> bool:
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def login_configured(secrets_files: list[Path]) -> bool:
    """Whether one of Streamlit's secrets files configures `[auth]` with an OIDC provider."""
    for path in secrets_files:
        if not path.is_file():
            continue
        try:
            auth = tomllib.loads(path.read_text()).get("auth")
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path} is not valid TOML ({exc}); fix it before starting the studio.") from None
        if isinstance(auth, dict) and auth.get("cookie_secret") and auth.get("redirect_uri") and (
                auth.get("server_metadata_url") or any(isinstance(v, dict) for v in auth.values())):
            return True
    return False


def check_exposure(address: str, *, login: bool, insecure: bool) -> None:
    """Refuse to listen beyond loopback unless login is configured or the user chose --insecure."""
    if is_loopback(address) or login or insecure:
        return
    raise SpecError(f"Refusing to listen on {address} without login: anyone who reaches it could take over the "
                    "studio. Configure login ([auth] in the studio's secrets.toml, see the README's Security "
                    "section), or pass --insecure if this network is yours alone (the page then says so).")
