"""`studio jobs ...` and `studio compute ...`: the job queue and the compute sizes from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from studio.errors import DataError


def add_parser(sub: Any) -> None:
    j = sub.add_parser("jobs", help="list, show, cancel, re-run or delete jobs")
    jsub = j.add_subparsers(dest="jobs_command", required=True)
    jl = jsub.add_parser("list")
    jl.add_argument("--json", action="store_true")
    js = jsub.add_parser("show")
    js.add_argument("job_id")
    js.add_argument("--json", action="store_true")
    jc = jsub.add_parser("cancel", help="stop a job; a training job keeps its finished trials and best model")
    jc.add_argument("job_id")
    jr = jsub.add_parser("rerun", help="queue the same job again as a new job")
    jr.add_argument("job_id")
    jr.add_argument("--json", action="store_true")
    jd = jsub.add_parser("delete", help="delete a job that is not running, and its log")
    jd.add_argument("job_id")
    jd.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    c = sub.add_parser("compute", help="list the compute sizes")
    c.add_argument("compute_command", choices=["list"])
    c.add_argument("--json", action="store_true")


def cmd_jobs(args: argparse.Namespace, studio: Any) -> int:
    from studio.jobs.training_view import job_summary

    if args.jobs_command == "list":
        jobs = studio.jobs.list()
        if args.json:
            print(json.dumps([job_summary(j) for j in jobs]))
        for j in [] if args.json else jobs:
            score = job_summary(j)["validation_score"]
            print(f"{j.id}  {j.kind:6}  {j.shown_status:9}  {j.name}  validation={score}")
        return 0
    if args.jobs_command == "cancel":
        job = studio.jobs.request_cancel(args.job_id)
        print(f"{job.id} {job.status.value}{' (cancel requested)' if job.cancel_requested else ''}")
        return 0
    if args.jobs_command == "rerun":
        job = studio.rerun(args.job_id)
        print(json.dumps(job_summary(job)) if args.json else job.id)
        return 0
    if args.jobs_command == "delete":
        job = studio.jobs.get(args.job_id)
        if not args.yes and not confirm(f"Delete job {job.id} ({job.kind} '{job.name}', {job.status.value}) "
                                        "and its log? Its runs and models stay."):
            print("not deleted", file=sys.stderr)
            return 1
        studio.jobs.delete(job.id)
        print(f"deleted {job.id}")
        return 0
    job = studio.jobs.get(args.job_id)
    summary = job_summary(job)
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:14} {value}")
        print("\n".join(studio.jobs.logs(job.id, tail=20)))
    return 0


def confirm(question: str) -> bool:
    """Ask before deleting; refuses without a terminal (pass --yes)."""
    if not sys.stdin.isatty():
        raise DataError("Refusing to delete without confirmation: pass --yes.")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def cmd_compute(args: argparse.Namespace, studio: Any) -> int:
    profiles = studio.compute_profiles
    if args.json:
        print(json.dumps({name: p.model_dump() for name, p in profiles.items()}))
        return 0
    for name, profile in profiles.items():
        print(f"{name:10} {profile.summary()}  {profile.description}")
    return 0
