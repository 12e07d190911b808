"""Wake-ups for idle workers on this machine, so a queued job is claimed at once instead of at the next poll.

Each waiting worker binds a Unix datagram socket in Linux's abstract namespace, named after its job store and its
worker id (no file, so no path length limit and nothing to clean up when a worker is SIGKILLed); submitting a job
sends one byte to every worker the store lists as alive. A worker on another machine (a shared PostgreSQL store)
is not reached and finds the job at its next poll. The byte carries nothing: a stranger who rings only makes a
worker look at the queue early.
"""

from __future__ import annotations

import contextlib
import hashlib
import select
import socket
import sys
from collections.abc import Iterable

SUPPORTED = sys.platform.startswith("linux")  # abstract sockets are Linux's; elsewhere workers poll


def _address(store: str, worker_id: str) -> str:
    digest = hashlib.sha256(f"{store}\n{worker_id}".encode()).hexdigest()[:32]
    return f"\0studio-doorbell-{digest}"


class Doorbell:
    """The socket one worker waits on; `wait()` returns early when a job is submitted or `ring_self()` is called."""

    def __init__(self, store: str, worker_id: str) -> None:
        self.address = _address(store, worker_id)
        self._sock: socket.socket | None = None
        if SUPPORTED:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.bind(self.address)
            except OSError:  # another process took this name (the same worker id twice): poll instead
                sock.close()
            else:
                sock.setblocking(False)
                self._sock = sock

    def wait(self, timeout_s: float) -> bool:
        """Sleep until rung or `timeout_s` passes; returns whether it was rung."""
        if self._sock is None:
            select.select([], [], [], timeout_s)
            return False
        ready, _, _ = select.select([self._sock], [], [], timeout_s)
        rung = bool(ready)
        while rung:  # several rings while asleep are one wake-up
            try:
                self._sock.recv(16)
            except BlockingIOError:
                break
        return rung

    def ring_self(self) -> None:
        """Wake this worker's own `wait()` (to stop it without waiting for the poll)."""
        _send(self.address)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def ring(store: str, worker_ids: Iterable[str]) -> None:
    """Wake the listed workers of `store` that wait on this machine; the others find the job when they poll."""
    if SUPPORTED:
        for worker_id in worker_ids:
            _send(_address(store, worker_id))


def _send(address: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(
            ConnectionRefusedError, FileNotFoundError, BlockingIOError):  # gone, or already awake
        sock.setblocking(False)  # a stopped or busy receiver's full queue must not hang the sender
        sock.sendto(b"!", address)
