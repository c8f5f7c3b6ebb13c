"""Drift monitors: serving inputs and predictions against a reference."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlstage.errors import InvalidInput
from mlstage.monitoring.definitions import (
    FeatureDrift,
    PredictionDrift,
    Status,
)
from mlstage.monitoring.results import MetricResult
from mlstage.monitoring.window import VIEW, quote

if TYPE_CHECKING:
    import pyarrow as pa


from mlstage.monitoring.check_context import CheckContext, bounded, resolve_reference

# -- drift ------------------------------------------------------------------------------------


def feature_drift(spec: FeatureDrift, ctx: CheckContext) -> list[MetricResult]:
    from mlstage.data.drift import compare
    from mlstage.data.frames import open_frame

    name = spec.label
    reference = resolve_reference(ctx.monitoring, spec.reference, "reference")
    if ctx.rows < spec.min_rows:
        return [
            ctx.result(name, "drift_share", None, rows=ctx.rows, note="too few rows to compare")
        ]
    if spec.features is not None:
        wanted = spec.features
    else:
        frame = open_frame(reference)
        try:
            wanted = list(frame.columns)
        finally:
            frame.con.close()
    current = ctx.inputs(wanted)
    if current.num_columns == 0:
        raise InvalidInput(
            f"monitor {name!r}: none of the reference's columns ({', '.join(wanted[:10])}) "
            f"was logged as an input of model {ctx.model!r}"
        )
    if spec.features is not None:
        reference = _only(reference, current.column_names)
    report = compare(reference, current, method=spec.method, threshold=spec.threshold)
    report = _masked(ctx, report)
    alert_share = spec.alert_share if spec.alert_share is not None else report.drift_share
    share = report.share
    status: Status = "alert" if report.features and share >= alert_share else "ok"
    if status == "ok" and report.drifted_features:
        status = "warn"
    out = [
        ctx.result(
            name,
            "drift_share",
            share,
            status,
            drifted=report.drifted_features,
            rows=report.current_rows,
            reference_rows=report.reference_rows,
            skipped=report.skipped or None,
        )
    ]
    for feature, result in report.features.items():
        out.append(
            ctx.result(
                name,
                f"drift_score[{feature}]",
                result.score,
                "alert" if result.drifted else "ok",
                method=result.method,
                threshold=result.threshold,
                p_value=result.p_value,
                bins=result.bins,
                reference_shares=result.reference_shares,
                current_shares=result.current_shares,
            )
        )
    return [bounded(spec, r) for r in out]


def _masked(ctx: CheckContext, report: Any) -> Any:
    """The report with the bins (values) of personal-data columns hidden, as results keep them."""
    from mlstage.governance.pii_masking import mask_drift

    return mask_drift(report, ctx.settings, name=ctx.model)


def _only(reference: Any, columns: list[str]) -> Any:
    """The reference cut to ``columns`` (a path is read lazily by DuckDB as it is)."""
    if hasattr(reference, "select") and hasattr(reference, "num_rows"):  # Arrow
        return reference.select([c for c in columns if c in reference.column_names])
    if hasattr(reference, "loc") and hasattr(reference, "columns"):  # pandas
        return reference[[c for c in columns if c in reference.columns]]
    return _ParquetColumns(reference, columns).table()


class _ParquetColumns:
    """A reference file cut to some columns, read once through DuckDB."""

    def __init__(self, path: Any, columns: list[str]) -> None:
        self.path = path
        self.columns = columns

    def table(self) -> Any:
        from mlstage.data.frames import open_frame

        frame = open_frame(self.path, "reference_file")
        try:
            kept = [c for c in self.columns if c in frame.columns]
            query = f"SELECT {', '.join(quote(c) for c in kept)} FROM {frame.table}"  # noqa: S608
            return frame.con.sql(query).to_arrow_table()
        finally:
            frame.con.close()


def prediction_drift(spec: PredictionDrift, ctx: CheckContext) -> list[MetricResult]:
    from mlstage.data.drift import compare

    name = spec.label
    reference = resolve_reference(ctx.monitoring, spec.reference, "reference")
    if ctx.rows < spec.min_rows:
        return [ctx.result(name, "prediction_drift", None, rows=ctx.rows, note="too few rows")]
    ref = _only(reference, [spec.column])
    columns = ref.column_names if hasattr(ref, "column_names") else list(ref.columns)
    if spec.column not in columns:
        raise InvalidInput(
            f"monitor {name!r}: the reference has no column {spec.column!r} (set `column`)"
        )
    ref = (
        ref.rename_columns(["prediction"])
        if hasattr(ref, "rename_columns")
        else (ref.rename(columns={spec.column: "prediction"}))
    )
    current: pa.Table = ctx.window.con.sql(
        f"SELECT output AS prediction FROM {VIEW} WHERE {ctx.where}"  # noqa: S608
    ).to_arrow_table()
    report = compare(ref, current, method=spec.method, threshold=spec.threshold)
    if "prediction" not in report.features:
        why = report.skipped.get("prediction", "not comparable")
        return [ctx.result(name, "prediction_drift", None, note=why)]
    result = report.features["prediction"]
    out = ctx.result(
        name,
        "prediction_drift",
        result.score,
        "alert" if result.drifted else "ok",
        method=result.method,
        threshold=result.threshold,
        p_value=result.p_value,
        bins=result.bins,
        reference_shares=result.reference_shares,
        current_shares=result.current_shares,
    )
    return [bounded(spec, out)]
