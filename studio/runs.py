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
from pydantic import BaseModel

from studio import db


class RunSummary(BaseModel):
    """One training run on the leaderboard."""

    run_id: str
    name: str
    status: str
    dataset_id: str
    task: str
    metric: str
    best_score: float | None
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
    params: dict[str, str]
    metrics: dict[str, float]

    def per_algorithm_best(self) -> dict[str, float]:
        prefix = f"best_{self.metric}__"
        return {k.removeprefix(prefix): v for k, v in self.metrics.items() if k.startswith(prefix)}

    def held_out(self) -> dict[str, float]:
        return {k.removeprefix("test_"): v for k, v in self.metrics.items() if k.startswith("test_")}

    @property
    def best_std(self) -> float | None:
        return self.metrics.get(f"best_{self.metric}_std")


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
    return {"validation": run.best_score, "test": run.test_score, "started": run.started_at,
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

