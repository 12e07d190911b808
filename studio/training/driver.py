"""The search loop: ask Optuna for a configuration, run it on an idle Dask worker, tell Optuna the result.

The job's process is the only one that writes its study (ask/tell), so trials run in parallel across the
workers of any cluster, local or remote, without the workers needing access to the study's storage. The
driver also enforces what a worker cannot: the time budget, the per-trial time limit (the worker running
an overrunning trial is stopped and restarted), cancellation, and a worker that died under a trial (most
often it went over its memory limit): each of those fails one trial, never the job.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import optuna
from optuna.trial import TrialState

from studio.compute.profiles import ComputeProfile

#: At the time budget's end, running trials get this long to stop themselves (they are told the deadline, and stop
#: at their next boosting round, tree batch or split) before their workers are stopped and restarted.
DEADLINE_GRACE_S = 1.0
ABANDONED = "abandoned"  # user attr: the trial did not get to finish for reasons outside it; not counted
CLUSTER_RESTARTED = "stopped: the compute cluster was restarted"


class StopReason(StrEnum):
    TRIALS = "trial budget reached"
    BUDGET = "time budget reached"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class TrialScore:
    """What a trial function may return instead of a bare score: its score (None when it pruned itself), an
    extra result for `on_trial` (e.g. out-of-fold predictions), intermediate scores by step (reported to
    Optuna), and user attributes to record on the trial."""

    value: float | None
    extra: Any = None
    intermediate: dict[int, float] = field(default_factory=dict)
    pruned: str | None = None  # why the trial stopped itself early
    attrs: dict[str, Any] = field(default_factory=dict)


class Pool(Protocol):
    """The worker slots trials run on: `studio.compute.pool.TrialPool` (Dask), or `studio.compute.inline.
    InlinePool` (in this process, for tests)."""

    profile: ComputeProfile

    def workers(self) -> dict[str, int]: ...
    def submit(self, address: str, fn: Any, *args: Any) -> Any: ...
    def call(self, address: str, fn: Any, *args: Any) -> Any:
        """`fn(*args)` run now on the worker at `address`, without the data trials get: its result (raises when the
        worker cannot be reached)."""
    def stop_worker(self, address: str) -> None: ...
    def restore(self) -> bool: ...


#: How a run opens its pool: `open(profile, *data)` (the data is sent to the workers once).
PoolFactory = Callable[..., Pool]


@dataclass
class _Running:
    trial: optuna.Trial
    address: str
    started: float
    future: Any


def counts(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial counts against the trial budget: finished, and not abandoned by a stop or a crash."""
    return trial.state in FINISHED and not trial.user_attrs.get(ABANDONED)


FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def counted_trials(study: optuna.Study) -> int:
    return sum(map(counts, study.get_trials(deepcopy=False, states=FINISHED)))


def abandon_stale(study: optuna.Study, reason: str) -> int:
    """Fail the trials a previous, dead attempt left running; returns how many. Finished trials stay as they are."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for frozen in stale:
        _fail(optuna.Trial(study, frozen._trial_id), study, reason, abandoned=True)
    return len(stale)


def _fail(trial: optuna.Trial, study: optuna.Study, reason: str, *,
          abandoned: bool = False) -> optuna.trial.FrozenTrial:
    trial.set_user_attr("error", reason)
    if abandoned:
        trial.set_user_attr(ABANDONED, True)
    return study.tell(trial, state=TrialState.FAIL)


def drive(
    study: optuna.Study, pool: Pool, *,
    propose: Callable[[optuna.Trial], tuple[Any, ...]],
    run_trial: Callable[..., float | tuple[float, Any] | TrialScore],
    max_trials: int | None,
    deadline: float | Callable[[], float] | None,
    trial_limit_s: float | None,
    on_trial: Callable[[optuna.trial.FrozenTrial, Any], None],
    should_stop: Callable[[], bool],
    ask: Callable[[optuna.Study], optuna.Trial] = optuna.Study.ask,
    poll_s: float = 0.2,
    still_running: list[str] | None = None,
) -> StopReason:
    """Run trials until the trial budget, the deadline (time.monotonic(), or a function giving it, which may
    move as trials finish) or a stop request.
    `ask(study)` starts a trial (it may enqueue fixed parameters first), `propose(trial)` suggests a
    configuration and returns its arguments; the worker runs `run_trial(threads, *arguments, *data)` and returns
    the score, (score, extra), or an TrialScore; extra (e.g. the out-of-fold predictions) is handed to
    `on_trial(frozen_trial, extra)` with the finished trial. With `still_running`, the workers of trials not stopped
    DEADLINE_GRACE_S after the deadline are added to it, not stopped (they keep models: `studio.training.reuse`)."""
    running: dict[int, _Running] = {}
    memory_note = "" if pool.profile.is_remote else f" of {pool.profile.memory_gb:g} GB"

    def finish(number: int, frozen: optuna.trial.FrozenTrial, extra: Any = None) -> None:
        running.pop(number)
        on_trial(frozen, extra)

    def abandon_all(reason: str, grace_s: float = 0.0, leave: list[str] | None = None) -> None:
        for number, r in _stop_running(running, pool, grace_s, leave):
            finish(number, _fail(r.trial, study, reason, abandoned=True))

    while True:
        alive, restarted = pool.workers(), False  # restarted: a worker died or was stopped (it needs the data again)
        for number, r in list(running.items()):
            outcome = _check(r, study, pool, alive, trial_limit_s, memory_note)
            if outcome is not None:
                frozen, extra, worker_lost = outcome
                restarted = restarted or worker_lost
                finish(number, frozen, extra)
        if should_stop():
            abandon_all("stopped: the job was cancelled (or its worker lost the job)")
            return StopReason.CANCELLED
        if _past(deadline):
            abandon_all("stopped: the job's time budget ran out", grace_s=DEADLINE_GRACE_S, leave=still_running)
            return StopReason.BUDGET
        if restarted:
            if pool.restore():
                abandon_all(CLUSTER_RESTARTED)
            alive = pool.workers()

        _launch(study, pool, running, alive, max_trials=max_trials, ask=ask, propose=propose, run_trial=run_trial)

        if not running:
            if max_trials is not None and counted_trials(study) >= max_trials:
                return StopReason.TRIALS
            time.sleep(poll_s)  # every worker is restarting
            continue
        _wait_any([r.future for r in running.values()], poll_s)


def _stop_running(running: dict[int, _Running], pool: Pool, grace_s: float,
                  leave: list[str] | None = None) -> list[tuple[int, _Running]]:
    """The running trials, each stopped: given `grace_s` to end on their own (trials told the deadline stop
    themselves), then their workers stopped (a thread cannot be interrupted; the next job needs the worker), or
    added to `leave`."""
    _wait_all([r.future for r in running.values()], grace_s)
    for r in running.values():
        if not r.future.done():
            r.future.cancel()
            if leave is None:
                pool.stop_worker(r.address)
            else:
                leave.append(r.address)
    return list(running.items())


def _past(deadline: float | Callable[[], float] | None) -> bool:
    return deadline is not None and time.monotonic() >= (deadline() if callable(deadline) else deadline)


def _launch(study: optuna.Study, pool: Pool, running: dict[int, _Running], alive: dict[str, int], *,
            max_trials: int | None, ask: Callable[[optuna.Study], optuna.Trial],
            propose: Callable[[optuna.Trial], tuple[Any, ...]], run_trial: Callable[..., Any]) -> None:
    """Start a trial on each idle worker, within what is left of the trial budget."""
    idle = [(address, threads) for address, threads in alive.items()
            if address not in {r.address for r in running.values()}]
    room = len(idle) if max_trials is None else min(len(idle), max_trials - counted_trials(study) - len(running))
    for address, threads in idle[:max(room, 0)]:
        trial = ask(study)
        trial.set_user_attr("worker", address)
        future = pool.submit(address, run_trial, threads, *propose(trial))
        running[trial.number] = _Running(trial, address, time.monotonic(), future)


def _check(r: _Running, study: optuna.Study, pool: Pool, alive: dict[str, int], trial_limit_s: float | None,
           memory_note: str) -> tuple[optuna.trial.FrozenTrial, Any, bool] | None:
    """If the running trial `r` has ended (done, failed, its worker gone, over its limit): its finished trial,
    its extra result, and whether its worker has to be replaced. None while it is still running fine."""
    if r.future.status == "cancelled":  # its cluster was replaced under it
        return _fail(r.trial, study, CLUSTER_RESTARTED, abandoned=True), None, False
    if r.future.done():
        if r.future.status != "finished":
            error = r.future.exception()
            return _fail(r.trial, study, _describe(error, memory_note)), None, type(error).__name__ == "KilledWorker"
        frozen, extra = _tell(r.trial, study, r.future.result())
        return frozen, extra, False
    if r.address not in alive:
        r.future.cancel()
        return _fail(r.trial, study, _died(memory_note)), None, True
    if trial_limit_s is not None and time.monotonic() - r.started > trial_limit_s:
        r.future.cancel()
        pool.stop_worker(r.address)
        return _fail(r.trial, study, f"stopped: over the per-trial time limit of {trial_limit_s:g} s"), None, True
    return None


def _tell(trial: optuna.Trial, study: optuna.Study, result: Any) -> tuple[optuna.trial.FrozenTrial, Any]:
    if not isinstance(result, TrialScore):
        result = TrialScore(*result) if isinstance(result, tuple) else TrialScore(result)
    for step, value in result.intermediate.items():
        trial.report(value, step)
    for key, value in result.attrs.items():
        trial.set_user_attr(key, value)
    if result.pruned is not None:
        trial.set_user_attr("pruned", result.pruned)
        return study.tell(trial, state=TrialState.PRUNED), None
    if result.value is None or not math.isfinite(result.value):
        return _fail(trial, study, f"the score was {result.value}"), None
    return study.tell(trial, result.value), result.extra


def _wait_all(futures: list[Any], timeout_s: float) -> None:
    until = time.monotonic() + timeout_s
    while time.monotonic() < until and not all(f.done() for f in futures):
        time.sleep(0.02)


def _wait_any(futures: list[Any], timeout_s: float) -> None:
    # distributed.wait() needs a process-wide default client; polling keeps this driver free of global state.
    until = time.monotonic() + timeout_s
    while time.monotonic() < until and not any(f.done() for f in futures):
        time.sleep(0.02)


def _died(memory_note: str) -> str:
    return f"the worker running it died (most likely it went over its memory limit{memory_note})"


def _describe(exc: BaseException | None, memory_note: str) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return _died(memory_note)
    return f"{name}: {exc}".strip().splitlines()[0][:500]
