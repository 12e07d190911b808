"""Pages first: while the app runs a page, the training processes of the workers on this machine pause.

Priorities keep trials off a core the app wants (the Dask workers run in the idle scheduling class, below a
niced worker: studio/compute/cluster.py), but not off the memory bus and the shared cache: a page rerun beside a
SCHED_IDLE process summing a large array on the other core took 1.5-1.75x as long at p95 as beside nothing,
beside a SCHED_IDLE pure-Python loop 1.0x (bench/ui_neighbours.py); a training job cost pages 1.1-1.3x. No
scheduling class shares memory bandwidth, so the worker stops its compute processes (SIGSTOP) for the few
milliseconds a page takes.

Protocol: each worker binds a Unix datagram socket in Linux's abstract namespace, named after its job store and
worker id (as its doorbell, studio/jobs/doorbell.py). Before a page runs, the app sends PAUSE to each worker of
its store on this machine, and RESUME after (`pages_first`). At the first PAUSE the worker stops every process
below it (its Dask workers and their trials) and holds the search's driver in its own process between its steps
(studio/compute/hold.py); it lets them go on when every PAUSE has its RESUME, or at the latest MAX_PAUSE_S after
the first (an app that died mid-page, a slow page, pages rerun back to back by many people), and then lets them
run at least as long before it holds them again: training is never held more than half the time.

The worker answers each PAUSE with ACK once its compute is stopped (at once when it is not going to stop it), and
the page waits for those answers, at most ACK_WAIT_S: without the wait, the first milliseconds of a page ran
beside the training while the worker's thread woke up at its nice level, which on a 20 ms page was most of what
the job still cost it (x1.29 at p95). A worker that does not answer (stopped, or gone) costs a page ACK_WAIT_S.

Messages are accepted from this user's processes only (the kernel's SCM_CREDENTIALS, not a claim in the
message): another local user cannot stall a job. The listener blocks on its socket: nothing polls while no page
runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterable, Iterator

import psutil

from studio.compute import hold

SUPPORTED = sys.platform.startswith("linux")
PAUSE, RESUME, QUIT, ACK = b"p", b"r", b"q", b"a"
#: The longest one page holds a worker's compute: a page that takes longer lets training go on.
MAX_PAUSE_S = hold.MAX_HOLD_S
#: The longest a page waits for its workers' ACKs before it runs anyway.
ACK_WAIT_S = 0.02
_CREDENTIALS = struct.calcsize("3i")  # pid, uid, gid


def address(store: str, worker_id: str) -> str:
    digest = hashlib.sha256(f"{store}\n{worker_id}".encode()).hexdigest()[:32]
    return f"\0studio-pages-first-{digest}"


class Yielder:
    """A worker's listener: stops the processes below `root_pid` while pages run (see the module's docstring)."""

    def __init__(self, store: str, worker_id: str, root_pid: int | None = None) -> None:
        self.address = address(store, worker_id)
        self.root_pid = root_pid or os.getpid()
        self.paused_s = 0.0  # how long compute was held, in all
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._below: list[psutil.Process] = []  # found after each hold, off the next page's path
        if not SUPPORTED:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(self.address)
        except OSError:  # the same worker id twice: that worker does not yield
            sock.close()
            return
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._sock = sock

    def start(self) -> Yielder:
        if self._sock is not None:
            self._thread = threading.Thread(target=self._serve, name="pages-first", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop listening; every process it stopped continues."""
        if self._thread is not None:
            _send(self.address, QUIT)
            self._thread.join(timeout=5)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _serve(self) -> None:
        assert self._sock is not None
        held: list[psutil.Process] = []
        holding, pending, since, free_until = False, 0, 0.0, 0.0
        try:
            while True:
                # blocks while nothing is held: nothing polls
                timeout = max(0.0, since + MAX_PAUSE_S - time.monotonic()) if holding else None
                ready, _, _ = select.select([self._sock], [], [], timeout)
                now = time.monotonic()
                if not ready:  # held MAX_PAUSE_S: training runs at least as long before the next hold
                    pending, free_until = 0, now + MAX_PAUSE_S
                else:
                    message, sender = self._receive()
                    if message == QUIT:
                        return
                    if message == PAUSE:
                        if now >= free_until:
                            if not holding:
                                holding, since, pending = True, now, 0
                                hold.hold(True)  # the search's driver, in this process, waits too
                                held = _signal(self._below or self._find_below(), signal.SIGSTOP)
                            pending += 1
                        if sender:  # the page runs once its compute is stopped (or will not be)
                            _send(sender, ACK, self._sock)
                    elif message == RESUME:
                        pending = max(0, pending - 1)
                if holding and pending == 0:
                    _signal(held, signal.SIGCONT)
                    held, holding = [], False
                    hold.hold(False)
                    self.paused_s += time.monotonic() - since
                    self._below = self._find_below()  # for the next page: psutil scans every process
        finally:
            _signal(held, signal.SIGCONT)
            hold.hold(False)

    def _receive(self) -> tuple[bytes | None, bytes | str | None]:
        """One message and the address it came from (for the ACK; None when the sender has none), or
        (None, None) when it is not from a process of this user."""
        assert self._sock is not None
        data, ancillary, _, sender = self._sock.recvmsg(16, socket.CMSG_SPACE(_CREDENTIALS))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(payload) >= _CREDENTIALS:
                _, uid, _ = struct.unpack("3i", payload[:_CREDENTIALS])
                return (data, sender or None) if uid == os.getuid() else (None, None)
        return None, None

    def _find_below(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.root_pid).children(recursive=True)
        except psutil.Error:
            return []


def _signal(processes: list[psutil.Process], signum: int) -> list[psutil.Process]:
    """Send `signum` to each process still there; the ones it reached."""
    reached = []
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signum)
            reached.append(process)
    return reached


@contextlib.contextmanager
def pages_first(store: str, worker_ids: Iterable[str]) -> Iterator[None]:
    """Hold the compute of `worker_ids` (workers of `store` on this machine) while the block runs, which starts
    once each of them has acknowledged (at most ACK_WAIT_S)."""
    addresses = [address(store, w) for w in worker_ids] if SUPPORTED else []
    if not addresses:
        yield
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("")  # an address of its own in the abstract namespace (Linux autobind): the ACKs come to it
        reached = sum(_send(a, PAUSE, sock) for a in addresses)
        _await_acks(sock, reached)
        try:
            yield
        finally:
            for a in addresses:
                _send(a, RESUME, sock)


def _await_acks(sock: socket.socket, expected: int) -> int:
    """Read up to `expected` ACKs from `sock`, for at most ACK_WAIT_S; how many came."""
    deadline, received = time.monotonic() + ACK_WAIT_S, 0
    while received < expected and (left := deadline - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        with contextlib.suppress(BlockingIOError):
            received += sock.recv(16, socket.MSG_DONTWAIT) == ACK
    return received


def _send(address_: str | bytes, message: bytes, sock: socket.socket | None = None) -> bool:
    """Send `message` (from `sock`, or from a socket of its own); whether it was delivered."""
    with contextlib.ExitStack() as own:
        if sock is None:
            sock = own.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))
        try:  # never blocking: a stopped or busy receiver's full queue must not hang the sender
            sock.sendto(message, socket.MSG_DONTWAIT, address_)
        except (ConnectionRefusedError, FileNotFoundError, BlockingIOError):  # gone, or its queue is full
            return False
        return True
