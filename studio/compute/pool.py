"""The pools a job runs its work on, over a kept Dask cluster (`studio.compute.cluster`): `TrialPool`, the worker
slots of a search (one trial per worker, pinned so an overrunning trial's worker can be stopped), and
`ClientFanOut`, independent tasks over every worker (a model family's partition batches). The training data is sent
to the workers once per snapshot: a pool whose rows are there already (same content fingerprint) uses them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from studio.compute.cluster import (
    ComputeError,
    client_for,
    discard,
    import_ml,
    nannies_up,
    remember_sent,
    sent,
)
from studio.compute.profiles import ComputeProfile

if TYPE_CHECKING:
    from distributed import Client, Future

log = logging.getLogger("studio.compute")


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
        kept = sent(self.profile)
        if fingerprint is None or kept is None or kept[0] != fingerprint or not nannies_up(self.client, self.profile):
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
                remember_sent(self.profile, self.fingerprint, self.data)
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

    def call(self, address: str, fn: Any, *args: Any) -> Any:
        """`fn(*args)` on one worker now, outside its task queue (Dask's `Client.run`: a worker still finishing a
        trial stopped at the search's end answers at once), without the training data."""
        return self.client.run(fn, *args, workers=[address])[address]

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
        if not nannies_up(self.client, self.profile):  # no nanny left to bring a worker back: do not wait for one
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
        import_ml(self.client, self.profile)


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
