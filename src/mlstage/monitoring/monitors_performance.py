"""The performance monitor: the task's metrics on the predictions whose labels have arrived."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from mlstage.errors import InvalidInput
from mlstage.monitoring.definitions import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    Performance,
)
from mlstage.monitoring.results import MetricResult
from mlstage.monitoring.window import VIEW, quote

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


from mlstage.monitoring.check_context import CheckContext, bounded

# -- performance -------------------------------------------------------------------------


def label_key(value: Any) -> str:
    """A label or output as a class key: bools as 0/1, whole floats as integers."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "item"):
        return label_key(value.item())
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def class_order(probabilities: list[Any], predicted: list[str]) -> list[str] | None:
    """The class of each probability column, learnt from which column each answer's argmax is."""
    votes: dict[int, dict[str, int]] = {}
    width = 0
    for probs, label in zip(probabilities, predicted, strict=True):
        if probs is None or len(probs) == 0:
            continue
        width = max(width, len(probs))
        best = max(range(len(probs)), key=lambda i: probs[i])
        votes.setdefault(best, {}).setdefault(label, 0)
        votes[best][label] += 1
    if width == 0:
        return None
    order = [max(votes[i], key=lambda k: votes[i][k]) if i in votes else "" for i in range(width)]
    if len(set(order)) != width:
        return None  # some column never won: its class cannot be told
    return order


def _score(
    task: str,
    metric: str,
    truth: list[str] | np.ndarray,
    predicted: list[str] | np.ndarray,
    probabilities: list[Any] | None,
    classes: list[str] | None,
) -> tuple[float | None, str]:
    """The metric and, when it is undefined on these rows, why."""
    import numpy as np
    from sklearn import metrics as m

    try:
        if task == "regression":
            y, p = np.asarray(truth, dtype=float), np.asarray(predicted, dtype=float)
            if metric == "mae":
                return float(m.mean_absolute_error(y, p)), ""
            if metric == "rmse":
                return float(math.sqrt(m.mean_squared_error(y, p))), ""
            if len(y) < 2:
                return None, "r2 needs at least two labels"
            return float(m.r2_score(y, p)), ""
        seen = sorted(set(truth) | set(predicted))
        if metric == "accuracy":
            return float(m.accuracy_score(truth, predicted)), ""
        if metric == "f1":
            if classes is not None and len(classes) == 2:
                return float(m.f1_score(truth, predicted, pos_label=classes[1])), ""
            if len(seen) <= 2 and classes is None:
                positive = seen[-1]
                return float(m.f1_score(truth, predicted, pos_label=positive)), ""
            return float(m.f1_score(truth, predicted, average="macro")), ""
        if probabilities is None or classes is None:
            return None, "roc_auc needs the logged probabilities"
        if len(set(truth)) < 2:
            return None, "roc_auc needs labels of two classes at least"
        scores = np.asarray(probabilities, dtype=float)
        if len(classes) == 2:
            y = np.asarray([t == classes[1] for t in truth])
            return float(m.roc_auc_score(y, scores[:, 1])), ""
        return float(m.roc_auc_score(truth, scores, multi_class="ovr", labels=classes)), ""
    except ValueError as exc:
        return None, str(exc).splitlines()[0]


def performance(spec: Performance, ctx: CheckContext) -> list[MetricResult]:
    name = spec.label
    labels = ctx.feedback.label_table(ctx.model, ctx.window.since_ms, ctx.window.until_ms)
    con = ctx.window.con
    con.register("labels", labels)
    try:
        total = ctx.rows
        slice_columns = []
        for s in spec.slices:
            if s in ("version", "route", "deployment"):
                slice_columns.append(f"CAST(p.{s} AS VARCHAR) AS {quote('slice:' + s)}")
            elif s in ctx.window.inputs:
                slice_columns.append(
                    f"CAST(p.{quote('input.' + s)} AS VARCHAR) AS {quote('slice:' + s)}"
                )
            else:
                raise InvalidInput(
                    f"monitor {name!r}: slice {s!r} is neither an input of model "
                    f"{ctx.model!r} nor version, route or deployment"
                )
        extra = "".join(", " + c for c in slice_columns)
        query = (
            f"SELECT p.timestamp, p.output, p.probabilities, l.label{extra} FROM {VIEW} p "  # noqa: S608
            f"JOIN labels l USING (prediction_id) WHERE {ctx.where_for('p')}"
        )
        joined = con.execute(query).df()
    finally:
        con.unregister("labels")
    labelled = len(joined)
    coverage = labelled / total if total else None
    out = [
        ctx.result(name, "labels", float(labelled), predictions=total),
        ctx.result(name, "label_coverage", coverage, labels=labelled, predictions=total),
    ]
    if labelled < spec.min_labels:
        note = f"{labelled} label(s), fewer than min_labels ({spec.min_labels})"
        out.append(ctx.result(name, "performance", None, note=note))
        return [bounded(spec, r) for r in out]
    known = CLASSIFICATION_METRICS if spec.task == "classification" else REGRESSION_METRICS
    wanted = spec.metrics or list(known)
    out.extend(_metrics(spec, ctx, name, joined, wanted, ""))
    for s in spec.slices:
        column = f"slice:{s}"
        counts = joined[column].fillna("(missing)").value_counts()
        for value in list(counts.index)[: spec.max_slice_values]:
            part = joined[joined[column].fillna("(missing)") == value]
            out.extend(_metrics(spec, ctx, name, part, wanted, f"[{s}={value}]"))
    if spec.bucket is not None:
        out.extend(_buckets(spec, ctx, name, joined, wanted))
    return [bounded(spec, r) for r in out]


def _buckets(
    spec: Performance, ctx: CheckContext, name: str, joined: pd.DataFrame, wanted: list[str]
) -> list[MetricResult]:
    """Coverage and metrics per sub-window, each row carrying its sub-window."""
    from mlstage.monitoring.definitions import parse_duration

    step = int(parse_duration(spec.bucket or "", "bucket") * 1000)
    since, until = ctx.window.since_ms, ctx.window.until_ms
    totals = dict(
        ctx.window.sql(
            f"SELECT (timestamp - {since}) // {step} AS b, count(*) FROM {VIEW} "  # noqa: S608
            f"WHERE {ctx.where} GROUP BY b"
        )
    )
    index = (joined["timestamp"] - since) // step
    out: list[MetricResult] = []
    for b in range(-(-(until - since) // step)):
        start, end = since + b * step, min(since + (b + 1) * step, until)
        part = joined[index == b]
        total = int(totals.get(b, 0))
        rows = [
            ctx.result(
                name,
                "label_coverage",
                len(part) / total if total else None,
                labels=len(part),
                predictions=total,
                bucket=True,
            )
        ]
        if len(part) >= spec.min_labels:
            rows += _metrics(spec, ctx, name, part, wanted, "")
        for row in rows:
            row.details["bucket"] = True
            out.append(row.model_copy(update={"window_start": start, "window_end": end}))
    return out


def _metrics(
    spec: Performance,
    ctx: CheckContext,
    name: str,
    rows: pd.DataFrame,
    wanted: list[str],
    suffix: str,
) -> list[MetricResult]:
    labels = [json.loads(v) for v in rows["label"]]
    outputs = list(rows["output"])
    probabilities: list[Any] | None = None
    classes: list[str] | None = None
    if spec.task == "classification":
        truth: Any = [label_key(v) for v in labels]
        predicted: Any = [label_key(parse_output(v)) for v in outputs]
        raw = [p if hasattr(p, "__len__") and len(p) else None for p in rows["probabilities"]]
        if any(p is not None for p in raw):
            probabilities = [list(p) if p is not None else None for p in raw]
            classes = class_order(probabilities, predicted)
            if classes is not None and any(p is None for p in probabilities):
                probabilities = None
    else:
        truth = [float(v) for v in labels]
        predicted = [float(parse_output(v)) for v in outputs]
    out = []
    for metric in wanted:
        value, why = _score(spec.task, metric, truth, predicted, probabilities, classes)
        out.append(ctx.result(name, metric + suffix, value, labels=len(rows), note=why or None))
    return out


def parse_output(value: Any) -> Any:
    """An output as logged: mixed-type outputs were written as JSON text."""
    if isinstance(value, str) and value[:1] in ('"', "[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
