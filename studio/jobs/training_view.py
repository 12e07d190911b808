"""A training job as the pages and the CLI show it: its typed progress while it runs, its result once it succeeded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from studio.jobs.store import TRAIN, JobRecord
from studio.training.progress import Progress, TrainResult


@dataclass(frozen=True)
class TrainingView:
    job: JobRecord
    progress: Progress
    result: TrainResult | None

    @classmethod
    def of(cls, job: JobRecord) -> TrainingView:
        return cls(job, job.progress_as(Progress), job.result_as(TrainResult))

    @property
    def is_family(self) -> bool:
        return self.progress.unit == "partitions"

    @property
    def trials(self) -> int:
        """Finished trials (partitions modeled, for a family): final once the job succeeded."""
        return self.result.n_trials if self.result else self.progress.trials_done

    @property
    def validation_score(self) -> float | None:
        """The chosen configuration's validation score: the best so far while searching; None for a family."""
        if self.result is not None:
            return self.result.validation_score
        return None if self.is_family else self.progress.best_score

    @property
    def test_score(self) -> float | None:
        return self.result.test_score if self.result else None

    @property
    def stop_reason(self) -> str | None:
        return self.result.stop_reason if self.result else self.progress.stop_reason

    def summary(self) -> dict[str, Any]:
        """The JSON contract of `studio train --json` and `studio jobs show --json`."""
        job, p, r = self.job, self.progress, self.result
        return {
            "job_id": job.id, "kind": job.kind, "name": job.name, "status": job.status.value,
            "run_id": r.run_id if r else None, "model_uri": r.model_uri if r else None,
            "metric": r.metric if r else job.payload.get("metric"),
            "validation_score": self.validation_score, "test_score": self.test_score,
            "best_algorithm": r.best_algorithm if r else p.best_algorithm, "n_trials": self.trials,
            "trials_failed": p.trials_failed, "trials_pruned": p.trials_pruned, "trials_budget": p.trials_budget,
            "duration_s": r.duration_s if r else job.elapsed_s, "estimate_s": p.estimate_s,
            "eta_s": None if job.status.is_final else p.eta_s, "phase": p.phase, "stop_reason": self.stop_reason,
            "error": job.error, "created_at": job.created_at, "started_at": job.started_at, "ended_at": job.ended_at,
            "attempts": job.attempts, "cancel_requested": job.cancel_requested,
        }


def job_summary(job: JobRecord) -> dict[str, Any]:
    """The CLI's JSON for any job: the same keys for every kind (the training ones empty for exports and
    scoring), plus `result`, the job kind's own result."""
    view = TrainingView.of(job) if job.kind == TRAIN else TrainingView(job, Progress(phase=job.status.value), None)
    return view.summary() | {"result": job.result}
