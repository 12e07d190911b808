"""The first trials of a job claimed while its cluster is still starting run in the job's own process, until
the cluster is ready; then every trial goes to the cluster.

A `studio worker` starts its default cluster as soon as it starts (`Worker._warm_up`), but on two cores that
takes a few seconds, and a job queued at that moment (`studio up && studio train ...`) would wait for all of it
before its first trial. Here the cluster keeps starting on a thread while the job's first configuration is
scored at once in this process, on one slot (`InlinePool`), so the first result comes in about the time of one
trial. An in-process trial cannot be stopped from outside (it keeps to its time through the boosters' and
forests' own stop at the limit), and it has no Dask memory limit; that is why only the start-up uses it.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from studio.compute import cluster
from studio.compute.inline import ADDRESS, InlinePool
from studio.compute.pool import TrialPool
from studio.compute.profiles import ComputeProfile


@dataclass
class HandoverPool:
    """One in-process slot until the cluster's pool has opened, then that pool's workers."""

    profile: ComputeProfile
    inline: InlinePool
    opening: Future[Any]

    @classmethod
    def open(cls, profile: ComputeProfile, *payload: Any) -> Any:
        """The cluster's `TrialPool` when its cluster is running and warm (or remote: someone else's to start);
        else a pool that runs trials here while the cluster starts and its workers import the ML libraries."""
        if profile.is_remote or cluster.warmed(profile):
            return TrialPool.open(profile, *payload)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="open-compute")
        opening = executor.submit(TrialPool.open, profile, *payload)
        executor.shutdown(wait=False)
        return cls(profile, InlinePool.open(profile, *payload), opening)

    @property
    def starting(self) -> bool:
        return not self.opening.done()

    def _opened(self) -> TrialPool | None:
        return self.opening.result() if self.opening.done() else None  # a failed start raises its ComputeError

    def workers(self) -> dict[str, int]:
        opened = self._opened()
        return opened.workers() if opened is not None else self.inline.workers()

    def submit(self, address: str, fn: Any, *args: Any) -> Any:
        return self._serving(address).submit(address, fn, *args)

    def call(self, address: str, fn: Any, *args: Any) -> Any:
        return self._serving(address).call(address, fn, *args)

    def _serving(self, address: str) -> Any:
        """The pool whose worker `address` is: this process's slot, or the opened cluster's."""
        if address == ADDRESS:
            return self.inline
        opened = self._opened()
        assert opened is not None, "a cluster worker's address before the cluster was ready"
        return opened

    def stop_worker(self, address: str) -> None:
        opened = self._opened()
        if address != ADDRESS and opened is not None:
            opened.stop_worker(address)

    def restore(self) -> bool:
        opened = self._opened()
        return opened.restore() if opened is not None else False
