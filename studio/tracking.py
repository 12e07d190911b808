"""MLflow, wrapped: explicit run ids (never the fluent global run in workers), one parent run per job,
a child run per trial, the fitted pipeline logged with skops and registered."""

from __future__ import annotations

import fcntl
import logging
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from studio import mlflow_store, skops_files
from studio.errors import ModelNotFound, TrackingError
from studio.model_refs import RUN_ID, check_mlmodel, check_source, check_uri
from studio.names import RunKind, Tag
from studio.packages import MODEL_PACKAGES, pinned
from studio.runs import RunIndex, RunSummary
from studio.settings import Settings
from studio.training.evaluation.record import Evaluation
from studio.training.features import model_frame
from studio.training.model import ModelInfo, TrainedModel
from studio.training.search import TrialOutcome
from studio.training.spec import TrainSpec


class Tracker:
    """All MLflow access of the studio goes through here."""

    def __init__(self, settings: Settings, *, index: RunIndex | None = None) -> None:
        import mlflow
        from mlflow import MlflowClient

        self.settings = settings
        self.index = index  # the leaderboard's copy of each run's summary (kept current here)
        self._specs: dict[str, TrainSpec] = {}  # spec_of's reads: a run's spec never changes
        self._mlflow = mlflow
        for noisy in ("mlflow", "alembic"):  # migrations and registrations would drown the CLI's one-line output
            logging.getLogger(noisy).setLevel(logging.WARNING)
        mlflow.set_tracking_uri(settings.tracking_uri)
        mlflow.set_registry_uri(settings.tracking_uri)
        # The app and several workers may open a fresh studio at once; only one may create MLflow's tables,
        # and MlflowClient() already opens (and may migrate) the store, so it is created under the lock too.
        with open(settings.root / ".mlflow-init.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            copied = mlflow_store.from_template(settings, mlflow.__version__)
            self.client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
            self.client.search_experiments(max_results=1)
            self.client.search_registered_models(max_results=1)
            if copied is False:  # made and migrated here: the next fresh studio copies it
                mlflow_store.save_template(settings, mlflow.__version__)
            mlflow_store.write_ahead_log(settings.tracking_uri)

    def experiment_id(self, name: str) -> str:
        existing = self.client.get_experiment_by_name(name)
        if existing is not None:
            return str(existing.experiment_id)
        return str(self.client.create_experiment(name, artifact_location=f"{self.settings.artifact_location}/{name}"))

    def start_training(self, spec: TrainSpec, *, job_id: str, study_name: str) -> str:
        """The job's parent run: flattened spec params, tags, and the full spec.json artifact.

        A resumed job (another attempt of the same job id) gets its existing run back, never a second one."""
        experiment_id = self.experiment_id(spec.run_name)
        existing = self.client.search_runs(
            [experiment_id], max_results=1,
            filter_string=f"tags.`{Tag.KIND}` = '{RunKind.TRAINING}' and tags.`{Tag.JOB_ID}` = '{job_id}'")
        if existing:
            run_id = existing[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            self.reindex(run_id)
            return run_id
        run = self.client.create_run(
            experiment_id, run_name=f"{spec.run_name} · {job_id[:8]}",
            tags={Tag.KIND: RunKind.TRAINING, Tag.JOB_ID: job_id, Tag.DATASET_ID: spec.dataset_id,
                  Tag.DATASET_HASH: spec.dataset_hash, Tag.TASK: spec.task.value,
                  Tag.METRIC: spec.metric, Tag.STUDY_NAME: study_name, Tag.COMPUTE: spec.compute},
        )
        run_id = run.info.run_id
        params = {"target": spec.target, "task": spec.task.value, "metric": spec.metric,
                  "algorithms": ",".join(spec.algorithms), "n_features": len(spec.features),
                  "validation": spec.validation.kind, "folds": spec.validation.folds,
                  "repeats": spec.validation.repeats,
                  "budget_seconds": spec.budget.seconds, "max_trials": spec.budget.max_trials,
                  "compute": spec.compute, "seed": spec.seed, "dataset_id": spec.dataset_id,
                  "dataset_hash": spec.dataset_hash, "test_fraction": spec.test_fraction}
        self._log_batch(run_id, params=params)
        self.client.log_text(run_id, spec.model_dump_json(indent=2), "spec.json")
        self.reindex(run_id)
        return run_id

    def log_trial(self, parent_run_id: str, outcome: TrialOutcome, *, metric: str) -> None:
        run = self.client.create_run(
            self.client.get_run(parent_run_id).info.experiment_id, run_name=f"trial {outcome.number}",
            tags={"mlflow.parentRunId": parent_run_id, Tag.KIND: RunKind.TRIAL, Tag.ALGORITHM: outcome.algorithm,
                  Tag.TRIAL_STATE: outcome.state, Tag.TRIAL_NUMBER: str(outcome.number),
                  **({Tag.TRIAL_ERROR: outcome.error[:5000]} if outcome.error else {})},
        )
        metrics = {metric: outcome.score, "duration_s": outcome.duration_s} if outcome.score is not None else {}
        self._log_batch(run.info.run_id, params={"algorithm": outcome.algorithm, **outcome.params}, metrics=metrics,
                        steps={f"{metric}_by_rounds": outcome.intermediate})
        status = {"complete": "FINISHED", "pruned": "KILLED"}.get(outcome.state, "FAILED")
        self.client.set_terminated(run.info.run_id, status)

    def logged_trials(self, parent_run_id: str) -> set[int]:
        """Numbers of the trials already logged under a parent run (a resumed job logs only the rest)."""
        experiment_id = self.client.get_run(parent_run_id).info.experiment_id
        runs = self.client.search_runs([experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'",
                                       max_results=50_000)
        return {int(r.data.tags[Tag.TRIAL_NUMBER]) for r in runs if Tag.TRIAL_NUMBER in r.data.tags}

    def registered_version(self, run_id: str) -> str | None:
        """The model version a run already registered, if any."""
        versions = self.client.search_model_versions(f"run_id = '{run_id}'")
        return f"models:/{versions[0].name}/{versions[0].version}" if versions else None

    def log_model(self, run_id: str, model: TrainedModel, *, example: pd.DataFrame, registered_name: str) -> str:
        """Log the pipeline (skops, trusted types computed from our own pipeline) and register a version.

        Idempotent per run: if an earlier attempt of the job registered its model before dying, that version
        is returned instead of registering a second one."""
        already = self.registered_version(run_id)
        if already:
            self.client.set_tag(run_id, Tag.MODEL_URI, already)
            return already
        import skops.io as sio
        from mlflow.models import infer_signature

        trusted = sio.get_untrusted_types(data=skops_files.dumps(model.pipeline))
        # The logged pipeline takes the model frame (dates already expanded into parts), so that is what the
        # signature and the input example describe; the studio's own callers go through ModelInfo.features.
        example = model_frame(example, model.info.features)
        pipeline = model.pipeline
        signature = infer_signature(example, pipeline.predict(example) if model.info.classes is None
                                    else pipeline.predict_proba(example))
        # log_model exists only in the fluent API; a worker runs one job at a time in its main thread,
        # so resuming the job's own run here cannot collide with another run.
        with self._mlflow.start_run(run_id=run_id), skops_files.faster_skops():
            info = self._mlflow.sklearn.log_model(
                model.pipeline, name="model", signature=signature, input_example=example,
                skops_trusted_types=trusted, registered_model_name=registered_name,
                pip_requirements=pinned(MODEL_PACKAGES),
                metadata={"studio": model.info.model_dump(mode="json")},
            )
        uri = f"models:/{registered_name}/{info.registered_model_version}"
        self.client.set_tag(run_id, Tag.MODEL_URI, uri)
        self.reindex(run_id)
        return uri

    def finish(self, run_id: str, *, metrics: dict[str, float], tags: dict[str, str], status: str = "FINISHED") -> None:
        self._log_batch(run_id, metrics=metrics)
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)
        self.client.set_terminated(run_id, status)
        self.reindex(run_id)

    def reindex(self, run_id: str) -> None:
        """Refresh a run's row in the run index from MLflow."""
        if self.index is not None:
            self.index.upsert(RunSummary.from_mlflow(self.client.get_run(run_id)))

    def log_evaluation(self, run_id: str, evaluation: Evaluation) -> None:
        """The run's held-out evaluation as artifacts under `evaluation/` (summary.json, holdout.parquet and,
        for tree models, shap.parquet)."""
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "evaluation"
            folder.mkdir()
            (folder / "summary.json").write_text(evaluation.summary.model_dump_json())
            evaluation.holdout.to_parquet(folder / "holdout.parquet")
            if evaluation.shap is not None:
                evaluation.shap.to_parquet(folder / "shap.parquet", index=False)
            self.client.log_artifacts(run_id, str(folder), "evaluation")

    def log_table(self, run_id: str, table: pd.DataFrame, name: str) -> None:
        """A table as a Parquet artifact of the run (e.g. a model family's per-partition metrics)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            table.to_parquet(path, index=False)
            self.client.log_artifact(run_id, str(path))

    def load_table(self, run_id: str, name: str) -> pd.DataFrame:
        """A Parquet artifact logged by `log_table`; TrackingError if the run has none."""
        try:
            with tempfile.TemporaryDirectory() as tmp:
                return pd.read_parquet(self.client.download_artifacts(run_id, name, tmp))
        except Exception as exc:  # MLflow raises its own and OS errors for a missing artifact
            raise TrackingError(f"Run '{run_id}' has no {name} ({str(exc).splitlines()[0]}).") from None

    def load_evaluation(self, run_id: str) -> Evaluation:
        """The evaluation a run recorded; TrackingError if it has none (an older or unfinished run)."""
        from mlflow.exceptions import MlflowException

        from studio.training.evaluation.record import EvaluationSummary, loaded

        try:
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(self.client.download_artifacts(run_id, "evaluation", tmp))
                summary = EvaluationSummary.model_validate_json((local / "summary.json").read_text())
                frame = pd.read_parquet(local / "holdout.parquet")
                shap = pd.read_parquet(local / "shap.parquet") if (local / "shap.parquet").exists() else None
        except (OSError, ValueError, MlflowException) as exc:
            raise TrackingError(f"Run '{run_id}' has no held-out evaluation ({str(exc).splitlines()[0]}); runs "
                                "record one once their model is registered.") from None
        return loaded(summary, frame, shap)

    def held_out_features(self, run_id: str) -> pd.DataFrame:
        """The run's held-out rows in their original feature columns, as recorded with its evaluation (up to
        50,000, in their original order): what ONNX parity, the bundle's examples and "try it" use, so a model
        keeps working when the dataset it was trained on is deleted."""
        from studio.training.evaluation.holdout import feature_columns

        try:
            with tempfile.TemporaryDirectory() as tmp:
                frame = pd.read_parquet(self.client.download_artifacts(run_id, "evaluation/holdout.parquet", tmp))
        except Exception as exc:  # MlflowException or OSError for a run without one
            raise TrackingError(f"Run '{run_id}' has no recorded held-out rows ({str(exc).splitlines()[0]}); runs "
                                "record them once their model is registered.") from None
        return feature_columns(frame)

    def spec_of(self, run_id: str) -> TrainSpec:
        """The spec a run was trained with (a run's spec.json is written once and never changes, so it is read
        from MLflow once per run and process)."""
        spec = self._specs.get(run_id)
        if spec is None:
            spec = self._specs[run_id] = self._read_spec(run_id)
        return spec

    def _read_spec(self, run_id: str) -> TrainSpec:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                text = Path(self.client.download_artifacts(run_id, "spec.json", tmp)).read_text()
        except Exception as exc:  # MLflow raises its own and OS errors for a missing artifact
            raise TrackingError(f"Run '{run_id}' has no spec.json ({exc}).") from None
        return TrainSpec.parse(text)

    def training_runs(self) -> list[RunSummary]:
        """Every training run, newest first, from the run index (filled from MLflow the first time, for a
        studio whose runs predate the index)."""
        if self.index is None:
            return self._search_training_runs()
        if self.index.stamp()[0] == 0:
            self.sync_index()
        return self.index.all()

    def sync_index(self) -> int:
        """Copy every training run's summary from MLflow into the index; returns how many."""
        runs = self._search_training_runs()
        if self.index is not None:
            for run in runs:
                self.index.upsert(run)
        return len(runs)

    def _search_training_runs(self) -> list[RunSummary]:
        experiments = [e.experiment_id for e in self.client.search_experiments()]
        if not experiments:
            return []
        runs = self.client.search_runs(experiments, filter_string=f"tags.`{Tag.KIND}` = '{RunKind.TRAINING}'",
                                       max_results=50_000, order_by=["attributes.start_time DESC"])
        return [RunSummary.from_mlflow(run) for run in runs]

    def resolve_model_uri(self, ref: str) -> str:
        """A model_uri, a run id, `runs:/...`, or `name@alias` / `name/version` -> a loadable URI."""
        ref = ref.strip()
        if ref.startswith(("models:/", "runs:/")):
            return check_uri(ref)
        if RUN_ID.match(ref):
            try:
                uri = self.client.get_run(ref).data.tags.get(Tag.MODEL_URI)
            except Exception:  # MLflow raises MlflowException for an unknown id
                uri = None
            if not uri:
                raise ModelNotFound(f"Run '{ref}' has no model (its job may have failed or still be running).")
            return check_uri(uri, ref=ref)
        if "@" in ref or "/" in ref:
            return check_uri(f"models:/{ref}", ref=ref)
        raise ModelNotFound(f"'{ref}' is not a model reference. Use a model_uri (models:/name/1), a run id, "
                            "or name@alias.")

    def model_refs(self) -> list[str]:
        """Every registered model's aliases (`name@alias`) and versions (`models:/name/N`), newest first."""
        refs: list[str] = []
        for registered in self.client.search_registered_models():
            refs += [f"{registered.name}@{alias}" for alias in sorted(registered.aliases)]
            versions = self.client.search_model_versions(f"name = '{registered.name}'")
            refs += [f"models:/{registered.name}/{v.version}" for v in sorted(versions, key=lambda v: -int(v.version))]
        return refs

    def run_id_of(self, model_uri: str) -> str:
        """The training run behind a registered model version (models:/name/version or name@alias)."""
        body = model_uri.removeprefix("models:/")
        try:
            if "@" in body:
                name, alias = body.split("@", 1)
                return str(self.client.get_model_version_by_alias(name, alias).run_id)
            name, version = body.rsplit("/", 1)
            return str(self.client.get_model_version(name, version).run_id)
        except Exception as exc:  # MlflowException for unknown names, ValueError for malformed URIs
            raise ModelNotFound(f"No registered model '{model_uri}' ({str(exc).splitlines()[0]}).") from None

    def version_uri(self, ref: str) -> str:
        """`models:/name/version` for any model reference (an alias resolved to the version it points at now)."""
        uri = self.resolve_model_uri(ref)
        if re.fullmatch(r"models:/[^/@]+/\d+", uri):
            return uri
        resolved = self.registered_version(self.run_id_of(uri)) if uri.startswith("models:/") else None
        if resolved is None:
            raise ModelNotFound(f"'{ref}' is not a registered model version.")
        return resolved

    def load_model(self, ref: str) -> TrainedModel:
        from mlflow.models import Model

        uri = self.resolve_model_uri(ref)
        self.check_own_model(uri, ref=ref)
        try:
            with tempfile.TemporaryDirectory() as tmp:  # loaded fully into memory; the copy is not kept
                local = self._mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
                mlmodel = Model.load(local)  # YAML: read before anything that could run code
                meta = check_mlmodel(mlmodel.flavors, mlmodel.metadata, ref=ref)
                pipeline = self._mlflow.sklearn.load_model(local)
        except ModelNotFound:
            raise
        except Exception as exc:  # MLflow raises MlflowException/OSError subclasses for unknown URIs
            raise ModelNotFound(f"Cannot load model '{ref}': {str(exc).splitlines()[0]}") from None
        return TrainedModel(pipeline, ModelInfo.model_validate(meta), uri=uri)

    def check_own_model(self, uri: str, *, ref: str | None = None) -> None:
        """Refuse a model whose files are not in the studio's own artifact store (before anything reads them)."""
        check_source(self._download_uri(uri, ref or uri), self.settings.artifact_location)

    def _download_uri(self, uri: str, ref: str) -> str:
        """Where MLflow would fetch a model's files from (checked against the studio's artifact store)."""
        try:
            if uri.startswith("runs:/"):
                return str(self.client.get_run(uri.split("/")[1]).info.artifact_uri) + "/model"
            body = uri.removeprefix("models:/")
            if "@" in body:
                name, alias = body.split("@", 1)
                version = self.client.get_model_version_by_alias(name, alias).version
            else:
                name, version = body.rsplit("/", 1)
            return str(self.client.get_model_version_download_uri(name, version))
        except Exception as exc:  # MlflowException for unknown names, runs and aliases
            raise ModelNotFound(f"Cannot load model '{ref}': {str(exc).splitlines()[0]}") from None

    def _log_batch(self, run_id: str, *, params: dict[str, Any] | None = None,
                   metrics: dict[str, float] | None = None, steps: dict[str, dict[int, float]] | None = None) -> None:
        """Params, metrics, and metric histories by step (e.g. the score at each boosting checkpoint)."""
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        history = [Metric(k, float(v), now, step) for k, curve in (steps or {}).items() for step, v in curve.items()]
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()] + history,
            params=[Param(k, str(v)) for k, v in (params or {}).items() if v is not None],
        )
