"""Dask clusters behind the compute profiles (the pools that run work on them: `studio.compute.pool`).

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
from typing import TYPE_CHECKING, Any

from studio import vault
from studio.compute.profiles import ComputeProfile
from studio.errors import StudioError

if TYPE_CHECKING:
    from distributed import Client
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
_warmed: set[tuple[Any, ...]] = set()  # clusters whose workers have imported the ML libraries
#: A local cluster's Dask worker processes (a restarted one too) run this much below the process that started
#: them: the job's own work there (loading the data, asking and telling Optuna, logging to MLflow) never waits
#: behind trials, nor behind a fresh cluster's workers importing the ML libraries.
TRIALS_NICE_STEP = 5
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
        if client is not None and client.status == "running" and nannies_up(client, profile):
            return client
        if client is not None:  # closed, or a local cluster whose nannies are gone: it would never get workers back
            log.warning("Compute '%s': the kept cluster has lost its workers; starting a fresh one.", profile.name)
            _clients.pop(_key(profile), None)
            _warmed.discard(_key(profile))
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


def warmed(profile: ComputeProfile) -> bool:
    """Whether `profile`'s cluster is started, kept, and its workers have imported the ML libraries (answered
    at once, without waiting for a cluster being started)."""
    client = _clients.get(_key(profile))
    return client is not None and client.status == "running" and _key(profile) in _warmed


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


def _below_this_process(client: Client) -> None:
    """Lower a local cluster's worker processes below this one (their nannies live in this process, so a worker
    they restart starts at this process's priority: `import_ml` runs again after every restart). Below a process
    that lowered itself to leave the app its CPU (`studio worker`), the trials take only idle CPU time."""
    own = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        client.run(_below, min(19, own + TRIALS_NICE_STEP), own > 0)
    except Exception as exc:  # priority is a courtesy: trials run either way
        log.debug("Could not lower the Dask workers' priority: %s", exc)


def _below(niceness: int, idle: bool) -> None:
    """Runs in a Dask worker process: every thread of it at `niceness` or lower priority (never raised; Linux keeps
    a priority per thread, and threads started before this call kept the process's), and with `idle` in the idle
    scheduling class (SCHED_IDLE), which any other thread that wakes up preempts at once. At nice 15 a trial kept its
    core until its time slice ended, and a page of the app that woke up on that core waited: reruns of 15-50 ms
    took 1.1-1.4x as long at p95 while a job trained."""
    tasks = f"/proc/{os.getpid()}/task"
    for tid in map(int, os.listdir(tasks)) if os.path.isdir(tasks) else [0]:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
            if idle and hasattr(os, "SCHED_IDLE"):
                os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        except OSError:  # a thread that has ended since
            continue


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
    import_ml(client_for(profile), profile)


def import_ml(client: Client, profile: ComputeProfile) -> None:
    if not profile.is_remote:
        _below_this_process(client)
    try:  # a fresh worker imports the ML libraries now, not inside the first trial's time limit
        client.run(importlib.import_module, "studio.training.search")
        _warmed.add(_key(profile))
    except Exception as exc:  # a remote worker without the studio installed fails its trials with the reason
        log.warning("Compute '%s': could not prepare the workers: %s", profile.name, exc)


def nannies_up(client: Client, profile: ComputeProfile) -> bool:
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


def sent(profile: ComputeProfile) -> tuple[str, list[Any]] | None:
    """The fingerprint of the training data last sent to `profile`'s kept cluster, and the futures holding it."""
    return _sent.get(_key(profile))


def remember_sent(profile: ComputeProfile, fingerprint: str | None, futures: list[Any]) -> None:
    """Record what was just sent to `profile`'s cluster (None: data that cannot be recognised again)."""
    with _lock:
        if fingerprint is None:
            _sent.pop(_key(profile), None)
        else:
            _sent[_key(profile)] = (fingerprint, futures)


def discard(profile: ComputeProfile) -> None:
    """Forget (and close) the cluster behind `profile`; the next job starts a fresh one."""
    with _lock:
        client = _clients.pop(_key(profile), None)
        _sent.pop(_key(profile), None)
        _warmed.discard(_key(profile))
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
        _warmed.clear()
    for client in clients:
        _close(client)
