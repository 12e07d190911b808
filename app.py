"""The studio's web app: page config, sign-in and navigation only; every page lives in app_pages/."""

from pathlib import Path

import streamlit as st

from studio.auth import Role
from studio.ui.auth import hold_signed_in_runs, sidebar, sign_in
from studio.ui.common import ensure_local_worker, pages_first

LOGO = str(Path(__file__).parent / "assets" / "logo.png")
hold_signed_in_runs()  # from the next run on, a signed-in session's whole run holds the training (pages first)
st.set_page_config(page_title="ML Studio", page_icon=LOGO, layout="wide")
actor = sign_in()  # with login configured, stops at the sign-in screen until the person has signed in
# the training on this machine pauses while a signed-in person's page runs, its sidebar and navigation included
# (studio/worker/yielding.py; already held from the run's start after the first: studio/ui/run_hold.py); not for
# the sign-in screen, which anyone who reaches the app can rerun
with pages_first():
    ensure_local_worker()
    st.logo(LOGO)
    sidebar(actor)
    pages = [
        st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("app_pages/data.py", title="Data", icon=":material/table:"),
        st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("app_pages/jobs.py", title="Jobs", icon=":material/pending_actions:"),
        st.Page("app_pages/runs.py", title="Runs", icon=":material/leaderboard:"),
        st.Page("app_pages/models.py", title="Models", icon=":material/inventory_2:"),
        st.Page("app_pages/deploy.py", title="Deploy", icon=":material/rocket_launch:"),
    ]
    if actor.can(Role.ADMIN):
        pages.append(st.Page("app_pages/settings.py", title="Settings", icon=":material/admin_panel_settings:"))
    st.navigation(pages).run()
