"""The look every studio chart shares."""

from __future__ import annotations

LAYOUT = {"template": "plotly_white", "margin": {"l": 40, "r": 20, "t": 40, "b": 40}}
BLUE, ORANGE, RED, GREEN, GREY = "#4C78A8", "#F58518", "#E45756", "#54A24B", "#9D9D9D"
#: Legends under the plot, so two charts side by side keep their full width.
LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.22, "x": 0}
