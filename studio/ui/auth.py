"""Sign-in and roles in the app: who is acting on this page, and whether their role allows an action.

Without login (no `[auth]` in the secrets) the person at the browser is the local admin of a studio bound
to 127.0.0.1. With login, `sign_in()` shows a sign-in screen until `st.login` has identified them, ends a
sign-in older than STUDIO_SESSION_HOURS, and resolves their role (studio.auth.resolve_role).
Every action checks the role twice: its button is disabled for a role that may not use it, and the handler
calls `allowed()` again on the server, so a crafted click gets a refusal, not the action.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

import streamlit as st

from studio.auth import (
    Actor,
    Role,
    UserStore,
    actor_id,
    creators,
    local_actor,
    record_audit,
    record_creator,
    resolve_role,
)
from studio.markup import text
from studio.ui import common, run_hold
from studio.ui.common import get_studio

_ACTOR = "studio-actor"


def login_enabled() -> bool:
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, st.errors.StreamlitSecretNotFoundError):  # no secrets file at all
        return False


def sign_in() -> Actor:
    """The person acting on this run of the page; stops the page at the sign-in screen until they have signed in."""
    if not login_enabled():
        return _remember(local_actor())
    if not st.user.is_logged_in:
        _sign_in_screen()
    claims: dict[str, Any] = st.user.to_dict()
    settings = get_studio().settings
    signed_in_at = claims.get("iat")
    if isinstance(signed_in_at, int | float) and time.time() - signed_in_at > settings.session_hours * 3600:
        st.session_state.pop(_ACTOR, None)
        _sign_in_screen(expired=True)
    role = resolve_role(claims, users=UserStore(get_studio().engine), claim=settings.role_claim,
                        admins=settings.admins.split(","), default=Role(settings.default_role))
    who = actor_id(claims)
    return _remember(Actor(id=who, name=str(claims.get("name") or who), role=role))


def hold_signed_in_runs() -> None:
    """Hold the training from the very start of each run of a session signed in on an earlier run (run_hold.py)."""
    run_hold.install(signed_in=lambda state: _ACTOR in state, hold=lambda: common.pages_first())


def _remember(actor: Actor) -> Actor:
    st.session_state[_ACTOR] = actor
    return actor


def _sign_in_screen(*, expired: bool = False) -> None:
    st.session_state.pop(_ACTOR, None)  # signed out: this session's runs no longer hold the training
    st.title("ML Studio")
    if expired:
        st.warning("Your session has expired. Sign in again to go on.", icon=":material/timer_off:")
        if st.button("Sign in again", type="primary", icon=":material/login:"):
            st.logout()  # clears the old identity; the next run shows the sign-in button
        st.stop()
    st.write("This studio is shared: sign in to see its data, runs and models.")
    st.button("Sign in", type="primary", icon=":material/login:", on_click=st.login)
    st.stop()


def current_actor() -> Actor:
    """The actor `sign_in()` resolved on this run (the local admin in a page run on its own, e.g. AppTest)."""
    actor = st.session_state.get(_ACTOR)
    return actor if isinstance(actor, Actor) else local_actor()


def can(needed: Role) -> bool:
    return current_actor().can(needed)


def needs(needed: Role) -> str | None:
    """Help text for a control the current role may not use (None when it may)."""
    if can(needed):
        return None
    return f"Needs the {needed} role (you are {current_actor().role}); an admin can change it on the Settings page."


def allowed(needed: Role) -> bool:
    """The server-side check of an action: False, with a message on the page, when the role does not allow it."""
    if can(needed):
        return True
    st.error(f"Not allowed: {needs(needed)}")
    return False


def sidebar(actor: Actor) -> None:
    """Who is signed in, and the sign-out button; a banner on every page when the studio listens without login."""
    if os.environ.get("STUDIO_INSECURE") == "true":
        st.warning("This studio listens on the network without login (started with --insecure): anyone who "
                   "reaches it can use it as an admin.", icon=":material/lock_open:")
    if not login_enabled():
        return
    with st.sidebar:
        st.caption(f"Signed in as **{text(actor.name)}** · {actor.role}")
        st.button("Sign out", icon=":material/logout:", on_click=st.logout, key="sign-out")


def mark_created(kind: str, object_id: str) -> None:
    """Record that the person acting created this dataset, job, model version or service."""
    record_creator(get_studio().engine, kind, object_id, current_actor().id)


def creator_of(kind: str, ids: Iterable[str]) -> dict[str, str]:
    return creators(get_studio().engine, kind, ids)


def audit_here(action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    """An audit-log line naming the person acting (deletions, exports, connection changes)."""
    record_audit(get_studio().engine, current_actor(), action, target, detail)
