"""Compute sizes: defaults from this machine, compute.toml under the studio home, the environment on top."""

from __future__ import annotations

import pytest

from studio.compute.profiles import default_profiles, load_profiles
from studio.context import Studio
from studio.errors import SpecError
from studio.settings import Settings


def test_defaults_follow_the_architecture_shapes() -> None:
    two = default_profiles(cores=2, memory_gb=24)
    assert (two["small"]["workers"], two["small"]["threads"]) == (1, 1)
    assert (two["medium"]["workers"], two["large"]["workers"] * two["large"]["threads"]) == (2, 2)
    eight = default_profiles(cores=8, memory_gb=64)
    assert (eight["large"]["workers"], eight["large"]["threads"]) == (4, 2)  # every core, 2 threads per worker
    assert eight["large"]["memory_gb"] == 12.0  # three quarters of the memory, shared


def test_a_job_gets_the_whole_machine_unless_someone_chose_a_size(monkeypatch: pytest.MonkeyPatch,
                                                                  churn_csv, capsys) -> None:
    import json

    from studio.cli import main

    monkeypatch.delenv("STUDIO_DEFAULT_COMPUTE")  # the suite's own processes default to one core (conftest)
    monkeypatch.delenv("STUDIO_WORKER_NICE")  # and run their workers at the suite's priority
    assert Settings().default_compute == "large" and Settings().worker_nice == 10
    studio = Studio()
    assert studio.profile(studio.settings.default_compute).cores == default_profiles()["large"]["workers"] * \
        default_profiles()["large"]["threads"]
    assert main(["train", str(churn_csv), "--target", "churned", "--json"]) == 0
    job = studio.jobs.get(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["job_id"])
    assert job.payload["compute"] == "large"
    monkeypatch.setenv("STUDIO_DEFAULT_COMPUTE", "medium")  # an admin's choice for a shared server
    assert main(["train", str(churn_csv), "--target", "churned", "--json"]) == 0
    job = Studio().jobs.get(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["job_id"])
    assert job.payload["compute"] == "medium"


def test_the_settings_file_overrides_and_adds_and_the_environment_wins(settings: Settings,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    settings.prepare()
    (settings.root / "compute.toml").write_text(
        '[large]\nworkers = 3\nmemory_gb = 5\n\n[gpu-box]\nworkers = 1\nthreads = 8\nmemory_gb = 30\n'
        'description = "the big one"\n')
    monkeypatch.setenv("STUDIO_COMPUTE__LARGE__MEMORY_GB", "6.5")
    monkeypatch.setenv("STUDIO_COMPUTE__CLUSTER__SCHEDULER", "tcp://10.0.0.5:8786")
    profiles = load_profiles(settings)
    assert (profiles["large"].workers, profiles["large"].memory_gb) == (3, 6.5)
    assert profiles["gpu-box"].cores == 8 and profiles["gpu-box"].description == "the big one"
    assert profiles["cluster"].is_remote and profiles["cluster"].scheduler == "tcp://10.0.0.5:8786"
    assert profiles["small"].workers == 1  # untouched defaults stay


@pytest.mark.parametrize(("text", "message"), [
    ("[large\nworkers = 2", "is not valid TOML"),
    ("large = 3", "'large' must be a table"),
    ("[large]\nworkers = 0", "compute profile large.workers: Input should be greater than or equal to 1"),
    ("[large]\ncores = 4", "compute profile large.cores: Extra inputs are not permitted"),
    ("[cluster]\nscheduler = \"10.0.0.5\"", "scheduler must be an address like tcp://host:8786"),
])
def test_a_broken_settings_file_says_what_is_wrong(settings: Settings, text: str, message: str) -> None:
    settings.prepare()
    (settings.root / "compute.toml").write_text(text)
    with pytest.raises(SpecError, match="compute") as info:
        load_profiles(settings)
    assert message in str(info.value)


def test_an_unknown_size_is_refused_when_the_job_is_submitted(studio: Studio) -> None:
    with pytest.raises(SpecError, match=r"Compute size 'huge' is not configured here; choose from \['large'"):
        studio.profile("huge")
