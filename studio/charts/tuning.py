"""Tuning analytics of one search, for one algorithm's trials at a time: parallel coordinates, hyperparameter
importance (fANOVA), slice and contour plots.

Optuna's own plotting functions draw importance, slice and contour (the same figures as Optuna Dashboard); they
take a study, so the finished trials are copied into an in-memory one, filtered to one algorithm: parameters of
different algorithms never share a trial, and mixing them would leave every axis mostly empty.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import optuna
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from studio.charts._style import LAYOUT as _LAYOUT

MIN_TRIALS = 2


def algorithms_of(trials: Sequence[FrozenTrial]) -> list[str]:
    """Algorithms with completed trials, most trials first."""
    counts: dict[str, int] = {}
    for t in trials:
        if t.state == TrialState.COMPLETE and "algorithm" in t.params:
            counts[str(t.params["algorithm"])] = counts.get(str(t.params["algorithm"]), 0) + 1
    return sorted(counts, key=lambda a: -counts[a])


def params_of(trials: Sequence[FrozenTrial], algorithm: str) -> list[str]:
    """The searched hyperparameters of one algorithm (names without the algorithm prefix are not searched)."""
    prefix = f"{algorithm}__"
    return sorted({p for t in trials for p in t.params if p.startswith(prefix)})


def _study(trials: Sequence[FrozenTrial], algorithm: str, *, maximize: bool) -> optuna.Study:
    mine = [t for t in trials if t.state == TrialState.COMPLETE and t.params.get("algorithm") == algorithm]
    if len(mine) < MIN_TRIALS:
        raise ValueError(f"{algorithm} has {len(mine)} completed trial(s); tuning charts need at least {MIN_TRIALS}.")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if maximize else "minimize")
    study.add_trials(mine)
    return study


def _finish(fig: go.Figure, title: str, algorithm: str, metric: str, height: int = 420) -> go.Figure:
    fig.update_layout(title=f"{title} · {algorithm}", height=height, **_LAYOUT)
    fig.update_layout(coloraxis_colorbar_title=metric)
    return fig


def parallel_coordinates(trials: Sequence[FrozenTrial], algorithm: str, *, maximize: bool,
                         metric: str) -> go.Figure:
    """One line per trial across its hyperparameters and score, coloured by the score.

    Drawn with plotly's Parcoords (one trace for every trial) rather than Optuna's version, which draws one
    trace per trial and takes seconds to build and to send for a 2,000-trial study."""
    study = _study(trials, algorithm, maximize=maximize)
    done = study.trials
    dimensions = []
    for name in params_of(trials, algorithm):
        values = [t.params.get(name) for t in done]
        distribution = next(t.distributions[name] for t in done if name in t.distributions)
        log = bool(getattr(distribution, "log", False))
        shown = [math.log10(v) if log and v is not None and v > 0 else v for v in values]
        dimensions.append({"label": f"{name.removeprefix(algorithm + '__')}{' (log10)' if log else ''}",
                           "values": shown})
    scores = [t.value for t in done]
    dimensions.append({"label": metric, "values": scores})
    fig = go.Figure(go.Parcoords(dimensions=dimensions, line={
        "color": scores, "colorscale": "Blues", "reversescale": not maximize, "showscale": True,
        "colorbar": {"title": {"text": metric}}}))
    fig.update_layout(title=f"Parallel coordinates · {algorithm} ({len(done)} trials)", height=420, **_LAYOUT)
    return fig


def param_importances(trials: Sequence[FrozenTrial], algorithm: str, *, maximize: bool, metric: str) -> go.Figure:
    """fANOVA importance of each hyperparameter for the score (seeded, so the same trials give the same bars)."""
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.visualization import plot_param_importances

    study = _study(trials, algorithm, maximize=maximize)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # 32 trees (Optuna's default is 64): half the time on a 2,000-trial study, the same ranking in practice
        fig = plot_param_importances(study, evaluator=FanovaImportanceEvaluator(n_trees=32, seed=0),
                                     params=params_of(trials, algorithm), target_name=metric)
    return _finish(fig, "Hyperparameter importance", algorithm, metric, height=120 + 40 * len(
        params_of(trials, algorithm)))


def slice_plot(trials: Sequence[FrozenTrial], algorithm: str, *, maximize: bool, metric: str) -> go.Figure:
    from optuna.visualization import plot_slice

    study = _study(trials, algorithm, maximize=maximize)
    return _finish(plot_slice(study, params=params_of(trials, algorithm), target_name=metric), "Slice", algorithm,
                   metric)


def contour_plot(trials: Sequence[FrozenTrial], algorithm: str, x: str, y: str, *, maximize: bool,
                 metric: str) -> go.Figure:
    from optuna.visualization import plot_contour

    if x == y:
        raise ValueError("Choose two different hyperparameters for the contour plot.")
    study = _study(trials, algorithm, maximize=maximize)
    return _finish(plot_contour(study, params=[x, y], target_name=metric), "Contour", algorithm, metric, height=480)
