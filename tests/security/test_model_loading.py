"""Only models the studio logged load, only as skops, only from its own artifact store (`studio predict
"runs:/<run>/../../somewhere"` once loaded a pickle from wherever it pointed)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml

from studio.cli import main
from studio.context import Studio
from studio.errors import ModelNotFound
from studio.model_refs import check_mlmodel, check_source, check_uri
from studio.studies import storage_for
from studio.training.draft import draft_spec
from studio.training.run import train
from studio.training.spec import Budget
from tests.conftest import INLINE, SMALL, ListReporter, churn_frame


class Boom:
    """A pickle that writes a file when loaded: the attack."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.write_text, (self.marker, "pwned"))


def _pickled_model(folder: Path, marker: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.pkl").write_bytes(pickle.dumps(Boom(marker)))
    (folder / "MLmodel").write_text(yaml.safe_dump({
        "flavors": {"python_function": {"loader_module": "mlflow.sklearn", "model_path": "model.pkl"},
                    "sklearn": {"pickled_model": "model.pkl", "serialization_format": "cloudpickle"}},
        "metadata": {"studio": {}}}))
    return folder


@pytest.fixture
def trained(studio: Studio) -> str:
    frame = churn_frame(200)
    record = studio.catalog.save(frame, "churn", source="test")
    spec = draft_spec(record, frame, target="churned", algorithms=["linear"], validation={"kind": "holdout"},
                      budget=Budget(max_trials=1, seconds=None))
    return train(spec, catalog=studio.catalog, tracker=studio.tracker, job_id="m1", profile=SMALL, pools=INLINE,
                 storage=storage_for(studio.settings, "job-m1"), reporter=ListReporter()).run_id


@pytest.mark.parametrize("ref", ["runs:/0123456789abcdef0123456789abcdef/../../somewhere",
                                 "runs:/0123456789abcdef0123456789abcdef/other", "models:/../x/1",
                                 "file:///tmp/model", "/tmp/model", "s3://bucket/model", "models:/m/1/../../x"])
def test_references_that_are_paths_are_refused(ref: str) -> None:
    with pytest.raises(ModelNotFound, match="not a model reference the studio loads"):
        check_uri(ref)


def test_predict_refuses_a_run_reference_that_climbs_out_to_a_pickle(studio: Studio, trained: str, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "pwned.txt"
    _pickled_model(studio.settings.root / "somewhere", marker)
    data = tmp_path / "rows.csv"
    churn_frame(5).drop(columns="churned").to_csv(data, index=False)
    code = main(["predict", f"runs:/{trained}/../../somewhere", "--data", str(data), "--out", str(tmp_path / "o.csv")])
    assert code == 2 and "not a model reference the studio loads" in capsys.readouterr().err
    assert not marker.exists()
    assert main(["predict", f"runs:/{trained}/model", "--data", str(data), "--out", str(tmp_path / "o.csv")]) == 0


def test_a_registered_version_pointing_outside_the_store_is_not_loaded(studio: Studio, tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    foreign = _pickled_model(tmp_path / "elsewhere", marker)
    client = studio.tracker.client
    client.create_registered_model("planted")
    client.create_model_version("planted", source=foreign.as_uri())
    with pytest.raises(ModelNotFound, match="not in the studio's artifact store"):
        studio.tracker.load_model("models:/planted/1")
    assert not marker.exists()


def test_a_model_not_saved_with_skops_is_not_loaded() -> None:
    with pytest.raises(ModelNotFound, match="not saved with skops"):
        check_mlmodel({"sklearn": {"serialization_format": "cloudpickle"}}, {"studio": {}}, ref="m")
    with pytest.raises(ModelNotFound, match="not trained by the studio"):
        check_mlmodel({"sklearn": {"serialization_format": "skops"}}, {}, ref="m")


def test_sources_must_lie_inside_the_artifact_root(tmp_path: Path) -> None:
    root = (tmp_path / "mlartifacts").as_uri()
    check_source((tmp_path / "mlartifacts" / "1" / "models" / "m").as_uri(), root)
    for outside in ((tmp_path / "mlartifacts" / ".." / "x").as_uri(), "s3://bucket/m", str(tmp_path / "x")):
        with pytest.raises(ModelNotFound):
            check_source(outside, root)
    check_source("s3://store/studio/1/m", "s3://store/studio")
    with pytest.raises(ModelNotFound):
        check_source("s3://store/studio-other/m", "s3://store/studio")
