"""A trial pool that runs each trial at once, in this process: the seam that lets the search, the run and the
registry be tested without starting a Dask cluster (as httpx's `MockTransport` stands in for the network).

It answers the driver exactly as `TrialPool` does (one worker slot, futures that are done when handed back),
so the search loop, the trial and time budgets, cancellation between trials and every result path run
unchanged. What it cannot do is stop a trial from outside: the per-trial time limit and a worker dying under a
trial are only exercised on a real cluster (tests/training/test_driver.py). `InlineFanOut` does the same for a
model family's partition batches (its time budget can cut a fan-out short only on a cluster).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from studio.compute.profiles import ComputeProfile

ADDRESS = "inline://0"


class DoneFuture:
    """The outcome of a call made at once, shaped like the part of `distributed.Future` the driver reads."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._result: Any = None
        self._error: BaseException | None = None
        try:
            self._result = fn(*args)
            self.status = "finished"
        except Exception as exc:  # a failing trial fails alone, as it does on a Dask worker
            self._error = exc
            self.status = "error"

    def done(self) -> bool:
        return True

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._result

    def exception(self) -> BaseException | None:
        return self._error

    def cancel(self) -> None:
        """Nothing to cancel: the call has already finished."""


@dataclass
class InlinePool:
    profile: ComputeProfile
    payload: tuple[Any, ...] = ()

    @classmethod
    def open(cls, profile: ComputeProfile, *payload: Any) -> InlinePool:
        return cls(profile, payload)

    def workers(self) -> dict[str, int]:
        return {ADDRESS: self.profile.threads}

    def submit(self, address: str, fn: Callable[..., Any], *args: Any) -> DoneFuture:
        return DoneFuture(fn, *args, *self.payload)

    def call(self, address: str, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    def stop_worker(self, address: str) -> None:
        """A trial that ran inline has already ended."""

    def restore(self) -> bool:
        return False


class InlineFanOut:
    """`ClientFanOut`'s seam: each task runs when submitted, in this process (the shared inputs are the values)."""

    @classmethod
    def open(cls, profile: ComputeProfile) -> InlineFanOut:
        return cls()

    def share(self, *values: Any) -> list[Any]:
        return list(values)

    def submit(self, fn: Callable[..., Any], *args: Any) -> DoneFuture:
        return DoneFuture(fn, *args)

    def cancel(self, futures: list[Any]) -> None:
        """Every task has already run."""
