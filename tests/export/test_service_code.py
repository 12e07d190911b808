from __future__ import annotations

from studio.data import ColumnKind
from studio.export.bento import bento_name
from studio.export.service_code import field_name, render_service
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
    code = render_service(info, model_tag="churn-v1:abc", model_uri="models:/churn/1", service_name="churn-v1")
    compile(code, "service.py", "exec")
    assert "monthly_charges: float | None = Field(alias='monthly charges')" in code
    assert "plan: str | None = Field(alias='plan')" in code and "auto_pay: bool | None" in code
    assert "prediction: str" in code and "batchable=True" in code and "BentoModel('churn-v1:abc')" not in code
    assert "bentoml.models.BentoModel(MODEL_TAG)" in code and "MODEL_TAG = 'churn-v1:abc'" in code


def test_bento_names() -> None:
    assert bento_name("models:/churn/3") == "churn-v3"
    assert bento_name("models:/My Model@champion") == "my-model-champion"
