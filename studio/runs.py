"""The leaderboard's data: a summary row per training run, kept in the studio database, and the filtering,
sorting and paging of those rows.

MLflow stays the record of every run; the index is a copy of each run's summary that the tracker refreshes
whenever a run starts, registers its model or ends. Reading 2,000 runs back through MLflow's search API takes
several seconds (every run's params, metrics and tags are loaded row by row); the index answers in milliseconds,
so the Runs page stays fast however many runs the studio holds.
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import AliasChoices, BaseModel, Field

from studio import db, names
from studio.names import Tag


class RunSummary(BaseModel):
    """One training run on the leaderboard."""

    run_id: str
    name: str
    status: str
    dataset_id: str
    task: str
    metric: str
    #: the chosen configuration's validation score; None for a family (summaries indexed before the rename: best_score)
    validation_score: float | None = Field(validation_alias=AliasChoices("validation_score", "best_score"))
    test_score: float | None
    algorithm: str | None
    n_trials: int | None
    compute: str
    duration_s: float | None
    started_at: float
    model_uri: str | None
    study_name: str | None
    job_id: str | None
    final_model: str | None = None
    partition_by: list[str] = []  # a model family's partition columns; [] for a single model
    params: dict[str, str]
    metrics: dict[str, float]

    @classmethod
    def from_mlflow(cls, run: Any) -> RunSummary:
        """The summary of an MLflow run (`mlflow.entities.Run`) the studio wrote; the one place that reads its tags."""
        tags, metrics = run.data.tags, run.data.metrics
        metric = tags.get(Tag.METRIC, "")
        end = run.info.end_time
        n_trials = metrics.get(names.N_TRIALS)
        return cls(
            run_id=run.info.run_id, name=run.info.run_name or run.info.run_id, status=run.info.status,
            dataset_id=tags.get(Tag.DATASET_ID, ""), task=tags.get(Tag.TASK, ""), metric=metric,
            validation_score=names.validation_of(metrics, metric), test_score=metrics.get(names.held_out(metric)),
            algorithm=tags.get(Tag.BEST_ALGORITHM), n_trials=None if n_trials is None else int(n_trials),
            compute=tags.get(Tag.COMPUTE, ""), duration_s=(end - run.info.start_time) / 1000 if end else None,
            started_at=run.info.start_time / 1000, model_uri=tags.get(Tag.MODEL_URI),
            study_name=tags.get(Tag.STUDY_NAME), job_id=tags.get(Tag.JOB_ID), final_model=tags.get(Tag.FINAL_MODEL),
            partition_by=names.partition_columns_of(tags), params=dict(run.data.params), metrics=dict(metrics),
        )

    @property
    def is_family(self) -> bool:
        """One model per partition (a family), rather than a single model."""
        return bool(self.partition_by) or names.PARTITIONS in self.metrics

    def per_algorithm_best(self) -> dict[str, float]:
        return names.per_algorithm_of(self.metrics, self.metric)

    def held_out(self) -> dict[str, float]:
        return names.held_out_of(self.metrics)

    @property
    def validation_spread(self) -> float | None:
        return names.spread_of(self.metrics, self.metric)


class RunIndex:
    """Run summaries in the studio database (table `runs_index`)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def upsert(self, run: RunSummary) -> None:
        values = {"summary_json": run.model_dump_json(), "started_at": run.started_at, "updated_at": time.time()}
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(db.runs_index).where(db.runs_index.c.run_id == run.run_id).values(**values))
            if not done.rowcount:
                conn.execute(sa.insert(db.runs_index).values(run_id=run.run_id, **values))

    def all(self) -> list[RunSummary]:
        """Every run, newest first."""
        query = sa.select(db.runs_index.c.summary_json).order_by(db.runs_index.c.started_at.desc())
        with self.engine.connect() as conn:
            return [RunSummary.model_validate_json(row[0]) for row in conn.execute(query)]

    def get(self, run_id: str) -> RunSummary | None:
        query = sa.select(db.runs_index.c.summary_json).where(db.runs_index.c.run_id == run_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return RunSummary.model_validate_json(row[0]) if row else None

    def stamp(self) -> tuple[int, float]:
        """(runs, last change): a cache key that moves whenever any summary changes."""
        query = sa.select(sa.func.count(), sa.func.max(db.runs_index.c.updated_at))
        with self.engine.connect() as conn:
            count, last = conn.execute(query).one()
        return int(count), float(last or 0.0)


class RunFilter(BaseModel):
    """What the leaderboard shows: every field narrows it (None: no constraint)."""

    metric: str | None = None  # runs ranked by this metric (runs optimising another are left out)
    task: str | None = None
    dataset: str | None = None
    algorithm: str | None = None  # the chosen model's algorithm, or a member of a chosen ensemble
    status: str | None = None
    since: float | None = None  # started at or after (epoch seconds)
    until: float | None = None  # started before
    text: str | None = None  # in the run's name


SORTABLE = ("validation", "test", "started", "duration", "trials", "name")


class Page(BaseModel):
    runs: list[RunSummary]
    total: int
    page: int
    pages: int


def matches(run: RunSummary, f: RunFilter) -> bool:
    checks = [f.metric is None or run.metric == f.metric, f.task is None or run.task == f.task,
              f.dataset is None or run.dataset_id == f.dataset, f.status is None or run.status == f.status,
              f.algorithm is None or f.algorithm in (run.algorithm or ""),
              f.since is None or run.started_at >= f.since, f.until is None or run.started_at < f.until,
              not f.text or f.text.lower() in run.name.lower()]
    return all(checks)


def _value(run: RunSummary, sort: str) -> Any:
    return {"validation": run.validation_score, "test": run.test_score, "started": run.started_at,
            "duration": run.duration_s, "trials": run.n_trials, "name": run.name.lower()}[sort]


def query(runs: list[RunSummary], f: RunFilter, *, sort: str = "validation", order: Literal["best", "asc", "desc"]
          = "best", greater_is_better: bool = True, page: int = 1, page_size: int = 50) -> Page:
    """Filter, sort and page the runs. order="best" ranks scores best first (by the metric's direction)."""
    if sort not in SORTABLE:
        raise ValueError(f"Sort by one of {SORTABLE}, not '{sort}'.")
    chosen = [r for r in runs if matches(r, f)]
    if order == "best":
        descending = greater_is_better if sort in ("validation", "test") else sort != "name"
    else:
        descending = order == "desc"
    # runs without a value (a failed run has no score) go last, whichever the direction
    present = sorted((r for r in chosen if _value(r, sort) is not None), key=lambda r: _value(r, sort),
                     reverse=descending)
    ordered = present + [r for r in chosen if _value(r, sort) is None]
    pages = max(1, math.ceil(len(ordered) / page_size))
    page = min(max(page, 1), pages)
    return Page(runs=ordered[(page - 1) * page_size: page * page_size], total=len(ordered), page=page, pages=pages)


def facets(runs: list[RunSummary]) -> dict[str, list[str]]:
    """The values each filter can take, from the runs themselves."""
    algorithms = {part.split(" x")[0].strip() for r in runs if r.algorithm
                  for part in r.algorithm.removeprefix("ensemble:").split("+")}
    return {"metric": sorted({r.metric for r in runs if r.metric}), "task": sorted({r.task for r in runs if r.task}),
            "dataset": sorted({r.dataset_id for r in runs if r.dataset_id}),
            "algorithm": sorted(algorithms), "status": sorted({r.status for r in runs})}

