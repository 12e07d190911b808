"""Exact versions of the installed packages a saved model needs, so MLflow and BentoML record them as they are
(MLflow would otherwise infer them by loading the model in a subprocess, several seconds per model)."""

from __future__ import annotations

from importlib import metadata

MODEL_PACKAGES = ("scikit-learn", "pandas", "numpy", "scipy", "skops", "xgboost-cpu", "xgboost", "lightgbm")


def pinned(names: tuple[str, ...]) -> list[str]:
    """`name==version` for each of `names` that is installed (the others are skipped)."""
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pins
