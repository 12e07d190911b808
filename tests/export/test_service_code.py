from __future__ import annotations

from studio.data import ColumnKind
from studio.export.bento import bento_name
from studio.export.service_code import SERVICE_FILES, known_categories, service_schema, write_service
from studio.training import Feature, ModelInfo, Task

#: A column name that, pasted into Python source, would close a string and run a statement at `bentoml build`.
EVIL = 'x"""\nimport os; os.system("touch /tmp/pwned")\n"""\'\'\'\n\u00e9\u4e2d \U0001f600'


def _info(*names: str) -> ModelInfo:
    return ModelInfo(task=Task.BINARY, target=EVIL, metric="roc_auc", classes=["no", EVIL],
                     features=(Feature(name=names[0], kind=ColumnKind.NUMERIC),
                               Feature(name=names[1], kind=ColumnKind.CATEGORICAL),
                               Feature(name=names[2], kind=ColumnKind.BOOLEAN)))


def test_the_schema_names_every_column_and_the_service_file_holds_no_data(tmp_path) -> None:
    info = _info("monthly charges", EVIL, "auto_pay")
    schema = service_schema(info, model_tag="churn-v1:abc", model_uri="models:/churn/1", service_name="churn-v1",
                            categories={EVIL: ["basic", EVIL]})
    write_service(tmp_path, schema)
    for name, source in SERVICE_FILES.items():  # the same files for every model: nothing derived from data
        code = (tmp_path / name).read_text()
        assert code == source.read_text()
        assert EVIL not in code and "monthly charges" not in code and "churn" not in code
    assert len((tmp_path / "service.py").read_text().splitlines()) < 70  # a service the size of BentoML's examples
    import json

    loaded = json.loads((tmp_path / "schema.json").read_text(encoding="utf-8"))
    assert [f["name"] for f in loaded["fields"]] == ["monthly charges", EVIL, "auto_pay"]
    assert loaded["fields"][0]["description"] == "numeric between -1e+15 and 1e+15; null if missing"
    assert loaded["fields"][1]["description"].startswith("one of: basic, ") and loaded["fields"][1]["examples"] == [
        "basic"]
    assert loaded["classes"] == ["no", EVIL] and loaded["prediction_types"] == ["str"] and loaded["batching"]
    assert loaded["model_tag"] == "churn-v1:abc" and [c["name"] for c in loaded["columns"]] == [
        "monthly charges", EVIL, "auto_pay"] and [c["kind"] for c in loaded["columns"]][1] == "categorical"


def test_the_service_builds_its_input_model_from_the_schema_with_any_unicode_names(tmp_path) -> None:
    """The service module, imported beside a schema whose names would break Python source, validates rows keyed
    by those names and refuses extra or mistyped fields (the served bento does the same over HTTP)."""
    import importlib.util
    import sys

    import pydantic
    import pytest

    info = _info("monthly charges", EVIL, "class")
    write_service(tmp_path, service_schema(info, model_tag="m:1", model_uri="models:/m/1", service_name="m-v1",
                                           categories={EVIL: ["a"]}))
    spec = importlib.util.spec_from_file_location("generated_service_test", tmp_path / "service.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    sys.path.insert(0, str(tmp_path))  # as in a served bento: its files beside each other
    try:
        spec.loader.exec_module(module)
        row = module.InputRow.model_validate({"monthly charges": 70.5, EVIL: "a", "class": True})
        assert row.model_dump(by_alias=True) == {"monthly charges": 70.5, EVIL: "a", "class": True}
        with pytest.raises(pydantic.ValidationError, match="Extra inputs"):
            module.InputRow.model_validate({"monthly charges": 1.0, EVIL: "a", "class": True, "f0": 1.0})
        with pytest.raises(pydantic.ValidationError):
            module.InputRow.model_validate({"monthly charges": float("inf"), EVIL: "a", "class": True})
        frame = module.model_frame(__import__("pandas").DataFrame([row.model_dump(by_alias=True)]), module.COLUMNS)
        assert list(frame.columns) == ["monthly charges", EVIL, "class"] and frame["class"].tolist() == [1.0]
    finally:
        sys.path.remove(str(tmp_path))
        for name in (spec.name, "studio_runtime", "studio_prepare"):
            sys.modules.pop(name, None)
    assert not __import__("pathlib").Path("/tmp/pwned").exists()


def test_known_categories_come_from_the_fitted_encoders() -> None:
    import numpy as np
    from sklearn.ensemble import VotingClassifier

    from studio.training.features import model_frame
    from studio.training.search import make_pipeline
    from studio.training.spec import TrainSpec
    from tests.conftest import churn_frame

    frame = churn_frame(200)
    features = (Feature(name="plan", kind=ColumnKind.CATEGORICAL, n_distinct=3),
                Feature(name="tenure", kind=ColumnKind.NUMERIC))
    spec = TrainSpec.parse({"dataset_id": "d-v1", "dataset_hash": "h", "target": "churned", "task": "binary",
                            "features": [f.model_dump() for f in features], "algorithms": ["linear"],
                            "metric": "roc_auc"})
    X, y = model_frame(frame, features), (frame["churned"] == "yes").to_numpy(dtype=int)
    single = make_pipeline(spec, "linear", {"C": 1.0}, n_jobs=1).fit(X, y)
    assert known_categories(single) == {"plan": ["basic", "plus", "pro"]}  # the missing level is not shown
    both = VotingClassifier([("a", single), ("b", make_pipeline(spec, "linear", {"C": 2.0}, n_jobs=1))],
                            voting="soft").fit(X, y)
    assert known_categories(both) == {"plan": ["basic", "plus", "pro"]} and np.isfinite(both.predict_proba(X)).all()


def test_bento_names() -> None:
    assert bento_name("models:/churn/3") == "churn-v3"
    assert bento_name("models:/My Model@champion") == "my-model-champion"


def test_the_bundle_has_a_dockerfile_a_manifest_and_a_readme_with_the_exact_commands(tmp_path) -> None:
    import zipfile

    import yaml

    from studio.export.bundle import SERVICE_PORT, render, write_bundle

    sample = [{"monthly charges": 70.5, "plan": "pro", "auto_pay": None}]
    files = render(tag="churn-v1:abc123", archive="churn-v1-abc123.bento", model_uri="models:/churn/1",
                   summary="A binary model.", sample=sample, bentoml_version="1.4.39", max_rows=10_000)
    docker = files["Dockerfile"]
    assert "USER bentoml" in docker and "HEALTHCHECK" in docker and "bentoml==1.4.39" in docker
    assert f'CMD ["bentoml", "serve", "churn-v1:abc123", "--host", "0.0.0.0", "--port", "{SERVICE_PORT}"]' in docker
    deployment, service = yaml.safe_load_all(files["k8s.yaml"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz" and container["image"] == "churn-v1:abc123"
    assert service["spec"]["ports"][0]["targetPort"] == SERVICE_PORT
    readme = files["README.md"]
    assert 'bentoml import "$PWD/churn-v1-abc123.bento"' in readme and "bentoml serve churn-v1:abc123" in readme
    assert '{"rows": [{"monthly charges": 70.5, "plan": "pro", "auto_pay": null}]}' in readme
    archive = tmp_path / "churn-v1-abc123.bento"
    archive.write_bytes(b"bento")
    with zipfile.ZipFile(write_bundle(tmp_path, archive_path=archive, files=files)) as zf:
        assert sorted(zf.namelist()) == ["Dockerfile", "README.md", "churn-v1-abc123.bento", "k8s.yaml"]
