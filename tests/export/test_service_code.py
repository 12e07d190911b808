from __future__ import annotations

from studio.data import ColumnKind
from studio.export.bento import bento_name
from studio.export.service_code import field_name, known_categories, render_service
from studio.training import Feature, ModelInfo, Task


def test_field_names_are_identifiers_and_unique() -> None:
    taken: set[str] = set()
    names = [field_name(c, taken) for c in ["monthly charges", "Monthly-Charges", "class", "2nd", "model_config"]]
    assert names == ["monthly_charges", "monthly_charges_2", "f_class", "f_2nd", "f_model_config"]
    assert all(n.isidentifier() for n in names)


def test_rendered_service_compiles_and_names_every_column() -> None:
    info = ModelInfo(task=Task.BINARY, target="churned", metric="roc_auc", classes=["no", "yes"],
                     features=(Feature(name="monthly charges", kind=ColumnKind.NUMERIC),
                               Feature(name="plan", kind=ColumnKind.CATEGORICAL),
                               Feature(name="auto_pay", kind=ColumnKind.BOOLEAN)))
    code = render_service(info, model_tag="churn-v1:abc", model_uri="models:/churn/1", service_name="churn-v1",
                          categories={"plan": ["basic", "plus", "pro"]})
    compile(code, "service.py", "exec")
    assert ("monthly_charges: Number | None = Field(alias='monthly charges', description='numeric between -1e+15 "
            "and 1e+15; null if missing')") in code
    assert ("plan: str | int | None = Field(alias='plan', description='one of: basic, plus, pro. Another value is "
            "accepted and treated as unseen; null if missing', examples=['basic'])") in code
    assert "auto_pay: bool | None" in code
    assert "prediction: str" in code and "batchable=True" in code and "BentoModel('churn-v1:abc')" not in code
    assert "bentoml.models.BentoModel(MODEL_TAG)" in code and "MODEL_TAG = 'churn-v1:abc'" in code


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
