"""A self-hosted low-code ML studio: data in, Optuna-tuned models, MLflow tracking, BentoML export."""

__version__ = "0.1.0"

__all__ = ["__version__"]
