"""The `studio` command: train, predict, export, serve, worker, jobs, compute, data, up.

Exit codes: 0 success; 2 bad input (one line on stderr, no traceback); 1 failure.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from studio.errors import DataError, SpecError, StudioError
from studio.training.estimators import ESTIMATORS  # light: the registry imports its libraries when building

#: The algorithm names the help lists (studio.training.estimators would cost the CLI 2 s of imports at every start;
#: tests/test_cli.py checks that this is exactly the registry's list).


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description="Low-code ML studio: train, track, export.")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _serving_parsers(sub)

    from studio import cli_data, cli_jobs, cli_models

    cli_jobs.add_parser(sub)
    cli_data.add_parser(sub)
    cli_models.add_parser(sub)
    _up_parser(sub)
    return parser


def _train_parser(sub: Any) -> None:
    t = sub.add_parser("train", help="train an Optuna-tuned model as a background job")
    t.add_argument("data", help="a CSV/Parquet/Excel path or a dataset id")
    t.add_argument("--target", required=True)
    t.add_argument("--task", default="auto", choices=["auto", "binary", "multiclass", "regression", "forecast"],
                   help="forecast: regression of the target --horizon steps ahead of the data, per partition")
    t.add_argument("--algorithms", help=f"comma-separated, from: {','.join(ESTIMATORS)} (default: all)")
    t.add_argument("--exclude", help="comma-separated columns to leave out")
    t.add_argument("--keep", help="comma-separated columns to use even though a data check flagged them")
    t.add_argument("--type", action="append", default=[], metavar="COLUMN=KIND",
                   help="override a column's inferred type: numeric, categorical, boolean, datetime, text or id "
                        "(text and id columns are left out); repeat for several")
    t.add_argument("--drop-duplicates", action="store_true", help="drop duplicate rows before training")
    t.add_argument("--partition-by", help="many models: one per value combination of these columns (comma-"
                                          "separated), plus a fallback for small and unseen partitions")
    t.add_argument("--min-rows", type=int, default=30, help="training rows a partition needs for its own model")
    t.add_argument("--time-column", help="forecasting: the column holding each row's date (implies --task forecast)")
    t.add_argument("--horizon", type=int, default=7, help="forecasting: steps ahead to forecast (default 7)")
    t.add_argument("--season-length", type=int, help="forecasting: steps per season (default: 7 for days, 24 for "
                                                     "hours, 52 for weeks, 12 for months)")
    t.add_argument("--cap-outliers", choices=["none", "iqr", "zscore"], default="none",
                   help="clip numeric features to the IQR fences or to mean +/- 3 sd (also when scoring)")
    t.add_argument("--metric")
    t.add_argument("--validation", choices=["auto", "kfold", "holdout"], default="auto",
                   help="auto: 5-fold x 3 repeats up to 1,000 rows, 5-fold up to 10,000 rows, 3-fold up to "
                        "40,000, else a 20%% holdout")
    t.add_argument("--folds", type=int, default=5)
    t.add_argument("--budget-seconds", type=int)
    t.add_argument("--max-trials", type=int)
    t.add_argument("--trial-seconds", type=int, help="per-trial time limit (default: a sixth of the budget)")
    t.add_argument("--compute", help="a compute size from `studio compute list` (default: STUDIO_DEFAULT_COMPUTE, "
                                      "else large: every core of this machine)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--class-weight", choices=["auto", "balanced", "none"], default="auto",
                   help="weight classes inversely to their frequency (auto: for F1 / balanced accuracy)")
    t.add_argument("--no-ensemble", action="store_true", help="register the best single model, no ensemble")
    t.add_argument("--onnx-safe", action="store_true",
                   help="keep to ONNX-convertible steps; convert and parity-check the model when training ends")
    t.add_argument("--name")
    t.add_argument("--wait", action="store_true", help="wait for the job to end (runs a worker if none is alive)")
    t.add_argument("--json", action="store_true")


def _serving_parsers(sub: Any) -> None:
    p = sub.add_parser("predict", help="score a file with a trained model")
    p.add_argument("model", help="a model_uri, a run id, or name@alias")
    p.add_argument("--data", required=True, help="a CSV/Parquet file (scored in chunks), an .xlsx, or a dataset id")
    p.add_argument("--out", required=True, help="where to write the predictions (.csv or .parquet)")
    p.add_argument("--with-input", action="store_true", help="write the input columns before the predictions")
    p.add_argument("--to-table", help="also write the predictions to this table of --connection (one transaction)")
    p.add_argument("--connection", help="a saved connection (`studio data connections`) for --to-table")
    p.add_argument("--mode", choices=["new", "append"], default="new", help="--to-table: create it, or append")

    e = sub.add_parser("export", help="export a model as a BentoML service, or as ONNX with a parity check")
    e.add_argument("model")
    e.add_argument("--format", default="bento", choices=["bento", "onnx"])
    e.add_argument("--runtime", default="native", choices=["native", "onnx"],
                   help="bento: serve the scikit-learn pipeline, or its ONNX conversion (refused unless parity holds)")
    e.add_argument("--json", action="store_true")

    s = sub.add_parser("serve", help="serve an exported bento over HTTP (foreground)")
    s.add_argument("bento", help="a bento tag, e.g. iris-v1:abc123")
    s.add_argument("--port", type=int, default=3000)

    sub.add_parser("worker", help="run a worker that executes queued jobs")


def _up_parser(sub: Any) -> None:
    u = sub.add_parser("up", help="start a worker and the web app")
    u.add_argument("--port", type=int, default=8501)
    u.add_argument("--address", default="127.0.0.1",
                   help="where the app listens (default: this machine only); another address needs login "
                        "([auth] in STUDIO_HOME/secrets.toml) or --insecure")
    u.add_argument("--insecure", action="store_true",
                   help="listen beyond this machine without login: whoever reaches it is an admin (the page says so)")


def _quick(args: argparse.Namespace) -> bool:
    """A command that answers and exits: it runs without Python's cyclic garbage collector (see `run`)."""
    return args.command in ("jobs", "compute") or (args.command == "train" and not args.wait)


def main(argv: list[str] | None = None) -> int:
    global exit_at_once
    args = _parser().parse_args(argv)
    exit_at_once = _quick(args)
    if not exit_at_once:
        gc.enable()
    logging.basicConfig(level=logging.INFO if args.command == "worker" else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return int(COMMANDS[args.command](args) or 0)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def run() -> None:
    """The `studio` command (and `python -m studio`): `main`, then exit. A process that ran a job's Dask cluster
    itself exits at once once everything is written, rather than closing the cluster politely (3 s of a
    `train --wait`); the cluster's processes exit with it (each watches a pipe to this one).

    A quick command (`_quick`) runs without the cyclic garbage collector and exits the same way: importing
    pandas, SQLAlchemy and pydantic triggers full collections that free nothing (a tenth of a `studio jobs
    list`), and tearing those modules down again took 0.2 s of a 0.8 s `studio train` (bench/engine.py section
    1). Reference counting still frees memory, and everything is committed before `main` returns; a longer
    command turns the collector back on."""
    gc.disable()
    code = main()
    if exit_at_once:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


def _studio() -> Any:
    from studio.context import Studio

    return Studio()


def _dataset_for(studio: Any, data: str, name: str | None) -> Any:
    from studio.data.sources import snapshot_file

    path = Path(data)
    if path.is_file():
        return snapshot_file(studio.sources, path, name or path.stem)
    try:
        return studio.catalog.get(data)
    except DataError:
        raise DataError(f"'{data}' is neither a readable file nor a saved dataset id. "
                        "Give a CSV/Parquet/Excel path or an id from `studio data list`.") from None


def _sections(args: argparse.Namespace) -> dict[str, Any]:
    """The spec's own sections, from the command line."""
    from studio.training.spec import Budget, Cleaning, Forecasting, Partitioning, section

    seconds = args.budget_seconds if args.budget_seconds is not None else (None if args.max_trials else 60)
    parts = _csv(args.partition_by)
    return {
        "budget": section(Budget, seconds=seconds, max_trials=args.max_trials, trial_seconds=args.trial_seconds),
        "cleaning": section(Cleaning, drop_duplicates=args.drop_duplicates, cap_outliers=args.cap_outliers,
                            type_overrides=_types(args.type), dropped_columns=_csv(args.exclude)),
        "partition": section(Partitioning, columns=parts, min_rows=args.min_rows) if parts else None,
        "forecast": section(Forecasting, time_column=args.time_column, horizon=args.horizon,
                            season_length=args.season_length) if args.time_column else None,
    }


def cmd_train(args: argparse.Namespace) -> int:
    from studio.training.draft import draft_spec

    studio = _studio()
    record = _dataset_for(studio, args.data, args.name)
    spec = draft_spec(
        record, studio.catalog.load(record.id), target=args.target, task=args.task,
        algorithms=_csv(args.algorithms) or None, metric=args.metric,
        validation={"kind": args.validation, "folds": args.folds},
        compute=args.compute or studio.settings.default_compute, seed=args.seed,
        name=args.name, keep=_csv(args.keep), class_weight=args.class_weight, ensemble=not args.no_ensemble,
        onnx_safe=args.onnx_safe, **_sections(args),
    )
    for g in spec.guardrails:
        shown = "left out" if g.action == "excluded" else "note"
        print(f"data check: {g.column}: {g.finding} [{shown}]", file=sys.stderr)
    job = studio.submit_training(spec)
    from studio.auth import local_actor, record_creator

    record_creator(studio.engine, "job", job.id, local_actor().id)  # the CLI acts as the local admin
    if not args.wait:
        from studio.worker.local import ensure_worker

        if ensure_worker(studio):
            print(f"started a background worker (log: {studio.settings.logs_path / 'worker.log'})", file=sys.stderr)
        print(json.dumps({"job_id": job.id, "status": job.status.value}) if args.json else job.id)
        return 0
    from studio.jobs.training_view import job_summary

    job = _wait(studio, job.id, spec.compute)
    summary = job_summary(job)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"job {job.id} {job.status.value}: validation {summary['metric']}={summary['validation_score']} "
              f"model {summary['model_uri']}")
    return 0 if job.status.value == "succeeded" else 1


#: Set by main() for a quick command, and when this process ran a job itself (`train --wait` with no worker
#: alive): `run` then exits at once.
exit_at_once = False


def _wait(studio: Any, job_id: str, compute: str) -> Any:
    from studio.worker.loop import Worker

    global exit_at_once

    def finished() -> bool:
        return bool(studio.jobs.get(job_id).status.is_final)

    while not finished():
        if studio.worker_alive():
            time.sleep(0.5)
        else:
            exit_at_once = True
            # exiting without closing the cluster (see `run`), multiprocessing's resource tracker (started with the
            # cluster, reading this environment) unlinks its semaphores and would say so on stderr: it need not
            quiet = "ignore:resource_tracker:UserWarning"
            os.environ["PYTHONWARNINGS"] = ",".join(filter(None, (os.environ.get("PYTHONWARNINGS"), quiet)))
            # warm: MLflow's store opens while the job's compute starts, not one after the other
            Worker(studio, warm=True, warm_compute=compute).run(until=finished)
    return studio.jobs.get(job_id)


def cmd_predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from studio.data.readers import read_table
    from studio.scoring import score_file, score_frame

    studio = _studio()
    if args.to_table and args.connection:
        studio.connections.get(args.connection)  # fail before scoring, not after
    model = studio.tracker.load_model(args.model)
    source, out = Path(args.data), Path(args.out)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise DataError(f"Write the predictions to a .csv or .parquet file, not '{out.name}'.")
    if source.suffix.lower() in (".csv", ".txt", ".parquet", ".pq"):
        def progress(done: int, total: int) -> None:
            print(f"\rscored {done:,} of {total:,} rows", end="", file=sys.stderr, flush=True)

        report = score_file(model, source, out, keep_columns=args.with_input, progress=progress)
        print(file=sys.stderr)
    else:
        if source.is_file():  # e.g. an Excel file
            frame = read_table(source, min_columns=1)
        else:
            try:
                frame = studio.catalog.load(studio.catalog.get(args.data).id)
            except DataError:
                raise DataError(f"'{args.data}' is neither a readable file nor a saved dataset id. Give a "
                                "CSV/Parquet/Excel path or an id from `studio data list`.") from None
        scored = score_frame(model, frame)
        if args.with_input:
            scored = pd.concat([frame, scored], axis=1)
        scored.to_parquet(out, index=False) if out.suffix.lower() == ".parquet" else scored.to_csv(out, index=False)
        report = None
    if report is not None and report.extra:
        print(report.describe(), file=sys.stderr)
    print(f"wrote the predictions to {out}", file=sys.stderr)
    if args.to_table:
        _write_back(studio, args, out)
    return 0


def _write_back(studio: Any, args: argparse.Namespace, scored: Path) -> None:
    from studio.scoring import write_back

    if not args.connection:
        raise DataError("--to-table needs --connection NAME (a saved connection: `studio data connect`).")
    rows = write_back(studio.sources, scored, connection=args.connection, table=args.to_table, mode=args.mode,
                      model_uri=studio.tracker.version_uri(args.model))
    print(f"wrote {rows:,} rows to {args.to_table} on {args.connection}", file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    studio = _studio()
    if args.format == "onnx":
        from studio.export.onnx_model import export_onnx

        onnx = export_onnx(studio.tracker, studio.settings.exports_path, args.model)
        print(onnx.model_dump_json() if args.json else f"{onnx.path}\n{onnx.report.summary()}")
        return 0
    from studio.export.bento import export_bento

    result = export_bento(studio.tracker, studio.settings, args.model, log=lambda line: print(line, file=sys.stderr),
                          runtime=args.runtime)
    print(result.model_dump_json() if args.json else f"{result.bento_tag}  {result.bundle_path}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import subprocess

    from studio.export.bento import service_env
    from studio.export.serving import check_bento, serve_command

    studio = _studio()
    check_bento(studio.settings, args.bento)
    return subprocess.call(serve_command(args.bento, args.port), env=service_env(studio.settings))


def cmd_worker(args: argparse.Namespace) -> int:
    import signal

    from studio.worker.local import lower_priority
    from studio.worker.loop import Worker

    studio = _studio()
    lower_priority(studio.settings.worker_nice)
    worker = Worker(studio, warm=True, pages_first=studio.settings.pages_first)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    worker.run()
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from studio.cli_jobs import cmd_jobs as run

    return run(args, _studio())


def cmd_compute(args: argparse.Namespace) -> int:
    from studio.cli_jobs import cmd_compute as run

    return run(args, _studio())


def cmd_data(args: argparse.Namespace) -> int:
    from studio.cli_data import cmd_data as run

    return run(args, _studio())


def cmd_up(args: argparse.Namespace) -> int:
    import os

    from studio.auth import check_exposure, is_loopback, login_configured
    from studio.worker.local import ensure_worker

    studio = _studio()
    app = Path(__file__).resolve().parent.parent / "app.py"
    secrets = [Path.home() / ".streamlit" / "secrets.toml", app.parent / ".streamlit" / "secrets.toml",
               studio.settings.secrets_path]
    check_exposure(args.address, login=login_configured(secrets), insecure=args.insecure)
    if ensure_worker(studio):
        print(f"started a worker (log: {studio.settings.logs_path / 'worker.log'})", file=sys.stderr)
    # Run from the app's folder so .streamlit/config.toml applies; STUDIO_HOME stays where it was resolved.
    os.environ["STUDIO_HOME"] = str(studio.settings.root)
    if args.insecure and not is_loopback(args.address):
        os.environ["STUDIO_INSECURE"] = "true"  # the app shows a banner on every page
    os.chdir(app.parent)
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port),
               "--server.address", args.address]
    for path in secrets:  # later files win: the studio's own secrets come last
        command += ["--secrets.files", str(path)]
    os.execv(sys.executable, command)
    return 0


def _types(values: list[str]) -> dict[str, str]:
    pairs = [v.rsplit("=", 1) for v in values]
    bad = [v for v, pair in zip(values, pairs, strict=True) if len(pair) != 2 or not pair[0].strip()]
    if bad:
        raise SpecError(f"--type takes COLUMN=KIND, e.g. --type store=categorical; got {bad[0]!r}.")
    return {column.strip(): kind.strip() for column, kind in pairs}


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def cmd_models(args: argparse.Namespace) -> int:
    from studio.cli_models import cmd_models as run

    return run(args, _studio())


COMMANDS = {"train": cmd_train, "predict": cmd_predict, "export": cmd_export, "serve": cmd_serve,
            "worker": cmd_worker, "jobs": cmd_jobs, "compute": cmd_compute, "data": cmd_data, "up": cmd_up,
            "models": cmd_models}
