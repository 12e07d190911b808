"""A signed-in session's run is held from the start of Streamlit's script thread (studio/ui/run_hold.py): a fake
guard on the real pages-first socket sees the PAUSE before the app's first line, one PAUSE and RESUME a run."""

from __future__ import annotations

import os
import select
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import studio.ui.auth as auth
from studio.context import Studio
from studio.ui import run_hold
from studio.worker import yielding
from tests.conftest import REPO


class FakeGuard:
    """Records the messages a worker's guard receives and answers each PAUSE, as a real guard does."""

    def __init__(self, store: str, worker_id: str, events: list[str]) -> None:
        self.events = events
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(yielding.address(store, worker_id))
        self.stopping, self.synced = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            if not select.select([self.sock], [], [], 0.05)[0]:
                continue
            message, sender = self.sock.recvfrom(16)
            if message == yielding.PAUSE:
                self.events.append("pause")
                if sender:
                    self.sock.sendto(yielding.ACK, sender)
            elif message == yielding.RESUME:
                self.events.append("resume")
            elif message == b"sync":
                self.synced.set()

    def sync(self) -> None:
        """Wait until every message sent before this call has been read (datagrams arrive in order)."""
        self.synced.clear()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"sync", self.sock.getsockname())
        assert self.synced.wait(5)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def guarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGuard]:
    """A worker of this studio listed on this machine, with a fake guard, which keeps the events it and the app
    saw."""
    st.cache_resource.clear()
    st.cache_data.clear()
    studio = Studio()
    studio.jobs.touch_worker("fake-worker", pid=os.getpid())
    events: list[str] = []
    real_sign_in = auth.sign_in
    monkeypatch.setattr(auth, "sign_in", lambda: (events.append("sign_in"), real_sign_in())[1])
    guard = FakeGuard(studio.jobs.identity, "fake-worker", events)
    yield guard
    guard.close()


@pytest.mark.skipif(not yielding.SUPPORTED, reason="pages first needs Linux's abstract sockets and pidfds")
def test_a_signed_in_run_is_held_from_before_the_app_starts(guarded: FakeGuard) -> None:
    events = guarded.events
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    app.run()  # no one had signed in before this run: app.py holds after the sign-in
    guarded.sync()
    assert events == ["sign_in", "pause", "resume"]
    events.clear()
    app.run()  # signed in on the run before: held from the script thread's start, and once (app.py's is inside)
    guarded.sync()
    assert not app.exception
    assert events == ["pause", "sign_in", "resume"]


@pytest.mark.skipif(not yielding.SUPPORTED, reason="pages first needs Linux's abstract sockets and pidfds")
def test_a_session_at_the_sign_in_screen_is_never_held(guarded: FakeGuard) -> None:
    events = guarded.events
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    app.run()
    app.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
                           "client_id": "studio", "client_secret": "s",
                           "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
    app.user = {"is_logged_in": False}
    guarded.sync()
    events.clear()
    app.run()  # signed out (login now required, nobody signed in): held from the start one last time, then never
    guarded.sync()
    assert app.button[0].label == "Sign in"
    assert events == ["pause", "sign_in", "resume"]
    events.clear()
    app.run()
    app.run()
    guarded.sync()
    assert events == ["sign_in", "sign_in"]


def test_a_hold_that_fails_lets_the_page_run(guarded: FakeGuard, caplog: pytest.LogCaptureFixture) -> None:
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    app.run()

    def broken() -> None:
        raise RuntimeError("the job store is gone")

    run_hold.install(signed_in=lambda state: True, hold=broken)  # app.py puts the studio's back as the run starts
    app.run()
    assert not app.exception and app.title[0].value == "ML Studio"
    assert "Pages first could not hold this run" in caplog.text
    guarded.events.clear()
    app.run()  # and the next run is held from its start again
    guarded.sync()
    assert guarded.events == ["pause", "sign_in", "resume"]


@pytest.mark.skipif(not yielding.SUPPORTED, reason="pages first needs Linux's abstract sockets and pidfds")
def test_a_page_asks_to_continue_a_worker_whose_guard_is_gone(guarded: FakeGuard,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    studio = Studio()
    studio.jobs.touch_worker("guardless", pid=4242)  # listed on this machine, nobody at its address
    asked: list[tuple[int, float]] = []
    monkeypatch.setattr(yielding, "release_orphan", lambda pid, *, started_by: asked.append((pid, started_by)))
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    app.run()
    guarded.sync()
    started = next(w.started_at for w in studio.jobs.alive_workers(within_s=60) if w.id == "guardless")
    assert asked == [(4242, started)]  # the other worker's guard took its PAUSE: nothing asked for it
    assert guarded.events == ["sign_in", "pause", "resume"]
