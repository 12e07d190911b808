"""The whole pipeline (preprocessing included) as one ONNX graph, checked, and compared with the native model.

skl2onnx converts the scikit-learn steps; onnxmltools' converters are registered for XGBoost and LightGBM.
Inputs are typed explicitly, one per model column: numbers as float32, categories as strings (a missing
category is fed as the "missing" level the imputer would have produced). Probabilities come out as one tensor
(no ZipMap), so parity is a plain max absolute difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from studio import prepare
from studio.data.schema import ColumnKind
from studio.errors import ExportError
from studio.export.onnx_converters import register as register_converters
from studio.names import Tag
from studio.paths import confined
from studio.prepare import MISSING_CATEGORY
from studio.training.features import columns_of, model_columns, model_frame
from studio.training.model import ModelInfo

if TYPE_CHECKING:
    from studio.tracking import Tracker

TARGET_OPSET = {"": 21, "ai.onnx.ml": 3}
#: Parity holds when every value differs by at most this much, relative to max(1, |native value|): the graph
#: computes in float32 (about 7 significant digits), so a regression predicting values in the hundreds differs in
#: absolute terms by more than probabilities do.
PARITY_TOLERANCE = 1e-4


class ParityReport(BaseModel):
    """What `studio export --format onnx` saves next to the model and shows on the Deploy page."""

    model_uri: str
    rows: int
    max_abs_diff: float  # max |onnx - native|
    max_rel_diff: float  # max |onnx - native| / max(1, |native|); equals max_abs_diff for probabilities
    compared: str  # "probabilities" or "predictions"
    labels_agree: float | None = None  # classification: share of rows with the same predicted class
    tolerance: float = PARITY_TOLERANCE
    opset: dict[str, int] = TARGET_OPSET
    inputs: dict[str, str]

    @property
    def holds(self) -> bool:
        return self.max_rel_diff <= self.tolerance

    def summary(self) -> str:
        """One line for the CLI, the job log and the Deploy page."""
        text = f"max |onnx - native| {self.compared} over {self.rows} held-out rows = {self.max_abs_diff:.2g}"
        if self.compared == "predictions":
            text += f" ({self.max_rel_diff:.2g} relative to the values)"
        text += f"; parity {'holds' if self.holds else 'does NOT hold'} (tolerance {self.tolerance:g})"
        if self.labels_agree is not None:
            text += f"; the same predicted class on {self.labels_agree:.1%} of the rows"
        return text


def input_types(info: ModelInfo) -> list[tuple[str, Any]]:
    """One ONNX input per model column: float32 numbers (dates become numeric parts), string categories."""
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    categorical = {f.name for f in info.features if f.kind is ColumnKind.CATEGORICAL}
    return [(name, StringTensorType([None, 1]) if name in categorical else FloatTensorType([None, 1]))
            for name in model_columns(info.features)]


def convert(pipeline: Any, info: ModelInfo) -> Any:
    """The pipeline as a checked ONNX model; ExportError naming the step that cannot convert."""
    import onnx
    from skl2onnx import to_onnx

    register_converters()
    pipeline = _convertible_copy(pipeline)
    options = {id(pipeline): {"zipmap": False}} if info.classes is not None else None
    try:
        model = to_onnx(pipeline, initial_types=input_types(info), target_opset=TARGET_OPSET, options=options)
    except Exception as exc:  # skl2onnx raises RuntimeError, NotImplementedError, MissingShapeCalculator, ...
        raise ExportError(f"This model cannot be converted to ONNX: {blocking_step(pipeline, exc)}. "
                          "Train with the 'ONNX-safe' option to keep to convertible steps.") from None
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # onnx.checker.ValidationError and shape-inference errors
        raise ExportError(f"The ONNX model failed onnx.checker: {str(exc).splitlines()[0][:300]}") from None
    return model


def _convertible_copy(pipeline: Any) -> Any:
    """A copy that skl2onnx converts and that behaves exactly as the original:
    - category imputers look for the 'missing' level rather than NaN: skl2onnx converts a string imputer only
      when its `missing_values` is a string, and the ONNX inputs already carry a missing category as
      MISSING_CATEGORY (see onnx_feed), so in the graph the imputer is an identity;
    - a voting ensemble's weights are an array (skl2onnx 1.20 calls `weights.sum()`) and its
      `flatten_transform` is off (it shapes only `transform()`, which the model never calls, and skl2onnx
      refuses it on)."""
    import copy

    from sklearn.impute import SimpleImputer

    converted = copy.deepcopy(pipeline)
    for _, step in _steps(converted):
        if isinstance(step, SimpleImputer) and step.fill_value == MISSING_CATEGORY:
            step.missing_values = MISSING_CATEGORY
        if isinstance(getattr(step, "weights", None), list):
            step.weights = np.asarray(step.weights, dtype=np.float64)
        if hasattr(step, "flatten_transform"):
            step.flatten_transform = False
    return converted


def blocking_step(pipeline: Any, exc: BaseException) -> str:
    """Which step of the pipeline a conversion error points at, in words."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    for name, step in _steps(pipeline):
        if type(step).__name__ in text:
            return f"step '{name}' ({type(step).__name__}) - {text}"
    return text


def _steps(estimator: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every step of a (fitted) pipeline, ensemble or column transformer, depth first, with its path."""
    found = [(prefix or type(estimator).__name__, estimator)]
    if hasattr(estimator, "transformers_"):
        children = [(name, step) for name, step, _ in estimator.transformers_]
    elif hasattr(estimator, "estimators_") and hasattr(estimator, "estimators"):  # a fitted voting ensemble
        children = [(name, fitted) for (name, _), fitted in zip(estimator.estimators, estimator.estimators_,
                                                                strict=False)]
    else:
        children = [(child[0], child[1]) for child in getattr(estimator, "steps", None) or
                    getattr(estimator, "estimators", None) or getattr(estimator, "transformers", None) or []]
    for name, step in children:
        found += _steps(step, f"{prefix}/{name}" if prefix else name)
    return found


def onnx_feed(X: pd.DataFrame, info: ModelInfo, input_names: list[str]) -> dict[str, np.ndarray]:
    """The model frame as the graph's inputs: `studio.prepare.onnx_feed`, the same code the ONNX service runs."""
    return prepare.onnx_feed(X, columns_of(info.features), input_names)


def session(model: Any) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def predict_onnx(sess: Any, X: pd.DataFrame, info: ModelInfo) -> np.ndarray:
    """Probabilities (classification) or predictions (regression) of the ONNX model."""
    outputs = sess.run(None, onnx_feed(X, info, [i.name for i in sess.get_inputs()]))
    if info.classes is None:
        return np.asarray(outputs[0], dtype=np.float64).ravel()
    return np.asarray(outputs[1], dtype=np.float64)


def parity(model: Any, pipeline: Any, X: pd.DataFrame, info: ModelInfo, *, model_uri: str) -> ParityReport:
    """Compare the ONNX model with the native pipeline on rows X (model frame)."""
    got = predict_onnx(session(model), X, info)
    if info.classes is None:
        want = np.asarray(pipeline.predict(X), dtype=np.float64)
        agree = None
    else:
        want = np.asarray(pipeline.predict_proba(X), dtype=np.float64)
        agree = float((got.argmax(axis=1) == want.argmax(axis=1)).mean())
    diff = np.abs(got - want)
    return ParityReport(model_uri=model_uri, rows=len(X), max_abs_diff=float(diff.max()),
                        max_rel_diff=float((diff / np.maximum(1.0, np.abs(want))).max()),
                        compared="predictions" if info.classes is None else "probabilities", labels_agree=agree,
                        inputs={name: "string" if "String" in type(t).__name__ else "float32"
                                for name, t in input_types(info)})


class OnnxExport(BaseModel):
    model_uri: str
    path: str
    report: ParityReport


def export_onnx(tracker: Tracker, exports_path: Path, model_ref: str) -> OnnxExport:
    """Convert a registered model to ONNX, check it, measure parity on the held-out rows recorded with its run,
    and save the model and the report under `exports_path` and with the run in MLflow (artifacts under `onnx/`)."""
    from studio.export.bento import bento_name

    model_uri = tracker.resolve_model_uri(model_ref)
    trained = tracker.load_model(model_uri)
    run_id = tracker.run_id_of(model_uri)
    model = convert(trained.pipeline, trained.info)
    held_out = model_frame(tracker.held_out_features(run_id), trained.info.features)
    try:
        report = parity(model, trained.pipeline, held_out, trained.info, model_uri=model_uri)
    except Exception as exc:  # onnxruntime raises its own errors for a graph it cannot run
        raise ExportError(f"The ONNX conversion of {model_uri} does not run: {str(exc).splitlines()[0][:300]}") \
            from None
    folder = confined(exports_path, bento_name(model_uri), "onnx")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    (folder / "parity.json").write_text(report.model_dump_json(indent=2))
    for name in ("model.onnx", "parity.json"):
        tracker.client.log_artifact(run_id, str(folder / name), "onnx")
    tracker.client.set_tag(run_id, Tag.ONNX_MAX_ABS_DIFF, f"{report.max_abs_diff:.3g}")
    return OnnxExport(model_uri=model_uri, path=str(folder / "model.onnx"), report=report)
