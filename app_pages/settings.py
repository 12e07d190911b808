"""Settings (admins): how people sign in, the roles they get, the user table, saved connections, the audit log."""

import time

import streamlit as st

from studio.auth import Role, UserStore, read_audit
from studio.errors import StudioError
from studio.markup import text
from studio.ui.auth import allowed, audit_here, current_actor, login_enabled
from studio.ui.common import get_studio, show_error

studio = get_studio()
st.title("Settings")
if not allowed(Role.ADMIN):
    st.stop()
settings = studio.settings
users = UserStore(studio.engine)
if flash := st.session_state.pop("settings-flash", None):
    st.success(flash)

st.subheader("Sign-in")
if login_enabled():
    st.success("Login is on: everyone signs in with the identity provider configured under `[auth]` in "
               f"`{settings.secrets_path}`; a sign-in lasts {settings.session_hours:g} hours.")
else:
    st.info("Login is off: this studio is a one-person app on this machine (127.0.0.1), and you are its admin. "
            f"Configure a provider under `[auth]` in `{settings.secrets_path}` to share it; see the README's "
            "Security section.")
st.markdown(f"A person's role comes from the **`{settings.role_claim}`** claim of their identity token when it names "
            "viewer, analyst or admin (`STUDIO_ROLE_CLAIM`); otherwise from the table below; otherwise admin when "
            f"listed in `STUDIO_ADMINS` ({settings.admins or 'nobody'}); otherwise **{settings.default_role}** "
            "(`STUDIO_DEFAULT_ROLE`).")
st.caption("viewer: looks at everything · analyst: also brings data, trains, scores, exports and starts services · "
           "admin: also promotes, deletes, manages connections, gates and users.")

st.subheader("Users")
entries = users.list()
if entries:
    st.dataframe([{"user": e.id, "role": e.role.value, "set by": e.updated_by,
                   "when": time.strftime("%Y-%m-%d %H:%M", time.localtime(e.updated_at))} for e in entries],
                 hide_index=True, width="stretch")
with st.form("user-role"):
    left, right = st.columns([3, 1])
    who = left.text_input("Email (or the provider's subject)", placeholder="ana@example.org")
    role = right.selectbox("Role", list(Role), index=1, format_func=str)
    if st.form_submit_button("Save role", type="primary") and allowed(Role.ADMIN):
        try:
            entry = users.set_role(who, Role(role), by=current_actor())
        except StudioError as exc:
            show_error(exc)
        else:
            st.session_state["settings-flash"] = f"{text(entry.id)} is now {entry.role}."
            st.rerun()
if entries:
    gone = st.selectbox("Remove a user from the table", [""] + [e.id for e in entries])
    if gone and st.button(f"Remove {gone}", icon=":material/person_remove:") and allowed(Role.ADMIN):
        users.remove(gone, by=current_actor())
        st.session_state["settings-flash"] = f"{text(gone)} was removed from the table."
        st.rerun()

st.subheader("Saved database connections")
connections = studio.connections.list()
if not connections:
    st.caption("None saved: save one from the Data page's Database tab.")
for spec in connections:
    left, right = st.columns([4, 1])
    left.markdown(f"**{spec.name}** · {spec.driver} · `{spec.user or '-'}@{spec.host or '-'}/{spec.database}`")
    if right.button("Delete", key=f"conn-delete-{spec.name}", icon=":material/delete:") and allowed(Role.ADMIN):
        studio.connections.delete(spec.name or "")
        audit_here("delete connection", f"connection:{spec.name}")
        st.rerun()

st.subheader("Audit log")
st.dataframe([{"when": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(a.at)), "who": a.actor, "action": a.action,
               "on": a.model + (f" v{a.version}" if a.version else ""), "why": a.reason} for a in read_audit(
                   studio.engine, limit=300)], hide_index=True, width="stretch")
