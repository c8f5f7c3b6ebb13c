"""What a monitor may read (``CheckContext``), and the helpers every evaluator shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlstage.monitoring.definitions import (
    Monitoring,
    Status,
    worst,
)
from mlstage.monitoring.results import MetricResult
from mlstage.monitoring.window import VIEW, LogWindow, quote

if TYPE_CHECKING:
    import pyarrow as pa

    from mlstage.config import Settings
    from mlstage.monitoring.results import SqlMonitorResults
    from mlstage.monitoring.sql_feedback import SqlFeedbackStore
    from mlstage.serving.deployments import Deployment


DAY_MS = 86_400_000


@dataclass
class CheckContext:
    """What a monitor may read: the window, the subject, the stores, the clock."""

    window: LogWindow
    monitoring: Monitoring
    model: str
    deployment: Deployment | None
    settings: Settings
    feedback: SqlFeedbackStore
    results: SqlMonitorResults
    now_ms: int
    fetch: Callable[[str], str] | None = None
    """GET a URL's text (``/metrics`` scrapes); injectable for tests."""
    _rows: int | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        """The rows monitors look at: answered ones, of the deployment if the subject is one."""
        return self.where_for("")

    def where_for(self, alias: str, *, answered: bool = True) -> str:
        """``where`` with the columns qualified by ``alias`` (``p`` -> ``p.route``).

        ``answered=False`` keeps the rows the model failed to score (logged with
        their ``error``): service health counts them, other monitors must not.
        """
        prefix = f"{alias}." if alias else ""
        clause = f"{prefix}route <> 'shadow'"
        if self.deployment is not None:
            name = self.deployment.name.replace("'", "''")
            clause += f" AND {prefix}deployment = '{name}'"
        if answered and "error" in self.window.columns:  # files before the column have none
            clause += f" AND {prefix}error IS NULL"
        return clause

    @property
    def rows(self) -> int:
        if self._rows is None:
            self._rows = self.window.count(self.where)
        return self._rows

    def result(
        self,
        monitor: str,
        metric: str,
        value: float | None,
        status: Status = "ok",
        **details: Any,
    ) -> MetricResult:
        return MetricResult(
            subject=self.monitoring.subject,
            model=self.model,
            deployment=self.deployment.name if self.deployment else None,
            monitor=monitor,
            window_start=self.window.since_ms,
            window_end=self.window.until_ms,
            metric=metric,
            value=value,
            status=status,
            details={k: v for k, v in details.items() if v is not None},
        )

    def inputs(self, names: list[str] | None = None) -> pa.Table:
        """The window's input columns (all, or ``names`` that were logged) as an Arrow table."""
        logged = self.window.inputs
        chosen = [n for n in (names if names is not None else logged) if n in logged]
        if not chosen:
            import pyarrow as pa

            return pa.table({})
        columns = ", ".join(f"{quote('input.' + n)} AS {quote(n)}" for n in chosen)
        query = f"SELECT {columns} FROM {VIEW} WHERE {self.where}"  # noqa: S608
        return self.window.con.sql(query).to_arrow_table()


def resolve_reference(monitoring: Monitoring, value: Any, field_name: str) -> Any:
    """The reference rows: a file, a registered dataset version, or a frame from Python.

    Files are relative to the monitoring file; ``churn@3`` or ``churn@latest``
    read the dataset's snapshot (its hash checked), as the registry has it now.
    """
    if isinstance(value, str) and "@" in value and "/" not in value and "\\" not in value:
        from mlstage.data import datasets

        return datasets.load(value)
    if isinstance(value, str | bytes) or hasattr(value, "__fspath__"):
        return monitoring.path(str(value), field_name)
    return value


def bounded(spec: Any, result: MetricResult) -> MetricResult:
    """The result with its thresholds applied: the worse of its own status and theirs."""
    status = worst([result.status, spec.bound_status(result.metric, result.value)])
    return result.model_copy(update={"status": status})
