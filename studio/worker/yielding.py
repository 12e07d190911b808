"""Pages first: while the app runs a page, the training processes of the workers on this machine pause.

Priorities keep trials off a core the app wants (the Dask workers run in the idle scheduling class, below a
niced worker: studio/compute/cluster.py), but not off the memory bus and the shared cache: a page rerun beside a
SCHED_IDLE process summing a large array on the other core took 1.5-1.75x as long at p95 as beside nothing,
beside a SCHED_IDLE pure-Python loop 1.0x (bench/ui_neighbours.py); a training job cost pages 1.1-1.3x. No
scheduling class shares memory bandwidth, so the worker stops its compute processes (SIGSTOP) for the few
milliseconds a page takes.

Protocol: each worker has a guard, a small process of its own (`guard`, started by `studio worker`), which binds
a Unix datagram socket in Linux's abstract namespace, named after the job store and worker id (as the worker's
doorbell, studio/jobs/doorbell.py). Before a page runs, the app sends PAUSE to each worker of its store on this
machine, and RESUME after (`pages_first`). At the first PAUSE the guard stops the worker process and every
process below it (its Dask workers and their trials; not itself); it lets them go on when every PAUSE has its
RESUME, or at the latest MAX_PAUSE_S after the first (an app that died mid-page, a slow page, pages rerun back to
back by many people), and then lets them run at least as long before it holds them again: training is never held
more than half the time. The worker process is stopped too, not only its compute: the search's driver, the Dask
scheduler's periodic work and the job's writes cost pages 5-10 % at the median while they ran beside them, and a
listener inside the worker had to win the GIL from the driver before it could answer (a probe on bench/ui.py's
job, 2026-12-07: p95 x1.03-1.20 on every page with the guard, x1.29-1.39 on three with the listener inside the
worker; docs/benchmarks.md). A guard killed outright (SIGKILL) while it holds leaves its worker stopped; the next
page finds its address unbound and continues the worker and what is below it (`release_orphan`). The studio only
ever sends a guard SIGTERM, and SIGKILL after 5 s without an answer.

The guard answers each PAUSE with ACK once the worker is stopped (at once when it is not going to stop it), and
the page waits for those answers, at most ACK_WAIT_S, so it never starts beside the training. Its path is short:
a blocking receive, one pidfd signal per process, no /proc reads. A guard that does not answer (stopped, or gone)
costs a page ACK_WAIT_S. A guard ends when its worker does, and continues what it holds when stopped (SIGTERM).

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
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import psutil

SUPPORTED = sys.platform.startswith("linux") and hasattr(os, "pidfd_open")  # Python's pidfds: Linux 5.3
PAUSE, RESUME, QUIT, ACK = b"p", b"r", b"q", b"a"
#: The longest one page holds a worker's compute: a page that takes longer lets training go on.
MAX_PAUSE_S = 1.0
#: After a hold ran its full MAX_PAUSE_S, training runs at least this long before the next.
COOLDOWN_S = MAX_PAUSE_S
#: The longest a page waits for its workers' ACKs before it runs anyway.
ACK_WAIT_S = 0.02
_CREDENTIALS = struct.calcsize("3i")  # pid, uid, gid
#: The module a guard runs as (`start_guard`): how a guard is told from its worker's other children.
GUARD_MODULE = "studio.worker.yielding"


def address(store: str, worker_id: str) -> str:
    digest = hashlib.sha256(f"{store}\n{worker_id}".encode()).hexdigest()[:32]
    return f"\0studio-pages-first-{digest}"


class Yielder:
    """The guard's listener: stops the processes below `root_pid` (and the root, `with_root`) while pages run (see
    the module's docstring)."""

    def __init__(self, store: str, worker_id: str, root_pid: int | None = None, *, with_root: bool = False) -> None:
        """`with_root`: stop the process `root_pid` too (the worker itself, from its guard: see `guard`)."""
        self.address = address(store, worker_id)
        self.root_pid = root_pid or os.getpid()
        self.paused_s = 0.0  # how long compute was held, in all
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._below = _Below(self.root_pid, with_root=with_root)
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
        holding, pending, since, free_until = False, 0, 0.0, 0.0
        try:
            while True:
                # blocks while nothing is held: nothing polls; one receive per message, the page waiting on its ACK
                ready = True
                if holding:
                    left = max(0.0, since + MAX_PAUSE_S - time.monotonic())
                    ready = bool(select.select([self._sock], [], [], left)[0])
                if not ready:  # held MAX_PAUSE_S: training runs at least as long before the next hold
                    pending, free_until = 0, time.monotonic() + COOLDOWN_S
                else:
                    message, sender = self._receive()
                    now = time.monotonic()  # when it came, not when the wait began (maybe long before)
                    if message == QUIT:
                        return
                    if message == PAUSE:
                        starting = now >= free_until and not holding
                        if starting:
                            holding, since, pending = True, now, 0
                            self._below.signal(signal.SIGSTOP)
                        if holding:
                            pending += 1
                        if sender:  # the page runs once its compute is stopped (or will not be)
                            _send(sender, ACK, self._sock)
                        if starting:  # after the ACK, beside the page: what started since the last look (a Dask
                            self._below.stop_new()  # worker restarted) is stopped too
                    elif message == RESUME:
                        pending = max(0, pending - 1)
                if holding and pending == 0:
                    self._below.signal(signal.SIGCONT)
                    holding = False
                    self.paused_s += time.monotonic() - since
                    self._below.forget_ended()  # off the next page's path
        finally:
            if holding:
                self._below.signal(signal.SIGCONT)
            self._below.close()

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


class _Below:
    """The processes below the worker, held as pidfds: a pid may name another process once its own has ended, a
    pidfd names the process itself; and signalling through one is a single system call (psutil's checks read /proc
    before each signal, on the page's path). The known ones are
    signalled before the ACK; the tree is read again after it, while the page runs, and what started since the
    last look (a Dask worker restarted after a trial over its time limit) is stopped then, not up to 10 s later as
    when the tree was read after holds only. Nothing known is let go of during a hold: one that left the tree (its
    parent ended) is still continued after it."""

    def __init__(self, root_pid: int, *, with_root: bool = False) -> None:
        self.root_pid = root_pid
        self.with_root = with_root
        self._fds: dict[int, int] = {}  # pid -> pidfd
        self._ended: set[int] = set()
        self._looked = False  # whether the tree was ever read: after that, stop_new keeps _fds current

    def signal(self, signum: int) -> None:
        if not self._looked:  # the first page: its compute is stopped before its ACK too
            self._add(self._tree())
        self._signal(self._fds.items(), signum)

    def stop_new(self) -> None:
        """Stop the processes below the worker that it did not know of (read from /proc: a few files)."""
        self._signal(self._add(self._tree()), signal.SIGSTOP)

    def _tree(self) -> list[int]:
        """The processes to stop: those below the root (and the root itself, `with_root`), never this one."""
        found = [*([self.root_pid] if self.with_root else []), *_descendants(self.root_pid)]
        return [pid for pid in found if pid != os.getpid()]

    def forget_ended(self) -> None:
        for pid in self._ended:
            if (fd := self._fds.pop(pid, None)) is not None:
                os.close(fd)
        self._ended.clear()

    def _add(self, pids: Iterable[int]) -> list[tuple[int, int]]:
        self._looked, added = True, []
        for pid in pids:
            if pid not in self._fds:
                with contextlib.suppress(OSError):  # ended since the scan
                    self._fds[pid] = os.pidfd_open(pid)
                    added.append((pid, self._fds[pid]))
        return added

    def _signal(self, targets: Iterable[tuple[int, int]], signum: int) -> None:
        for pid, fd in list(targets):
            try:
                signal.pidfd_send_signal(fd, signum)
            except ProcessLookupError:  # it ended (a Dask worker restarted): its pid may name another one later
                self._ended.add(pid)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds, self._ended = {}, set()


def _descendants(root: int) -> list[int]:
    """The processes below `root`, from each thread's `children` file in /proc (a few reads, where psutil scans
    every process of the machine), or psutil where the kernel has no such files (CONFIG_PROC_CHILDREN off)."""
    if not os.path.exists(f"/proc/{root}/task/{root}/children"):
        with contextlib.suppress(psutil.Error):
            return [p.pid for p in psutil.Process(root).children(recursive=True)]
        return []
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError):  # the process ended
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as children:
                    todo.extend(int(c) for c in children.read().split())
        if pid != root:
            found.append(pid)
    return found


def start_guard(store: str, worker_id: str) -> subprocess.Popen[bytes] | None:
    """Start the guard of this worker process (see `guard`); None where pages first is not supported."""
    if not SUPPORTED:
        return None
    return subprocess.Popen([sys.executable, "-m", GUARD_MODULE, store, worker_id, str(os.getpid())],
                            stdin=subprocess.DEVNULL)


def stop_guard(guard: subprocess.Popen[bytes] | None) -> None:
    """Stop a guard: it continues whatever it holds before it exits."""
    if guard is not None and guard.poll() is None:
        guard.terminate()
        try:
            guard.wait(timeout=5)
        except subprocess.TimeoutExpired:
            guard.kill()
            guard.wait()


def guard(store: str, worker_id: str, root_pid: int) -> None:
    """Serve pages first for the worker `root_pid` from a process of its own, its guard, until the worker ends: it
    stops the worker itself with its compute (why: the module's docstring), and continues them when it ends."""
    watched = os.pidfd_open(root_pid)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    yielder = Yielder(store, worker_id, root_pid, with_root=True).start()
    try:
        select.select([watched], [], [])  # readable when the worker has ended
    finally:
        yielder.close()  # what it holds goes on
        os.close(watched)
        print(f"Pages first: the worker was paused for pages {yielder.paused_s:.1f} s in all.", file=sys.stderr)


@contextlib.contextmanager
def pages_first(store: str, worker_ids: Iterable[str], *,
                unreached: Callable[[str], object] | None = None) -> Iterator[None]:
    """Hold the compute of `worker_ids` (workers of `store` on this machine) while the block runs, which starts
    once each of them has acknowledged (at most ACK_WAIT_S). `unreached` is called with each worker whose guard
    did not take the PAUSE (gone, or its queue full)."""
    ids = list(worker_ids) if SUPPORTED else []
    addresses = [address(store, w) for w in ids]
    if not addresses:
        yield
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("")  # an address of its own in the abstract namespace (Linux autobind): the ACKs come to it
        reached = 0
        for worker_id, to in zip(ids, addresses, strict=True):
            if _send(to, PAUSE, sock):
                reached += 1
            elif unreached is not None:
                unreached(worker_id)
        _await_acks(sock, reached)
        try:
            yield
        finally:
            for a in addresses:
                _send(a, RESUME, sock)


def release_orphan(pid: int, *, started_by: float) -> bool:
    """Continue the worker `pid` and every process below it when it is stopped and has no live guard: a guard killed
    outright (SIGKILL) while it held them, the one way a guard leaves its worker stopped. The app calls it for a
    worker whose guard did not take a page's PAUSE. `started_by`: when the worker registered; a process started
    later is another one with the same pid, and is left alone. Whether it continued them."""
    try:
        worker = psutil.Process(pid)
        if worker.create_time() > started_by or worker.status() != psutil.STATUS_STOPPED:
            return False
        below = worker.children(recursive=True)
        if any(is_guard(p) for p in worker.children()):
            return False  # its guard runs (starting, or its queue full): it will continue them
    except psutil.Error:
        return False
    for process in [worker, *below]:
        with contextlib.suppress(psutil.Error):  # ended meanwhile
            process.resume()
    return True


def is_guard(process: psutil.Process) -> bool:
    """Whether `process` is a running guard (not one that ended and waits to be reaped)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE and GUARD_MODULE in " ".join(process.cmdline())
    except psutil.Error:
        return False


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


if __name__ == "__main__":
    guard(sys.argv[1], sys.argv[2], int(sys.argv[3]))
