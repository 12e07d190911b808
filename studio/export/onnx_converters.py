"""Converters skl2onnx lacks for the studio's pipelines, registered once per process.

- XGBoost and LightGBM models: onnxmltools' converters, registered with skl2onnx so they convert inside a
  scikit-learn pipeline.
- TargetEncoder for every target type: skl2onnx (1.20) converts it only for binary and continuous targets;
  a multiclass target encoder (one encoded column per class for each feature) gets the converter below. It is
  the transform scikit-learn applies at predict time: a lookup from category to the learned encoding, the
  target mean for a category not seen in training.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np


@cache
def register() -> None:
    """Teach skl2onnx the XGBoost and LightGBM models and the multiclass target encoder (once per process)."""
    from lightgbm import LGBMClassifier, LGBMRegressor
    from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
    from onnxmltools.convert.xgboost.operator_converters.XGBoost import convert_xgboost
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )
    from sklearn.preprocessing import TargetEncoder
    from xgboost import XGBClassifier, XGBRegressor

    classifier_options = {"nocl": [True, False], "zipmap": [True, False, "columns"]}
    update_registered_converter(XGBClassifier, "XGBoostXGBClassifier", calculate_linear_classifier_output_shapes,
                                convert_xgboost, options=classifier_options)
    update_registered_converter(XGBRegressor, "XGBoostXGBRegressor", calculate_linear_regressor_output_shapes,
                                convert_xgboost)
    update_registered_converter(LGBMClassifier, "LightGbmLGBMClassifier", calculate_linear_classifier_output_shapes,
                                convert_lightgbm, options=classifier_options)
    update_registered_converter(LGBMRegressor, "LightGbmLGBMRegressor", calculate_linear_regressor_output_shapes,
                                convert_lightgbm)
    update_registered_converter(TargetEncoder, "SklearnTargetEncoder", _target_encoder_shape,
                                _convert_target_encoder)


def _columns_per_feature(encoder: Any) -> int:
    return len(encoder.classes_) if encoder.target_type_ == "multiclass" else 1


def _target_encoder_shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    encoder = operator.raw_operator
    width = len(encoder.categories_) * _columns_per_feature(encoder)
    operator.outputs[0].type = FloatTensorType([operator.inputs[0].get_first_dimension(), width])


def _convert_target_encoder(scope: Any, operator: Any, container: Any) -> None:
    """Per feature (and per class, for a multiclass target): a string LabelEncoder from category to encoding."""
    from skl2onnx.common._apply_operation import apply_cast, apply_concat, apply_reshape
    from skl2onnx.proto import onnx_proto

    encoder = operator.raw_operator
    per_feature = _columns_per_feature(encoder)
    means = np.atleast_1d(np.asarray(encoder.target_mean_, dtype=np.float64))
    columns = _feature_columns(scope, operator, container, len(encoder.categories_))
    outputs = []
    for i, (column, categories) in enumerate(zip(columns, encoder.categories_, strict=True)):
        keys = np.array([str(c).encode("utf-8") for c in categories])
        for j in range(per_feature):
            encoded = scope.get_unique_variable_name("target_encoded")
            container.add_node("LabelEncoder", column, encoded, op_domain="ai.onnx.ml", op_version=2,
                               name=scope.get_unique_operator_name("LabelEncoder"), keys_strings=keys,
                               values_floats=np.asarray(encoder.encodings_[i * per_feature + j], dtype=np.float32),
                               default_float=float(means[j if per_feature > 1 else 0]))
            outputs.append(scope.get_unique_variable_name("target_column"))
            apply_reshape(scope, encoded, outputs[-1], container, desired_shape=(-1, 1))
    joined = scope.get_unique_variable_name("target_encoded_all")
    apply_concat(scope, outputs, joined, container, axis=1)
    apply_cast(scope, joined, operator.output_full_names, container, to=onnx_proto.TensorProto.FLOAT)


def _feature_columns(scope: Any, operator: Any, container: Any, n_features: int) -> list[str]:
    """One n x 1 tensor name per feature, whether the inputs come as one n x k tensor or as k n x 1 tensors."""
    from skl2onnx.proto import onnx_proto

    names = []
    for variable in operator.inputs:
        width = variable.get_second_dimension() or 1
        if width == 1:
            names.append(variable.onnx_name)
            continue
        for k in range(width):
            index = scope.get_unique_variable_name("index")
            container.add_initializer(index, onnx_proto.TensorProto.INT64, [1], [k])
            names.append(scope.get_unique_variable_name("feature_column"))
            container.add_node("ArrayFeatureExtractor", [variable.onnx_name, index], names[-1], op_domain="ai.onnx.ml",
                               name=scope.get_unique_operator_name("ArrayFeatureExtractor"))
    if len(names) != n_features:
        raise RuntimeError(f"TargetEncoder expects {n_features} input columns, the graph gives {len(names)}")
    return names
