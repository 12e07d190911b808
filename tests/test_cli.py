"""The CLI contract: exit codes, one-line errors, the JSON shape of train/jobs show."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from studio.cli import main
from studio.context import Studio
from studio.training.draft import draft_spec
from studio.training.spec import Budget
from studio.worker.handlers import TRAIN

JOB_KEYS = {"job_id", "status", "run_id", "model_uri", "metric", "validation_score", "n_trials", "duration_s", "error",
            "started_at", "ended_at"}


def _last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "nope.csv", "--target", "y"], "neither a readable file nor a saved dataset id"),
    (["train", "{csv}", "--target", "missing"], "The target 'missing' is not a column"),
    (["train", "{csv}", "--target", "churned", "--budget-seconds", "0"], "must be an int in [1, 604800]"),
    (["train", "{csv}", "--target", "churned", "--algorithms", "svm"], "algorithms ['svm'] are unknown"),
    (["train", "{csv}", "--target", "churned", "--metric", "rmse"], "metric 'rmse' does not fit the binary task"),
    (["predict", "models:/none/1", "--data", "{csv}", "--out", "x.csv"], "Cannot load model"),
    (["jobs", "show", "abc"], "No job 'abc'"),
    (["jobs", "rerun", "abc"], "No job 'abc'"),
    (["jobs", "delete", "abc", "--yes"], "No job 'abc'"),
    (["train", "{csv}", "--target", "churned", "--compute", "huge"], "Compute size 'huge' is not configured here"),
    (["serve", "nope:latest"], "No bento 'nope:latest'"),
    (["export", "models:/nope/1"], "No registered model 'models:/nope/1'"),
])
def test_bad_input_exits_2_with_one_line(argv: list[str], message: str, churn_csv: Path, capsys) -> None:
    code = main([a.replace("{csv}", str(churn_csv)) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.startswith("error: ") and "Traceback" not in err


def test_train_without_wait_queues_and_prints_the_id(churn_csv: Path, capsys) -> None:
    assert main(["train", str(churn_csv), "--target", "churned", "--json"]) == 0
    queued = _last_json(capsys.readouterr().out)
    assert queued["status"] == "queued"
    assert main(["jobs", "show", queued["job_id"], "--json"]) == 0
    shown = _last_json(capsys.readouterr().out)
    assert shown.keys() >= JOB_KEYS and shown["status"] == "queued" and shown["model_uri"] is None


def test_train_wait_json_contract(churn_csv: Path, capsys) -> None:
    code = main(["train", str(churn_csv), "--target", "churned", "--algorithms", "linear", "--max-trials", "2",
                 "--validation", "holdout", "--wait", "--json"])
    out = _last_json(capsys.readouterr().out)
    assert code == 0 and out["status"] == "succeeded"
    assert out.keys() >= JOB_KEYS and out["n_trials"] == 2 and out["model_uri"] == "models:/churn/1"
    assert main(["jobs", "list"]) == 0 and out["job_id"] in capsys.readouterr().out


def test_cancel_a_queued_job(studio: Studio, churn, capsys) -> None:
    record = studio.catalog.save(churn, "churn", source="test")
    job = studio.jobs.submit(TRAIN, "x", draft_spec(record, churn, target="churned"))
    assert main(["jobs", "cancel", job.id]) == 0
    assert "cancelled" in capsys.readouterr().out


def test_rerun_then_delete_with_and_without_confirmation(studio: Studio, churn, capsys, monkeypatch) -> None:
    record = studio.catalog.save(churn, "churn", source="test")
    job = studio.submit_training(draft_spec(record, churn, target="churned"))
    assert main(["jobs", "rerun", job.id, "--json"]) == 0
    again = _last_json(capsys.readouterr().out)
    assert again["job_id"] != job.id and again["status"] == "queued"
    assert studio.jobs.get(again["job_id"]).payload == job.payload
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["jobs", "delete", job.id]) == 2  # no terminal to confirm on: refuse, keep the job
    assert "pass --yes" in capsys.readouterr().err and studio.jobs.get(job.id)
    assert main(["jobs", "delete", job.id, "--yes"]) == 0
    assert [j.id for j in studio.jobs.list()] == [again["job_id"]]


def test_compute_list_shows_each_size(capsys) -> None:
    assert main(["compute", "list", "--json"]) == 0
    sizes = json.loads(capsys.readouterr().out)
    assert {"small", "medium", "large"} <= set(sizes) and sizes["small"]["workers"] == 1


def test_python_dash_m_studio_runs_the_cli() -> None:
    proc = subprocess.run([sys.executable, "-m", "studio", "jobs", "show", "zzz"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: No job 'zzz'. Run `studio jobs list` to see jobs."


@pytest.mark.slow
def test_models_list_gates_promote_rollback_and_card(studio: Studio, churn, capsys, tmp_path: Path) -> None:
    from studio.worker.loop import Worker

    record = studio.catalog.save(churn, "churn", source="test")
    for _ in range(2):
        spec = draft_spec(record, churn, target="churned", algorithms=["linear"],
                          budget=Budget(max_trials=1, seconds=None))
        studio.submit_training(spec)
    Worker(studio, worker_id="w").run(until=lambda: all(j.status.is_final for j in studio.jobs.list()))
    capsys.readouterr()
    assert main(["models", "list", "--json"]) == 0
    listing = _last_json(capsys.readouterr().out)
    assert [v["version"] for v in listing["churn"]] == ["2", "1"]
    assert main(["models", "gates", "churn", "--rule", "roc_auc>=0.999"]) == 0
    capsys.readouterr()
    assert main(["models", "promote", "churn", "1", "--reason", "first"]) == 2
    err = capsys.readouterr().err
    assert "FAIL  held-out roc_auc >= 0.999" in err and err.strip().splitlines()[-1].startswith("error: v1 of")
    assert main(["models", "gates", "churn", "--clear"]) == 0
    assert main(["models", "promote", "churn", "1", "--reason", "first"]) == 0
    assert main(["models", "promote", "churn", "2"]) == 0
    assert "churn@champion -> v2" in capsys.readouterr().out
    assert main(["models", "rollback", "churn", "--reason", "oops"]) == 0
    assert "churn@champion -> v1 (was v2)" in capsys.readouterr().out
    assert main(["models", "gates", "churn", "--rule", "auc>>1"]) == 2
    assert "is not of the form METRIC>=NUMBER" in capsys.readouterr().err
    out = tmp_path / "card.html"
    assert main(["models", "card", "churn", "1", "--format", "html", "--out", str(out)]) == 0
    assert "<h1>Model card: churn v1</h1>" in out.read_text() and "champion" in out.read_text()
    assert [a.action for a in studio.registry.audit("churn")] == ["rollback", "promote", "promote", "gates", "gates"]


def test_the_cli_help_names_every_registered_algorithm(capsys) -> None:
    import pytest

    from studio.training.estimators import ESTIMATORS

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    # every registered algorithm, read from the registry (extra_trees was once missing); argparse wraps long words
    assert ",".join(ESTIMATORS) in "".join(capsys.readouterr().out.split())


def test_the_job_commands_and_a_submit_load_no_ml_library(churn_csv: Path, tmp_path: Path) -> None:
    """A CLI that answers like a CLI: `jobs list`/`jobs show` read the store without pandas or scikit-learn, and
    `train` (without --wait) drafts and queues the job without scikit-learn (the worker imports it)."""
    code = ("import json, sys; from studio.cli import main; rc = main(sys.argv[1:]); "
            "print(json.dumps({m: m in sys.modules for m in ('pandas', 'sklearn', 'mlflow', 'optuna', 'dask')}))")
    env = {**__import__("os").environ, "STUDIO_HOME": str(tmp_path / "home"), "STUDIO_EMBEDDED_WORKER": "false"}

    def loaded(*argv: str) -> tuple[str, dict[str, bool]]:
        out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env,
                             check=True).stdout.strip().splitlines()
        return out[0], json.loads(out[-1])

    job_id, submit = loaded("train", str(churn_csv), "--target", "churned")
    assert not any(submit[m] for m in ("sklearn", "mlflow", "optuna", "dask")), submit
    for argv in (("jobs", "list"), ("jobs", "show", job_id, "--json")):
        assert not any(loaded(*argv)[1].values()), argv


def test_a_quick_command_exits_at_once_with_all_of_its_output(studio: Studio, churn) -> None:
    """`jobs list` skips the interpreter's teardown (os._exit, see studio.cli.run): what it printed still arrives
    whole through a pipe, even well past the pipe's 64 KB buffer."""
    record = studio.catalog.save(churn, "churn", source="test")
    spec = draft_spec(record, churn, target="churned")
    ids = {studio.jobs.submit(TRAIN, f"job-{i}", spec).id for i in range(150)}
    proc = subprocess.run([sys.executable, "-m", "studio", "jobs", "list", "--json"], capture_output=True, text=True,
                          check=True)
    assert len(proc.stdout) > 2**16
    assert {job["job_id"] for job in json.loads(proc.stdout)} == ids


@pytest.mark.slow
def test_train_wait_as_a_command_prints_its_result_and_leaves_no_process_behind(churn_csv: Path,
                                                                                tmp_path: Path) -> None:
    """`studio train --wait` runs the job itself, then exits at once without closing its Dask cluster politely:
    the result is complete and the cluster's processes go with it."""
    import os
    import time

    import psutil

    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "studio", "train", str(churn_csv), "--target", "churned",
                           "--algorithms", "linear", "--max-trials", "2", "--validation", "holdout", "--wait",
                           "--json"],
                          capture_output=True, text=True, env=env, timeout=300)
    out = _last_json(proc.stdout)
    assert proc.returncode == 0 and out["status"] == "succeeded" and out["model_uri"] == "models:/churn/1"
    assert "leaked" not in proc.stderr  # the resource tracker cleans up after the quick exit, silently

    def left() -> list[int]:
        found = []
        for p in psutil.process_iter(["pid"]):
            try:
                if p.environ().get("STUDIO_HOME") == env["STUDIO_HOME"]:
                    found.append(p.pid)
            except psutil.Error:
                continue
        return found

    deadline = time.monotonic() + 30
    while left() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left() == []
    shown = subprocess.run([sys.executable, "-m", "studio", "jobs", "show", out["job_id"], "--json"],
                           capture_output=True, text=True, env=env, check=True)
    assert _last_json(shown.stdout)["status"] == "succeeded"
