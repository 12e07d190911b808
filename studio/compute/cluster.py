"""Dask clusters behind the compute profiles, and the pool of worker slots a search runs its trials on.

A local profile starts a `LocalCluster` of worker processes, each with the profile's threads and a memory
limit that Dask's nanny enforces (a worker over it is killed and restarted: the trial fails, the job goes on).
A `cluster` profile connects to a remote scheduler. Clusters are kept warm per shape for the life of the
process, so consecutive jobs do not pay the start-up again; their worker processes exit with this process
(even on SIGKILL: each one watches a pipe to its parent).
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from studio import vault
from studio.compute.profiles import ComputeProfile
from studio.errors import StudioError

if TYPE_CHECKING:
    from distributed import Client, Future
    from distributed.security import Security

log = logging.getLogger("studio.compute")
for _noisy in ("distributed", "distributed.scheduler", "distributed.worker"):
    # Dask logs every cluster start and stop at INFO; the CLI's output must stay one line.
    logging.getLogger(_noisy).setLevel(logging.WARNING)
# Stopping an overrunning trial restarts its worker on purpose; the nanny would warn each time.
logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
#: Dask's own housekeeping, turned down for a cluster that mostly waits for the next job (idle: 0.12 of a core
#: with Dask's defaults, about 0.01 with these, on 2 cores). The statistical profiler samples every thread each
#: 10 ms; the event-loop watchdog ticks each 20 ms (here 1 s); the system monitor, the GIL monitor and the active
#: memory manager serve the dashboard and spilling, which a local cluster here does not use (a trial's data is
#: not Dask-managed; the nanny's memory limit still stops a worker that grows past it).
QUIET = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",  # under the watchdog's 3 s limit, read once at import: a longer
    # interval than it logs every tick as an unresponsive event loop
    "distributed.admin.tick.cycle": "5s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.gil.enabled": False,
    "distributed.scheduler.active-memory-manager.start": False,
    "distributed.worker.memory.target": False,
    "distributed.worker.memory.spill": False,
    "distributed.worker.memory.pause": False,
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.client.scheduler-info-interval": "10s",
}
#: A local worker's heartbeat to the scheduler (Dask: every 0.5 s on a small cluster, set by the scheduler's
#: `heartbeat_interval`, which no setting changes); a worker that dies is seen at once (its connection closes),
#: the heartbeat only carries metrics.
WORKER_HEARTBEAT_S = 5.0
#: How often the local scheduler checks whether it is idle or has no workers (Dask: 250 ms, for the idle and
#: no-worker timeouts, which the studio does not use).
IDLE_CHECK_MS = 5000
_lock = threading.Lock()
_clients: dict[tuple[Any, ...], Any] = {}
#: Per kept cluster: the fingerprint of the last training data sent to its workers, and the futures holding it
#: there. The next job on the same rows (a re-run, another spec on the snapshot) finds it in place: data reaches
#: the workers once per snapshot, not once per job. One entry per cluster, so idle workers hold one table at most.
_sent: dict[tuple[Any, ...], tuple[str, list[Any]]] = {}


class ComputeError(StudioError):
    """The compute backend could not be started or reached."""


def _key(profile: ComputeProfile) -> tuple[Any, ...]:
    return (profile.scheduler,) if profile.is_remote else (profile.workers, profile.threads, profile.memory_gb)


def client_for(profile: ComputeProfile) -> Client:
    """A connected Dask client for `profile`, started (local) or connected (remote) on first use."""
    from distributed import Client

    with _lock:
        client = _clients.get(_key(profile))
        if client is not None and client.status == "running" and _nannies_up(client, profile):
            return client
        if client is not None:  # closed, or a local cluster whose nannies are gone: it would never get workers back
            log.warning("Compute '%s': the kept cluster has lost its workers; starting a fresh one.", profile.name)
            _clients.pop(_key(profile), None)
            _sent.pop(_key(profile), None)
            _close(client)
        started = time.monotonic()
        try:
            if profile.is_remote:
                client = Client(profile.scheduler, timeout="10s", set_as_default=False, security=security(profile))
            else:
                client = _start_local(profile)
        except OSError as exc:
            where = profile.scheduler or "a local cluster"
            raise ComputeError(f"Cannot start or reach the Dask compute for '{profile.name}' ({where}): {exc}. "
                               "Check the scheduler address in compute.toml and that it is running.") from None
        log.info("Compute '%s' ready in %.1f s: %s", profile.name, time.monotonic() - started, profile.summary())
        _clients[_key(profile)] = client
        return client


def _start_local(profile: ComputeProfile) -> Client:
    """A local cluster of `profile`'s shape, quiet when idle, and a client of it."""
    import dask
    from distributed import Client, LocalCluster

    # A worker that dies while running a trial fails that trial at once (no retries elsewhere).
    dask.config.set({"distributed.scheduler.allowed-failures": 0})
    # Tasks run any code the scheduler is sent: the workers get no secret in their environment,
    # and the cluster listens on loopback only, over TLS with certificates made for it alone.
    # The scheduler's HTTP server serves its health probe only, unless the profile asks for the dashboard.
    vault.seal()
    _slow_heartbeats()
    routes = {} if profile.dashboard else {"distributed.scheduler.http.routes": ["distributed.http.health"]}
    for attempt in range(2):
        try:
            with dask.config.set({**QUIET, **routes}):
                cluster = LocalCluster(
                    n_workers=profile.workers, threads_per_worker=profile.threads, processes=True,
                    heartbeat_interval=f"{WORKER_HEARTBEAT_S}s",
                    memory_limit=f"{profile.memory_gb}GiB", host="127.0.0.1", scheduler_port=0,
                    dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": profile.dashboard},
                    silence_logs=logging.ERROR, security=security(profile))
                for check in ("idle-timeout", "no-workers-timeout"):  # for timeouts the studio does not set:
                    scheduler: Any = cluster.scheduler  # (in this process) 4 a second, otherwise
                    scheduler.periodic_callbacks[check].callback_time = IDLE_CHECK_MS
                return Client(cluster, set_as_default=False)
        except RuntimeError as exc:  # "Nanny failed to start": a worker process started too slowly
            if attempt:  # (seen under heavy load); a second try usually finds the machine calmer
                raise ComputeError(f"The Dask workers of compute '{profile.name}' did not start: {exc}. "
                                   "The machine may be out of memory or very busy.") from None
            log.warning("Compute '%s': a worker did not start (%s); trying once more.", profile.name, exc)
    raise AssertionError("unreachable")


def _slow_heartbeats() -> None:
    """The scheduler (it runs in this process) tells its workers how often to beat: at most every
    WORKER_HEARTBEAT_S here (Dask's own scaling still applies to big clusters)."""
    import distributed.scheduler

    dask_interval = getattr(distributed.scheduler.heartbeat_interval, "dask_interval",
                            distributed.scheduler.heartbeat_interval)

    def interval(n: int) -> float:
        return max(WORKER_HEARTBEAT_S, dask_interval(n))

    interval.dask_interval = dask_interval  # type: ignore[attr-defined]
    distributed.scheduler.heartbeat_interval = interval


def warm_up(profile: ComputeProfile) -> None:
    """Start `profile`'s cluster now and have its workers import the ML libraries, before a job needs them."""
    _import_ml(client_for(profile), profile)


def _import_ml(client: Client, profile: ComputeProfile) -> None:
    try:  # a fresh worker imports the ML libraries now, not inside the first trial's time limit
        client.run(importlib.import_module, "studio.training.search")
    except Exception as exc:  # a remote worker without the studio installed fails its trials with the reason
        log.warning("Compute '%s': could not prepare the workers: %s", profile.name, exc)


def _nannies_up(client: Client, profile: ComputeProfile) -> bool:
    """Whether a local cluster still has a live nanny per worker (a nanny restarts its worker; once the nanny
    itself is gone, as seen under heavy load after a worker was stopped, nothing brings that worker back)."""
    if profile.is_remote or client.cluster is None:
        return True
    nannies = list(getattr(client.cluster, "workers", {}).values())
    return len(nannies) >= profile.workers and all(
        getattr(getattr(n, "status", None), "name", "running") not in {"closing", "closed", "failed"}
        for n in nannies)


def security(profile: ComputeProfile) -> Security | None:
    """TLS for the cluster: a local one gets temporary certificates of its own; a remote one the files named in
    compute.toml (`tls_ca_file`, `tls_cert`, `tls_key`), or none (plain TCP, for a trusted network only)."""
    from distributed.security import Security

    if not profile.is_remote:
        return Security.temporary()
    if profile.tls_ca_file is None:
        return None
    return Security(tls_ca_file=profile.tls_ca_file, tls_client_cert=profile.tls_cert,
                    tls_client_key=profile.tls_key, require_encryption=True)


def discard(profile: ComputeProfile) -> None:
    """Forget (and close) the cluster behind `profile`; the next job starts a fresh one."""
    with _lock:
        client = _clients.pop(_key(profile), None)
        _sent.pop(_key(profile), None)
    if client is not None:
        _close(client)


def _close(client: Client) -> None:
    cluster = client.cluster
    try:
        client.close(timeout=5)
        if cluster is not None:
            cluster.close(timeout=5)
    except Exception as exc:  # closing is best effort: the processes exit with us anyway
        log.debug("Closing a Dask cluster failed: %s", exc)


@atexit.register
def close_all() -> None:
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
        _sent.clear()
    for client in clients:
        _close(client)


def _exit_soon() -> bool:
    """Runs inside a Dask worker: exit the process a moment after answering, so its nanny restarts it."""
    threading.Timer(0.05, os._exit, [1]).start()
    return True


@dataclass
class TrialPool:
    """The worker slots of one cluster: one trial per worker at a time, each using the worker's threads.

    Trials are pinned to an idle worker, so the driver knows which worker to stop when a trial overruns.
    """

    profile: ComputeProfile
    client: Client
    payload: tuple[Any, ...] = ()
    data: list[Future] = field(default_factory=list)
    restart_wait_s: float = 20.0

    @classmethod
    def open(cls, profile: ComputeProfile, *payload: Any) -> TrialPool:
        pool = cls(profile, client_for(profile), payload)
        if not pool._reuse_sent():
            pool.restore()
        return pool

    @cached_property
    def fingerprint(self) -> str | None:
        """The training data's content hash (hashed once per pool: the payload does not change)."""
        return _fingerprint(self.payload)

    def _reuse_sent(self) -> bool:
        """Whether this data is on every worker already (sent for an earlier job): then it is used in place."""
        fingerprint = self.fingerprint
        kept = _sent.get(_key(self.profile))
        if fingerprint is None or kept is None or kept[0] != fingerprint or not _nannies_up(self.client, self.profile):
            return False
        alive = set(self.workers())
        try:
            holders = self.client.who_has(kept[1])
        except Exception:  # the client or the data is gone: send again
            return False
        if not alive or not all(alive <= set(holders.get(f.key, ())) for f in kept[1]):
            return False
        self.data = kept[1]
        log.info("Compute '%s': the training data is on the workers already (sent for an earlier job).",
                 self.profile.name)
        return True

    def scatter(self) -> None:
        """Send the training data to every worker once; trials refer to it instead of shipping it again."""
        for attempt in range(3):
            try:
                self.data = self.client.scatter(list(self.payload), broadcast=True, hash=False)
                fingerprint = self.fingerprint
                with _lock:
                    if fingerprint is None:
                        _sent.pop(_key(self.profile), None)
                    else:
                        _sent[_key(self.profile)] = (fingerprint, self.data)
                return
            except (KeyError, OSError, ValueError) as exc:
                # a worker left while the data was being sent, or none was registered at that moment (the scheduler
                # then refuses with "Can not use replicate to delete data"): wait for one and try again
                if attempt == 2:
                    raise ComputeError(f"Could not send the training data to the Dask workers: {exc!r}") from None
                time.sleep(0.5)
                _until(lambda: bool(self.workers()), timeout_s=self.restart_wait_s)

    def workers(self) -> dict[str, int]:
        """Address -> threads of each worker alive now.

        Asked of the scheduler directly: `Client.scheduler_info()` returns a cache that the client's periodic
        refresh overwrites with a worker-less summary, so it sometimes answers {} (seen with a remote cluster,
        where it made every running trial look dead)."""
        scheduler = self.client.scheduler
        if scheduler is None:  # the client has been closed
            return {}
        info = self.client.sync(scheduler.identity, n_workers=-1)["workers"]
        return {addr: int(w.get("nthreads", 1)) for addr, w in info.items()}

    def submit(self, address: str, fn: Any, *args: Any) -> Future:
        return self.client.submit(fn, *args, *self.data, workers=[address], allow_other_workers=False, pure=False)

    def stop_worker(self, address: str) -> None:
        """Hard-stop the worker process at `address` (its running trial with it); its nanny starts a new one."""
        try:
            self.client.run(_exit_soon, workers=[address])
        except Exception as exc:  # the worker may already be gone
            log.debug("Stopping worker %s: %s", address, exc)
        _until(lambda: address not in self.workers(), timeout_s=10)

    def restore(self) -> bool:
        """Wait until the profile's workers are up (after a restart) and put the data on every one of them.

        Returns True if a local cluster had to be replaced because a restarted worker did not come back
        (seen under heavy load): every trial running on the old cluster is then lost."""
        want = 1 if self.profile.is_remote else self.profile.workers
        replaced = False
        if not _nannies_up(self.client, self.profile):  # no nanny left to bring a worker back: do not wait for one
            self._fresh_cluster("a worker's nanny is gone")
            replaced = True
        elif not _until(lambda: len(self.workers()) >= want, timeout_s=self.restart_wait_s):
            if self.profile.is_remote:
                if not self.workers():
                    raise ComputeError(f"No Dask worker is connected to {self.profile.scheduler}; start some with "
                                       f"`dask worker {self.profile.scheduler}`.")
            else:
                self._fresh_cluster(f"{len(self.workers())} of {want} workers came back after a restart")
                replaced = True
        self._prepare()
        try:
            self.scatter()
        except ComputeError:
            if self.profile.is_remote or replaced:
                raise
            # the workers left while the data was being sent and their nannies did not bring them back (seen under
            # heavy load, e.g. right after a worker was stopped for overrunning): start over on a fresh cluster
            self._fresh_cluster("the workers left while the training data was being sent")
            replaced = True
            self._prepare()
            self.scatter()
        return replaced

    def _fresh_cluster(self, why: str) -> None:
        """Replace this profile's local cluster with a new one and wait for its workers."""
        cluster = self.client.cluster
        nannies = {} if cluster is None else {
            name: str(getattr(nanny, "status", "?")) for name, nanny in cluster.workers.items()}
        log.warning("Compute '%s': %s (nannies: %s); starting a fresh cluster.", self.profile.name, why, nannies)
        discard(self.profile)
        self.client = client_for(self.profile)
        if not _until(lambda: len(self.workers()) >= self.profile.workers, timeout_s=60):
            raise ComputeError(f"The workers of compute '{self.profile.name}' did not start.")

    def _prepare(self) -> None:
        _import_ml(self.client, self.profile)


@dataclass
class ClientFanOut:
    """Independent tasks over a cluster's workers (a model family's partition batches): the shared inputs are sent
    to every worker once, each task names them."""

    client: Client

    @classmethod
    def open(cls, profile: ComputeProfile) -> ClientFanOut:
        return cls(client_for(profile))

    def share(self, *values: Any) -> list[Any]:
        return list(self.client.scatter(list(values), broadcast=True))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self.client.submit(fn, *args, pure=False)

    def cancel(self, futures: list[Any]) -> None:
        self.client.cancel(futures)


def _fingerprint(payload: tuple[Any, ...]) -> str | None:
    """A content hash of training data (frames and arrays: values, columns, dtypes), or None for anything else
    (then it is sent every time). Hashing 10,000 x 21 rows takes milliseconds; sending them, far longer."""
    import hashlib

    import numpy as np
    import pandas as pd

    digest = hashlib.sha256()
    for item in payload:
        if isinstance(item, pd.DataFrame | pd.Series):
            digest.update(pd.util.hash_pandas_object(item, index=True).to_numpy().tobytes())
            frame = item.to_frame() if isinstance(item, pd.Series) else item
            digest.update(repr((list(frame.columns), list(map(str, frame.dtypes)))).encode())
        elif isinstance(item, np.ndarray) and item.dtype != object:
            digest.update(repr((item.shape, str(item.dtype))).encode())
            digest.update(np.ascontiguousarray(item).tobytes())
        else:
            return None
    return digest.hexdigest()


def _until(condition: Callable[[], bool], *, timeout_s: float) -> bool:
    """Poll `condition` until it holds (True) or `timeout_s` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
