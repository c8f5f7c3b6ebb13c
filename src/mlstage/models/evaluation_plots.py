"""Plotly figures of an evaluation, built from its data alone.

Saved as Plotly JSON (a few kB), never as HTML: a self-contained HTML
figure embeds plotly.js, 4.8 MB a file. The platform UI draws the JSON.
"""

from __future__ import annotations

from typing import Any

from mlstage.models.evaluation_metrics import Curves


def build_figures(
    confusion: dict[str, Any] | None, curves: Curves, metrics: dict[str, float]
) -> dict[str, Any]:
    """Figures by artifact path; empty when Plotly is not installed (the data is kept anyway)."""
    try:
        import plotly.graph_objects as go
    except ImportError:
        return {}
    figures: dict[str, Any] = {}
    if confusion is not None:
        figures["evaluation/confusion_matrix_plot.json"] = _confusion(go, confusion)
    if "roc" in curves:
        figures["evaluation/roc.json"] = _roc(go, curves["roc"], metrics.get("roc_auc"))
    if "precision_recall" in curves:
        figures["evaluation/precision_recall.json"] = _precision_recall(
            go, curves["precision_recall"]
        )
    if "predicted_vs_actual" in curves:
        figures["evaluation/predicted_vs_actual.json"] = _predicted_vs_actual(
            go, curves["predicted_vs_actual"]
        )
    if "residuals" in curves:
        figures["evaluation/residuals.json"] = _residuals(go, curves["residuals"])
    return figures


def _layout(go: Any, title: str, x: str, y: str) -> Any:
    return go.Layout(
        title=title, xaxis={"title": x}, yaxis={"title": y}, template="plotly_white", width=560
    )


def _confusion(go: Any, confusion: dict[str, Any]) -> Any:
    names = [str(label) for label in confusion["labels"]]
    heatmap = go.Heatmap(
        z=confusion["matrix"],
        x=names,
        y=names,
        colorscale="Blues",
        texttemplate="%{z}",
        hovertemplate="actual %{y}, predicted %{x}: %{z}<extra></extra>",
    )
    figure = go.Figure(heatmap, _layout(go, "Confusion matrix", "predicted", "actual"))
    figure.update_yaxes(autorange="reversed", type="category")
    figure.update_xaxes(type="category")
    return figure


def _roc(go: Any, roc: dict[str, list[Any]], auc: float | None) -> Any:
    name = "ROC" if auc is None else f"ROC (AUC {auc:.3f})"
    return go.Figure(
        [
            go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines", name=name),
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot"}),
        ],
        _layout(go, "ROC curve", "false positive rate", "true positive rate"),
    )


def _precision_recall(go: Any, pr: dict[str, list[Any]]) -> Any:
    return go.Figure(
        go.Scatter(x=pr["recall"], y=pr["precision"], mode="lines", name="precision-recall"),
        _layout(go, "Precision-recall curve", "recall", "precision"),
    )


def _predicted_vs_actual(go: Any, points: dict[str, list[Any]]) -> Any:
    actual = points["actual"]
    low, high = (min(actual), max(actual)) if actual else (0.0, 1.0)
    return go.Figure(
        [
            go.Scatter(x=actual, y=points["predicted"], mode="markers", name="rows"),
            go.Scatter(x=[low, high], y=[low, high], mode="lines", name="ideal"),
        ],
        _layout(go, "Predicted vs actual", "actual", "predicted"),
    )


def _residuals(go: Any, points: dict[str, list[Any]]) -> Any:
    figure = go.Figure(
        go.Scatter(x=points["predicted"], y=points["residual"], mode="markers", name="rows"),
        _layout(go, "Residuals", "predicted", "actual - predicted"),
    )
    figure.add_hline(y=0, line_dash="dot")
    return figure
