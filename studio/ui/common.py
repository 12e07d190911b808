"""Shared Streamlit helpers: the cached Studio, error display, small formatting widgets."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from studio.context import Studio
from studio.errors import SpecError, StudioError


@st.cache_resource(show_spinner=False)
def get_studio() -> Studio:
    """One Studio per app process (settings from the environment)."""
    return Studio()


@st.cache_resource(ttl=15, show_spinner=False)
def ensure_local_worker() -> bool:
    """The embedded default: start a worker if none is alive (checked at most every 15 s)."""
    from studio.jobs.local import ensure_worker

    return ensure_worker(get_studio())


def empty_state(message: str, *, page: str, label: str) -> None:
    """Say why a page is empty and link to where the next step happens, then stop the page."""
    st.info(message)
    st.page_link(page, label=label, icon=":material/arrow_forward:")
    st.stop()


def show_error(exc: StudioError) -> None:
    if isinstance(exc, SpecError) and len(exc.problems) > 1:
        st.error("**This cannot run yet:**\n" + "\n".join(f"- {p}" for p in exc.problems))
    else:
        st.error(str(exc))


def ago(ts: float | None) -> str:
    if ts is None:
        return "-"
    seconds = time.time() - ts
    if seconds < 60:
        return f"{seconds:.0f}s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f}s"
    return f"{seconds // 60:.0f}m {seconds % 60:02.0f}s"


def score(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"
