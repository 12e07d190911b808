"""Shared Streamlit helpers: the cached Studio, error display, small formatting widgets."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from studio.context import Studio
from studio.errors import SpecError, StudioError
from studio.markup import text
from studio.worker import yielding


@st.cache_resource(show_spinner=False)
def get_studio() -> Studio:
    """One Studio per app process (settings from the environment)."""
    return Studio()


@st.cache_resource(ttl=15, show_spinner=False)
def ensure_local_worker() -> bool:
    """The embedded default: start a worker if none is alive (checked at most every 15 s)."""
    from studio.worker.local import ensure_worker

    return ensure_worker(get_studio())


@st.cache_data(ttl=10, show_spinner=False)
def _local_workers() -> list[str]:
    try:
        return get_studio().jobs.local_workers()
    except SQLAlchemyError:  # the page says what is wrong with the database; pausing compute is not worth an error
        return []


_held = threading.local()  # whether this script thread already holds (studio/ui/run_hold.py)


@contextlib.contextmanager
def pages_first() -> Iterator[None]:
    """Run a page with the compute of this machine's workers paused (Settings.pages_first): beside training, the
    page would share the memory bus with it. Inside a hold this thread already took, it does nothing."""
    studio = get_studio()
    if not studio.settings.pages_first or getattr(_held, "on", False):
        yield
        return
    _held.on = True
    try:
        with yielding.pages_first(studio.jobs.identity, _local_workers(), unreached=_release):
            yield
    finally:
        _held.on = False


def _release(worker_id: str) -> None:
    """A worker of this machine whose guard did not take the PAUSE: continue it if its guard died holding it."""
    here = socket.gethostname()
    with contextlib.suppress(SQLAlchemyError):
        for worker in get_studio().jobs.alive_workers(within_s=300):
            if worker.id == worker_id and worker.host == here:
                yielding.release_orphan(worker.pid, started_by=worker.started_at)


def empty_state(message: str, *, page: str, label: str) -> None:
    """Say why a page is empty and link to where the next step happens, then stop the page."""
    st.info(message)
    st.page_link(page, label=label, icon=":material/arrow_forward:")
    st.stop()


def show_error(exc: StudioError) -> None:
    """The error's message as text: it may quote column names, values or paths, which must not render as markup."""
    if isinstance(exc, SpecError) and len(exc.problems) > 1:
        st.error("**This cannot run yet:**\n" + "\n".join(f"- {text(p)}" for p in exc.problems))
    else:
        st.error(text(exc))


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


def chart(fig: Any, *, key: str, container: Any = None) -> None:
    """A plotly chart with its downloads: PNG from the chart's own toolbar (camera icon), HTML (interactive,
    plotly.js included, generated only when clicked) from the button under it."""
    where = container or st
    where.plotly_chart(fig, width="stretch", key=f"chart-{key}",
                       config={"toImageButtonOptions": {"format": "png", "filename": key, "scale": 2}})
    where.download_button("HTML", data=lambda: fig.to_html(include_plotlyjs=True, full_html=True),
                          file_name=f"{key}.html", mime="text/html", key=f"html-{key}", icon=":material/download:",
                          help="Download this chart as an interactive HTML page (PNG: the camera icon on the chart).")


def table_download(frame: Any, *, name: str, key: str, container: Any = None) -> None:
    """A CSV download of a table (generated when clicked)."""
    (container or st).download_button("CSV", data=lambda: frame.to_csv(index=False), file_name=f"{name}.csv",
                                      mime="text/csv", key=f"csv-{key}", icon=":material/download:")
