"""TrainSpec: the one frozen, validated description of a training run, from the UI to the exported service."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self, TypeVar

import pandas as pd
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from studio.compute.profiles import PROFILE_NAME
from studio.data.schema import ColumnKind
from studio.errors import SpecError
from studio.paths import NAME
from studio.settings import DEFAULT_COMPUTE
from studio.training.estimators import ESTIMATORS
from studio.training.features import Feature
from studio.training.guardrails import Guardrail
from studio.training.metrics import METRICS
from studio.training.task import Task

MAX_TRIALS = 10_000
MAX_SECONDS = 7 * 24 * 3600
#: Metrics that reward getting the rare classes right; class_weight="auto" balances classes for these.
CLASS_BALANCED_METRICS = frozenset({"f1", "f1_macro", "balanced_accuracy"})


def _int_in(lo: int, hi: int) -> AfterValidator:
    def check(value: int) -> int:
        if not lo <= value <= hi:
            raise ValueError(f"must be an int in [{lo}, {hi}]")
        return value

    return AfterValidator(check)


def _float_in(lo: float, hi: float) -> AfterValidator:
    def check(value: float) -> float:
        if not lo <= value <= hi:
            raise ValueError(f"must be a float in [{lo}, {hi}]")
        return value

    return AfterValidator(check)


class Validation(BaseModel):
    """How candidate models are scored during the search: k-fold cross-validation or one holdout split."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["kfold", "holdout"] = "kfold"
    folds: Annotated[int, _int_in(2, 20)] = 5
    repeats: Annotated[int, _int_in(1, 10)] = 1  # k-fold repeated with new shuffles: steadier scores on small data
    holdout_fraction: Annotated[float, _float_in(0.05, 0.5)] = 0.2

    @property
    def splits(self) -> int:
        """How many times a trial fits: once per fold and repeat, or once for a holdout."""
        return self.folds * self.repeats if self.kind == "kfold" else 1


class Cleaning(BaseModel):
    """Data preparation chosen before training, recorded in the spec so it is applied the same way when
    training and when scoring: type overrides and outlier caps live in the features (`Feature.kind`,
    `Feature.clip`), which the pipeline, batch scoring and the exported service all read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    drop_duplicates: bool = Field(default=False, description="Drop rows identical in every column before "
                                  "training (scoring keeps every row, so predictions line up with the input).")
    cap_outliers: Literal["none", "iqr", "zscore"] = Field(
        default="none", description="Clip numeric features to Q1 - 1.5 IQR .. Q3 + 1.5 IQR, or to mean +/- 3 "
                                    "standard deviations, measured on the dataset.")
    type_overrides: dict[str, ColumnKind] = Field(default_factory=dict, description="Column kinds set by hand.")
    dropped_columns: tuple[str, ...] = Field(default=(), description="Columns left out by hand.")


class Partitioning(BaseModel):
    """Many models: one model per value combination of `columns` (e.g. store x item), a fallback for the rest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: tuple[str, ...] = Field(min_length=1, max_length=4)
    min_rows: Annotated[int, _int_in(5, 10_000_000)] = Field(
        default=30, description="Training rows a partition needs for its own model; smaller and unseen "
                                "partitions are served by the fallback model trained on all rows.")


class Forecasting(BaseModel):
    """Forecast the target `horizon` time steps ahead of the data, per partition: the models see the time
    column's calendar parts, the other features as known future covariates (e.g. planned prices and promotions),
    and lags of the target only as far back as the horizon allows (a lag shorter than the horizon would not be
    known yet when forecasting). The test rows are the last `horizon` steps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    time_column: str = Field(min_length=1)
    horizon: Annotated[int, _int_in(1, 10_000)] = Field(default=7, description="Steps ahead to forecast (a step "
                                                                                  "is the data's time step).")
    season_length: Annotated[int, _int_in(2, 1_000)] | None = Field(
        default=None, description="Steps per season for the seasonal-naive baseline and the seasonal lags; by "
                                  "default 7 for days, 24 for hours, 52 for weeks, 12 for months.")


#: No single trial takes more than this share of a time budget unless `trial_seconds` says otherwise.
TRIAL_SHARE = 1 / 6


class Budget(BaseModel):
    """When the search stops: after `seconds`, after `max_trials`, whichever comes first. One trial may run
    at most `trial_seconds` (default: TRIAL_SHARE of `seconds`) so a slow configuration cannot eat the budget;
    boosters and forests stop growing within it and keep what they grew (`studio.training.boosting`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seconds: Annotated[int, _int_in(1, MAX_SECONDS)] | None = 60
    max_trials: Annotated[int, _int_in(1, MAX_TRIALS)] | None = None
    trial_seconds: Annotated[int, _int_in(1, MAX_SECONDS)] | None = None

    @property
    def trial_limit_s(self) -> float | None:
        if self.trial_seconds is not None:
            return float(self.trial_seconds)
        return None if self.seconds is None else self.seconds * TRIAL_SHARE

    @model_validator(mode="after")
    def _one_limit(self) -> Self:
        if self.seconds is None and self.max_trials is None:
            raise ValueError("needs a time limit (seconds) or a trial limit (max_trials), or both")
        return self


class TrainSpec(BaseModel):
    """Everything a training job needs; the worker, MLflow and the export all read this same object."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset_id: str = Field(min_length=1)
    dataset_hash: str = Field(min_length=1)
    target: str = Field(min_length=1)
    task: Task
    features: tuple[Feature, ...] = Field(min_length=1)
    algorithms: tuple[str, ...] = Field(min_length=1)
    metric: str
    validation: Validation = Validation()
    budget: Budget = Budget()
    compute: str = Field(default=DEFAULT_COMPUTE, pattern=PROFILE_NAME)
    seed: Annotated[int, _int_in(0, 2**31 - 1)] = 0
    test_fraction: Annotated[float, _float_in(0.1, 0.5)] = 0.2
    guardrails: tuple[Guardrail, ...] = ()
    cleaning: Cleaning = Cleaning()
    partition: Partitioning | None = None
    forecast: Forecasting | None = None
    refit_all_rows: bool = Field(default=True, description="After the held-out test score is measured, refit the "
                                                           "chosen model on every row for the registered model.")
    ensemble: bool = Field(default=True, description="Try a greedy ensemble of the best trials; kept only if "
                                                     "it beats the best single model on validation.")
    class_weight: Literal["auto", "balanced", "none"] = Field(
        default="auto", description="Weight classes inversely to their frequency: 'auto' does it when the metric "
                                    "rewards the rare classes (F1, macro F1, balanced accuracy).")
    onnx_safe: bool = Field(default=False, description="Keep to algorithms and steps that convert to ONNX; the "
                                                       "registered model is converted and parity-checked when "
                                                       "training ends.")
    name: str | None = Field(default=None, max_length=80, pattern=NAME,
                             description="The run's name: letters, digits, spaces, '_', '-' or '.', as a dataset's.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        unknown = [a for a in self.algorithms if a not in ESTIMATORS]
        if unknown:
            raise ValueError(f"algorithms {unknown} are unknown; choose from {sorted(ESTIMATORS)}")
        if len(set(self.algorithms)) != len(self.algorithms):
            raise ValueError("algorithms must not repeat")
        if self.onnx_safe and (blocked := [a for a in self.algorithms if not ESTIMATORS[a].onnx]):
            raise ValueError(f"algorithms {blocked} do not convert to ONNX; remove them or turn off onnx_safe")
        unfit = [a for a in self.algorithms if self.task not in ESTIMATORS[a].tasks]
        if unfit:
            raise ValueError(f"algorithms {unfit} do not support the {self.task} task")
        metric = METRICS.get(self.metric)
        if metric is None or self.task not in metric.tasks:
            valid = [m.name for m in METRICS.values() if self.task in m.tasks]
            raise ValueError(f"metric '{self.metric}' does not fit the {self.task} task; choose from {valid}")
        names = [f.name for f in self.features]
        if self.target in names:
            raise ValueError(f"the target '{self.target}' cannot also be a feature")
        if len(set(names)) != len(names):
            raise ValueError("features must not repeat")
        bad = [f.name for f in self.features if not f.kind.is_feature]
        if bad:
            raise ValueError(f"features {bad} are free text or identifiers, which models here cannot take; "
                             "exclude them")
        if self.partition is not None:
            if self.target in self.partition.columns:
                raise ValueError(f"the target '{self.target}' cannot also be a partition column")
            missing = [c for c in self.partition.columns if c not in names]
            if missing:
                raise ValueError(f"partition columns {missing} must be features too (the fallback model uses "
                                 "them); do not exclude them")
            if len(self.partition.columns) == len(self.features):
                raise ValueError("besides the partition columns the models need at least one feature")
        if self.forecast is not None:
            self._check_forecast(self.forecast)
        clipped = [f.name for f in self.features if f.clip is not None and f.kind is not ColumnKind.NUMERIC]
        if clipped:
            raise ValueError(f"features {clipped} are not numeric, so they cannot be clipped")
        if any(f.clip is not None and f.clip[0] > f.clip[1] for f in self.features):
            raise ValueError("a feature's clip bounds must be (low, high) with low <= high")
        return self

    def _check_forecast(self, forecast: Forecasting) -> None:
        if self.task is not Task.REGRESSION:
            raise ValueError(f"forecasting predicts a quantity: the task must be regression, not {self.task}")
        if self.partition is None:
            raise ValueError("forecasting is trained per partition (one series each): choose partition columns")
        kinds = {f.name: f.kind for f in self.features}
        if kinds.get(forecast.time_column) is not ColumnKind.DATETIME:
            raise ValueError(f"the time column '{forecast.time_column}' must be a feature of kind datetime")
        if forecast.time_column in self.partition.columns:
            raise ValueError(f"the time column '{forecast.time_column}' cannot also be a partition column")

    @property
    def balanced_classes(self) -> bool:
        if not self.task.is_classification or self.class_weight == "none":
            return False
        return self.class_weight == "balanced" or self.metric in CLASS_BALANCED_METRICS

    @property
    def run_name(self) -> str:
        """The user's name for the run, else the dataset's name without its version suffix."""
        return self.name or re.sub(r"-v\d+$", "", self.dataset_id)

    @classmethod
    def parse(cls, data: dict[str, object] | str) -> TrainSpec:
        """Validate `data` (a dict or JSON), raising SpecError with one sklearn-style line per problem."""
        try:
            if isinstance(data, str):
                return cls.model_validate_json(data)
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = describe_errors(exc, cls.__name__)
            raise SpecError(" ".join(problems), problems=problems) from None


S = TypeVar("S", bound=BaseModel)


def section(model: type[S], **values: object) -> S:
    """One section of a spec (`Budget`, `Cleaning`, `Partitioning`, `Forecasting`) built at an edge from what a
    user typed; SpecError with one sklearn-style line per problem."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = describe_errors(exc, model.__name__)
        raise SpecError(" ".join(problems), problems=problems) from None


def describe_errors(exc: ValidationError, owner: str) -> list[str]:
    """Turn pydantic errors into "The 'x' parameter of TrainSpec must be ... Got y instead." lines."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        subject = f"The '{loc}' parameter of {owner}" if loc else f"{owner}"
        if err["type"] == "missing":
            lines.append(f"{subject} is required.")
        elif err["type"] == "extra_forbidden":
            lines.append(f"{subject} is not a known parameter; remove it.")
        elif err["type"] == "too_short":
            lines.append(f"{subject} must have at least {err['ctx']['min_length']} item(s). Got none instead.")
        elif not loc:
            lines.append(f"{subject}: {message}.")
        else:
            lines.append(f"{subject} {_phrase(message)}. Got {err.get('input')!r} instead.")
    return lines


def _phrase(message: str) -> str:
    if message.startswith(("must", "needs")):
        return message
    return "is invalid: " + message[0].lower() + message[1:]


def check_against_data(spec: TrainSpec, frame: pd.DataFrame) -> list[str]:
    """Problems that only the data reveals: a missing or constant target, classes too small to split."""
    problems: list[str] = []
    if spec.target not in frame.columns:
        return [f"The target '{spec.target}' is not a column of dataset '{spec.dataset_id}'."]
    missing = [f.name for f in spec.features if f.name not in frame.columns]
    if missing:
        problems.append(f"Features {missing} are not columns of dataset '{spec.dataset_id}'.")
    target = frame[spec.target].dropna()
    if len(target) < 10:
        problems.append(f"The target '{spec.target}' has {len(target)} non-missing values; at least 10 are needed.")
        return problems
    if target.nunique() < 2:
        problems.append(f"The target '{spec.target}' is constant ({target.iloc[0]!r}): there is nothing to learn.")
        return problems
    if spec.task is Task.BINARY and target.nunique() != 2:
        problems.append(f"Task 'binary' needs exactly 2 classes, but '{spec.target}' has {target.nunique()}. "
                        "Choose multiclass or regression.")
    if spec.task is Task.REGRESSION and not pd.api.types.is_numeric_dtype(target):
        problems.append(f"Task 'regression' needs a numeric target, but '{spec.target}' holds text. "
                        "Choose a classification task.")
    elif spec.metric == "mape" and (target == 0).any():
        problems.append(f"MAPE divides by the target, and '{spec.target}' is 0 in {int((target == 0).sum()):,} rows, "
                        "so it is undefined there. Choose WAPE (absolute error over total actuals), MAE or RMSE.")
    if spec.task.is_classification:
        need = max(spec.validation.folds if spec.validation.kind == "kfold" else 2, 2) + 1
        counts = target.value_counts()
        small = counts[counts < need]
        if len(small):
            shown = ", ".join(f"{k!r} ({v} rows)" for k, v in small.head(5).items())
            problems.append(f"Classes {shown} have fewer than {need} rows, too few to stratify a test split and "
                            f"{spec.validation.kind} validation. Drop or merge rare classes, or use fewer folds.")
    return problems
