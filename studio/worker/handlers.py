"""What each job kind does once a worker has claimed it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel

from studio.jobs.store import EXPORT, SCORE, TRAIN, JobRecord
from studio.training.run import Reporter, train
from studio.training.spec import TrainSpec

if TYPE_CHECKING:
    from studio.context import Studio
    from studio.training.progress import Progress

__all__ = ["EXPORT", "HANDLERS", "SCORE", "TRAIN"]


def run_train(studio: Studio, job: JobRecord, reporter: Reporter) -> BaseModel:
    from studio.studies import storage_for
    from studio.training.progress import Progress

    spec = TrainSpec.parse(job.payload)
    profile = studio.profile(spec.compute)
    if spec.partition is not None:
        from studio.many.train import train_family

        reporter.log(f"Training one model per {' x '.join(spec.partition.columns)} on compute '{profile.name}' "
                     f"({profile.summary()}).")
        family = train_family(spec, catalog=studio.catalog, tracker=studio.tracker, job_id=job.id, profile=profile,
                              reporter=reporter)
        _model_creator(studio, job.id, family.model_uri)
        return family
    before = job.progress_as(Progress)
    limit = spec.budget.trial_limit_s
    reporter.log(f"Training on compute '{profile.name}' ({profile.summary()}); budget "
                 f"{spec.budget.seconds or '-'} s / {spec.budget.max_trials or '-'} trials; "
                 f"per-trial limit {f'{limit:g} s' if limit else 'none'}.")
    result = train(spec, catalog=studio.catalog, tracker=studio.tracker,
                   storage=storage_for(studio.settings, f"job-{job.id}"), job_id=job.id, profile=profile,
                   reporter=reporter, spent_s=_spent_s(job, before),
                   estimate_s=before.estimate_s, estimate_search_s=before.estimate_search_s)
    _model_creator(studio, job.id, result.model_uri)
    if spec.onnx_safe:  # the option promises a convertible model: prove it now, next to the model in MLflow
        from studio.errors import ExportError
        from studio.export.onnx_model import export_onnx

        try:
            report = export_onnx(studio.tracker, studio.settings.exports_path, result.model_uri).report
        except ExportError as exc:  # the model is registered and usable: the job succeeds and says why
            reporter.log(f"ONNX: {exc}")
        else:
            reporter.log(f"ONNX: converted and checked; {report.summary()}.")
    return result


#: A job a worker took within this long of its queueing counts its budget from the queueing: the pick-up is
#: part of the job (`studio train --wait` starts its own worker). One that waited behind other jobs counts from
#: its claim, so a busy queue does not eat its search.
QUEUE_GRACE_S = 10.0


def _spent_s(job: JobRecord, before: Progress) -> float:
    """What the job has used of its time budget before the run starts: the earlier attempts' time when resumed,
    else the time since it was queued or claimed (loading the libraries and the data count: the budget is the
    whole job)."""
    if job.attempts > 1:
        return before.elapsed_s
    if job.started_at is None:
        return 0.0
    since = job.created_at if job.started_at - job.created_at <= QUEUE_GRACE_S else job.started_at
    return max(0.0, time.time() - since)


def _model_creator(studio: Studio, job_id: str, model_uri: str) -> None:
    """A model version is created by whoever started the job that trained it."""
    from studio.auth import creators, record_creator

    who = creators(studio.engine, "job", [job_id]).get(job_id)
    if who is not None:
        record_creator(studio.engine, "model", model_uri, who)


def run_export(studio: Studio, job: JobRecord, reporter: Reporter) -> BaseModel:
    from studio.export.bento import ExportRequest, export_bento

    request = ExportRequest.model_validate(job.payload)
    if request.format == "onnx":
        from studio.export.onnx_model import export_onnx

        reporter.log(f"Converting {request.model_uri} to ONNX and checking parity on its held-out rows.")
        onnx = export_onnx(studio.tracker, studio.settings.exports_path, request.model_uri)
        reporter.log(f"Saved {onnx.path}; {onnx.report.summary()}.")
        return onnx
    reporter.log(f"Exporting {request.model_uri} as a BentoML service ({request.runtime} runtime).")
    result = export_bento(studio.tracker, studio.settings, request.model_uri, log=reporter.log, runtime=request.runtime)
    reporter.log(f"Built bento {result.bento_tag}; archive at {result.archive_path}.")
    return result


def run_score(studio: Studio, job: JobRecord, reporter: Reporter) -> BaseModel:
    from studio.paths import confined, within
    from studio.scoring import ScoreProgress, ScoreRequest, ScoreResult, score_file

    request = ScoreRequest.model_validate(job.payload)
    # a job's paths are data too: only the studio's snapshots and uploads are read, results written under exports
    source = within((studio.settings.datasets_path, studio.settings.exports_path / "scoring"), request.source)
    out = confined(studio.settings.exports_path / "scoring", request.out)
    model = studio.tracker.load_model(request.model)
    reporter.log(f"Scoring {source.name} with {model.uri} in chunks.")
    seen = ScoreProgress()

    def progress(done: int, total: int) -> None:
        seen.rows_done, seen.rows_total = done, total
        reporter.progress(seen)

    report = score_file(model, source, out, keep_columns=request.keep_columns,
                        progress=progress)
    reporter.log(f"Wrote {seen.rows_done:,} predictions to {request.out}. {report.describe()}")
    return ScoreResult(out=request.out, model_uri=model.uri or request.model, rows=seen.rows_done, columns=report)


HANDLERS: dict[str, Callable[[Studio, JobRecord, Reporter], BaseModel]] = {
    TRAIN: run_train, EXPORT: run_export, SCORE: run_score}
