"""Charts of a dataset's profile."""

from __future__ import annotations

import plotly.graph_objects as go

from studio.charts._style import BLUE
from studio.charts._style import LAYOUT as _LAYOUT
from studio.data.profile import Distribution


def distribution_chart(dist: Distribution, *, height: int = 220) -> go.Figure:
    """A histogram (numeric columns) or a bar chart of the most frequent values (others)."""
    labels, counts = list(dist.labels), list(dist.counts)
    if dist.other_count:
        labels.append("(other)")
        counts.append(dist.other_count)
    fig = go.Figure(go.Bar(x=labels, y=counts, marker_color=BLUE))
    fig.update_layout(title=dist.column, height=height, bargap=0.05 if dist.edges else 0.2, **_LAYOUT)
    fig.update_yaxes(title="rows")
    return fig
