"""What each job kind does once a worker has claimed it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel

from studio.jobs.store import EXPORT, TRAIN, JobRecord
from studio.training.run import Reporter, train
from studio.training.spec import TrainSpec

if TYPE_CHECKING:
    from studio.context import Studio

__all__ = ["EXPORT", "HANDLERS", "TRAIN"]


def run_train(studio: Studio, job: JobRecord, reporter: Reporter) -> BaseModel:
    from studio.studies import storage_for
    from studio.training.run import Progress

    spec = TrainSpec.parse(job.payload)
    profile = studio.profile(spec.compute)
    before = Progress.model_validate(job.progress)
    limit = spec.budget.trial_limit_s
    reporter.log(f"Training on compute '{profile.name}' ({profile.summary()}); budget "
                 f"{spec.budget.seconds or '-'} s / {spec.budget.max_trials or '-'} trials; "
                 f"per-trial limit {f'{limit:g} s' if limit else 'none'}.")
    return train(spec, catalog=studio.catalog, tracker=studio.tracker,
                 storage=storage_for(studio.settings, f"job-{job.id}"), job_id=job.id, profile=profile,
                 reporter=reporter, spent_s=before.elapsed_s if job.attempts > 1 else 0.0,
                 estimate_s=before.estimate_s, estimate_search_s=before.estimate_search_s)


def run_export(studio: Studio, job: JobRecord, reporter: Reporter) -> BaseModel:
    from studio.export.bento import ExportRequest, export_bento

    request = ExportRequest.model_validate(job.payload)
    reporter.log(f"Exporting {request.model_uri} as a BentoML service.")
    result = export_bento(studio, request.model_uri, log=reporter.log)
    reporter.log(f"Built bento {result.bento_tag}; archive at {result.archive_path}.")
    return result


HANDLERS: dict[str, Callable[[Studio, JobRecord, Reporter], BaseModel]] = {TRAIN: run_train, EXPORT: run_export}
