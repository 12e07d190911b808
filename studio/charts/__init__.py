"""Plotly figure builders: data in, go.Figure out. Pure functions, unit-tested, used by the pages."""

from studio.charts.data import distribution_chart
from studio.charts.runs import algorithm_bars, metric_bars, optimization_history, trial_durations

__all__ = ["algorithm_bars", "distribution_chart", "metric_bars", "optimization_history", "trial_durations"]
