"""A deployment's retrainings for its monitoring page: each with its trigger and transitions.

Two reads through ``mlstage.monitoring.retraining`` whatever the number of
retrainings: the newest retrainings, and the deployment's transitions,
grouped here by retraining.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlstage.store.database import Database

EVENTS_READ = 500


@dataclass(frozen=True)
class RetrainingRow:
    """One retraining, its transitions oldest first, and its release decision."""

    retraining: Any
    transitions: list[Any] = field(default_factory=list)
    action: str = ""
    reasons: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def arms(self) -> list[tuple[str, str, str]]:
        """The canary's figures the decision rests on: (what, primary, candidate) rows."""
        primary, candidate = self.figures.get("primary"), self.figures.get("candidate")
        if not isinstance(primary, dict) or not isinstance(candidate, dict):
            return []
        metric = self.figures.get("metric")
        rows = [
            ("version", "version", "v{:.0f}"),
            ("predictions", "predictions", "{:,.0f}"),
            ("error rate", "error_rate", "{:.2%}"),
            ("latency p50", "latency_p50_ms", "{:.3g} ms"),
            ("latency p99", "latency_p99_ms", "{:.3g} ms"),
            ("labelled", "labelled", "{:,.0f}"),
            (str(metric) if metric else "metric", "metric", "{:.4g}"),
        ]
        out = []
        for label, key, form in rows:
            if key in primary or key in candidate:
                out.append((label, _text(primary.get(key), form), _text(candidate.get(key), form)))
        return out


def history(db: Database, deployment: str, limit: int) -> list[RetrainingRow]:
    from mlstage.monitoring.retraining import deployment_events, list_retrainings

    found = list_retrainings(db, deployment, limit=limit)
    if not found:
        return []
    by_id: dict[int, list[Any]] = {}
    for event in deployment_events(db, deployment, limit=EVENTS_READ):
        by_id.setdefault(event.retraining_id, []).append(event)
    rows = []
    for r in found:
        decision = r.decision if isinstance(r.decision, dict) else {}
        reasons = decision.get("reasons") or []
        figures = decision.get("figures")
        rows.append(
            RetrainingRow(
                retraining=r,
                transitions=sorted(by_id.get(r.retraining_id, []), key=lambda e: e.event_id),
                action=str(decision.get("action") or ""),
                reasons=[str(x) for x in reasons] if isinstance(reasons, list) else [str(reasons)],
                figures=figures if isinstance(figures, dict) else {},
            )
        )
    return rows


def _text(value: Any, form: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    return form.format(value)
