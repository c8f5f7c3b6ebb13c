"""The charts of a monitor page, as compact specs that ``monitoring.js`` hands to Plotly.

A spec is plain JSON in a ``data-chart-spec`` attribute (escaped by the
template): a title, the traces (times in ms, values to six significant
digits, one status letter a point so alerting checks stand out), and an
optional threshold line. Every chart of one monitor comes from the series
its latest check names; nothing here reads the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlstage.server.ui.monitoring_reads import (
    PERFORMANCE_METRICS,
    MonitorState,
    Point,
    Series,
)

TESTS = ("ks", "chi2")
"""Drift methods whose threshold is on the p-value, not on the score drawn."""
LATENCIES = (("latency_p50_ms", "p50"), ("latency_p95_ms", "p95"), ("latency_p99_ms", "p99"))


@dataclass(frozen=True)
class Chart:
    """One chart: its DOM id, what the page says about it, and the spec for the script."""

    key: str
    title: str
    spec: dict[str, Any]
    drifted: bool = False
    note: str = ""


@dataclass
class Section:
    """The charts of one monitor, under its heading."""

    state: MonitorState
    charts: list[Chart] = field(default_factory=list)
    features: list[Chart] = field(default_factory=list)
    """Feature drift: one small chart a feature."""
    facts: list[tuple[str, str]] = field(default_factory=list)


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else float(f"{value:.{digits}g}")


def trace(
    name: str, points: list[Point], *, kind: str = "line", axis: str = "y", scale: float = 1.0
) -> dict[str, Any]:
    """A series as the script reads it: x, y, status letters, and min/max where folded."""
    out: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "axis": axis,
        "x": [p.x for p in points],
        "y": [_round(None if p.mean is None else p.mean * scale) for p in points],
        "s": "".join(p.status[0] for p in points),
    }
    if any(p.checks > 1 for p in points):
        out["n"] = [p.checks for p in points]
        out["lo"] = [_round(None if p.low is None else p.low * scale, 4) for p in points]
        out["hi"] = [_round(None if p.high is None else p.high * scale, 4) for p in points]
    return out


def _spec(
    title: str,
    traces: list[dict[str, Any]],
    *,
    y_title: str = "",
    y2_title: str = "",
    threshold: float | None = None,
    threshold_label: str = "threshold",
    percent: bool = False,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"title": title, "traces": traces, "yTitle": y_title}
    if y2_title:
        spec["y2Title"] = y2_title
    if threshold is not None:
        spec["threshold"] = _round(threshold)
        spec["thresholdLabel"] = threshold_label
    if percent:
        spec["percent"] = True
    return spec


def sections(
    states: list[MonitorState], found: list[Series], since: int, until: int
) -> list[Section]:
    """A section per monitor with the charts its type calls for, all on one time axis."""
    by_key = {(s.monitor, s.metric, s.per_bucket): s for s in found}
    out = []
    for index, state in enumerate(states):
        section = Section(state)
        key = f"m{index}"
        builder = _BUILDERS.get(state.kind)
        if builder is not None:
            builder(section, key, by_key)
        for chart in [*section.charts, *section.features]:
            chart.spec["xr"] = [since, until]
        out.append(section)
    return out


SeriesMap = dict[tuple[str, str, bool], Series]


def _points(by_key: SeriesMap, monitor: str, metric: str, bucketed: bool = False) -> list[Point]:
    found = by_key.get((monitor, metric, bucketed))
    return found.points if found is not None else []


def _feature_drift(section: Section, key: str, by_key: SeriesMap) -> None:
    state = section.state
    share = _points(by_key, state.monitor, "drift_share")
    if share:
        section.charts.append(
            Chart(
                f"{key}-share",
                "Share of drifted features",
                _spec(
                    "share of drifted features (%)",
                    [trace("drifted features", share, scale=100.0)],
                    y_title="%",
                    percent=True,
                ),
            )
        )
    latest = {r.metric: r for r in state.results if r.metric.startswith("drift_score[")}
    names = {m for (mon, m, _) in by_key if mon == state.monitor and m.startswith("drift_score[")}
    names |= set(latest)

    def order(metric: str) -> tuple[int, float, str]:
        r = latest.get(metric)
        drifted = r is not None and r.status != "ok"
        return (0 if drifted else 1, -(r.value or 0.0) if r else 0.0, metric)

    for i, metric in enumerate(sorted(names, key=order)):
        feature = metric[len("drift_score[") : -1]
        r = latest.get(metric)
        method = str(r.details.get("method", "")) if r else ""
        raw = r.details.get("threshold") if r else None
        threshold = float(raw) if isinstance(raw, int | float) and method not in TESTS else None
        note = f"method {method}" if method else ""
        if method in TESTS and raw is not None:
            note += f": drifts when p < {raw}"
        section.features.append(
            Chart(
                f"{key}-f{i}",
                feature,
                _spec(
                    feature,
                    [trace(feature, _points(by_key, state.monitor, metric))],
                    y_title="score",
                    threshold=threshold,
                ),
                drifted=r is not None and r.status != "ok",
                note=note,
            )
        )


def _prediction_drift(section: Section, key: str, by_key: SeriesMap) -> None:
    state = section.state
    r = state.get("prediction_drift")
    method = str(r.details.get("method", "")) if r else ""
    raw = r.details.get("threshold") if r else None
    threshold = float(raw) if isinstance(raw, int | float) and method not in TESTS else None
    section.charts.append(
        Chart(
            f"{key}-prediction",
            "Prediction drift",
            _spec(
                "prediction drift score",
                [trace("score", _points(by_key, state.monitor, "prediction_drift"))],
                y_title="score",
                threshold=threshold,
            ),
            note=f"method {method}" if method else "",
        )
    )


def _performance(section: Section, key: str, by_key: SeriesMap) -> None:
    state = section.state
    bucketed = any((state.monitor, m, True) in by_key for m in ("label_coverage",))
    traces = []
    for metric in PERFORMANCE_METRICS:
        points = _points(by_key, state.monitor, metric, bucketed)
        if points:
            traces.append(trace(metric, points))
    coverage = _points(by_key, state.monitor, "label_coverage", bucketed)
    if coverage:
        traces.append(trace("label coverage", coverage, kind="bar", axis="y2", scale=100.0))
    section.charts.append(
        Chart(
            f"{key}-performance",
            "Performance and label coverage",
            _spec(
                "performance on labelled predictions",
                traces,
                y_title="metric",
                y2_title="labelled %",
            ),
            note="per sub-window" if bucketed else "per check",
        )
    )
    labels = state.get("labels")
    if labels is not None:
        predictions = labels.details.get("predictions")
        text = f"{labels.value or 0:,.0f}"
        if isinstance(predictions, int | float) and predictions:
            share = 100.0 * (labels.value or 0) / predictions
            text += f" of {predictions:,.0f} predictions ({share:.3g}%)"
        section.facts.append(("Labelled in the last check", text))


def _service_health(section: Section, key: str, by_key: SeriesMap) -> None:
    state = section.state
    latency = [
        trace(label, points)
        for metric, label in LATENCIES
        if (points := _points(by_key, state.monitor, metric))
    ]
    section.charts.append(
        Chart(f"{key}-latency", "Latency", _spec("latency (ms)", latency, y_title="ms"))
    )
    errors = _points(by_key, state.monitor, "error_rate")
    if errors:
        section.charts.append(
            Chart(
                f"{key}-errors",
                "Error rate",
                _spec(
                    "error rate (%)",
                    [trace("errors", errors, scale=100.0)],
                    y_title="%",
                    percent=True,
                ),
            )
        )
    else:
        why = "the request log records no errors and the monitor scrapes no metrics_urls"
        section.facts.append(("Error rate", f"not measured: {why}"))
    throughput = _points(by_key, state.monitor, "throughput_per_s")
    section.charts.append(
        Chart(
            f"{key}-throughput",
            "Throughput",
            _spec("throughput (predictions/s)", [trace("per second", throughput)], y_title="/s"),
        )
    )


def _data_quality(section: Section, key: str, by_key: SeriesMap) -> None:
    state = section.state
    section.charts.append(
        Chart(
            f"{key}-anomalies",
            "Anomalies",
            _spec(
                "anomalies per check",
                [trace("anomalies", _points(by_key, state.monitor, "anomalies"), kind="bar")],
                y_title="anomalies",
            ),
        )
    )


def _staleness(section: Section, key: str, by_key: SeriesMap) -> None:
    for metric, label in (
        ("model_age_days", "Model age"),
        ("training_data_age_days", "Training data age"),
    ):
        r = section.state.get(metric)
        if r is not None:
            text = f"{r.value:.1f} days" if r.value is not None else str(r.details.get("note", ""))
            section.facts.append((label, text))


_BUILDERS = {
    "feature_drift": _feature_drift,
    "prediction_drift": _prediction_drift,
    "performance": _performance,
    "service_health": _service_health,
    "data_quality": _data_quality,
    "staleness": _staleness,
}
