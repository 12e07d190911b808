"""The profile charts: data in, figure out."""

from __future__ import annotations

import numpy as np

from studio.charts.data import association_heatmap, missing_patterns_chart, outlier_boxes, target_relation_bars
from studio.data.profile import Association, MissingPattern, NumericSummary


def _summary(column: str, outliers: int) -> NumericSummary:
    return NumericSummary(column=column, mean=5, std=2, min=-20, q1=4, median=5, q3=6, max=30, iqr_low=1,
                          iqr_high=9, iqr_outliers=outliers, z_outliers=outliers)


def test_association_heatmap_is_symmetric_with_a_unit_diagonal() -> None:
    fig = association_heatmap([Association(a="x", b="y", method="pearson", value=0.8),
                               Association(a="x", b="g", method="correlation_ratio", value=0.3),
                               Association(a="y", b="g", method="cramers_v", value=0.1)])
    z = np.array(fig.data[0].z)
    assert list(fig.data[0].x) == ["x", "y", "g"] and np.allclose(z, z.T) and np.allclose(np.diag(z), 1)
    assert z[0, 1] == 0.8 and "Cramér's V" in fig.data[0].text[1][2]


def test_missing_patterns_chart_labels_combinations_with_shares() -> None:
    fig = missing_patterns_chart([MissingPattern(columns=["a", "b"], rows=10), MissingPattern(columns=["b"], rows=5)],
                                 100)
    assert list(fig.data[0].y) == ["a + b", "b"] and list(fig.data[0].text) == ["10.0%", "5.0%"]


def test_outlier_boxes_scale_by_iqr_and_flag_columns_with_outliers() -> None:
    fig = outlier_boxes([_summary("clean", 0), _summary("wild", 3)])
    clean, wild = fig.data
    assert clean.median[0] == 0 and clean.q1[0] == -0.5 and clean.q3[0] == 0.5  # (v - median) / IQR, IQR = 2
    assert clean.lowerfence[0] == -2 and clean.upperfence[0] == 2  # the fences, not the far min/max
    assert clean.marker.color != wild.marker.color and "3 outside the IQR fences" in wild.hovertext


def test_target_relation_bars_keep_the_given_order() -> None:
    fig = target_relation_bars([Association(a="tenure", b="y", method="correlation_ratio", value=0.6),
                                Association(a="plan", b="y", method="cramers_v", value=0.3)], "y")
    assert list(fig.data[0].y) == ["tenure", "plan"] and list(fig.data[0].x) == [0.6, 0.3]
    assert fig.layout.xaxis.range == (0, 1)
