"""How the deploy commands show deployments: one-line summaries, traffic splits, tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlstage.cli._console import MISSING, fmt_number, fmt_time, text

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from mlstage.serving.deployments import Deployment, DeploymentEvent

# Merged into the root command (added without a name): holds ``deploy`` and ``deployments``.


WEIGHTED = ("canary", "ab")
"""Strategies that split traffic by a weight."""


def serving_text(record: Mapping[str, Any]) -> str:
    """``v2 primary, v3 canary 10%``: what answers, from a record or a history snapshot."""
    if not record:
        return MISSING
    parts = [f"v{record.get('primary_version')} primary"]
    candidate = record.get("candidate_version")
    strategy = str(record.get("strategy") or "single")
    if candidate is not None:
        if strategy in WEIGHTED:
            parts.append(f"v{candidate} {strategy} {fmt_number(record.get('weight') or 0)}%")
        elif strategy == "blue-green":
            parts.append(f"v{candidate} blue-green standby")
        else:
            parts.append(f"v{candidate} {strategy}")
    return ", ".join(parts)


def summary(deployment: Deployment) -> str:
    """``churn-prod rev 3: v2 primary, v3 canary 10%``."""
    return f"{deployment.name} rev {deployment.revision}: {serving_text(record_fields(deployment))}"


def record_fields(deployment: Deployment) -> dict[str, Any]:
    return deployment.model_dump(mode="json")


def traffic(deployment: Deployment) -> list[dict[str, Any]]:
    """Who answers what share of requests, and who only sees a copy."""
    primary, candidate = deployment.primary_version, deployment.candidate_version
    strategy = deployment.strategy.value
    if candidate is None or strategy == "single":
        return [_arm(primary, "primary", 100.0, "answers every request")]
    if strategy in WEIGHTED:
        how = "sticky: a request key always gets the same arm" if strategy == "ab" else "by request"
        return [
            _arm(primary, "primary", 100.0 - deployment.weight, how),
            _arm(candidate, "candidate", deployment.weight, how),
        ]
    if strategy == "shadow":
        return [
            _arm(primary, "primary", 100.0, "answers every request"),
            _arm(candidate, "shadow", 0.0, "sees a copy of every request; answers logged only"),
        ]
    return [
        _arm(primary, "primary", 100.0, "answers every request"),
        _arm(candidate, "candidate", 0.0, "loaded and ready; --promote switches all at once"),
    ]


def _arm(version: int, arm: str, percent: float, note: str) -> dict[str, Any]:
    return {"version": version, "arm": arm, "percent": percent, "note": note}


def _table(*columns: str, right: tuple[str, ...] = ()) -> Table:
    from rich.table import Table

    table = Table(header_style="bold")
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    return table


def deployments_table(deployments: Sequence[Deployment]) -> Table:
    table = _table(
        "name", "model", "env", "rev", "serving", "updated", "by", "error", right=("rev",)
    )
    for d in deployments:
        table.add_row(
            text(d.name, "bold"),
            text(d.model),
            text(d.environment),
            text(d.revision),
            text(serving_text(record_fields(d))),
            text(fmt_time(d.updated_at)),
            text(d.updated_by or MISSING),
            text("load failed" if d.error else MISSING, "red" if d.error else ""),
        )
    return table


def render_deployment(out: Console, d: Deployment, history: Sequence[DeploymentEvent]) -> None:
    from mlstage.cli.models_view import heading, pairs

    out.print(text(f"Deployment {d.name}", "bold"))
    out.print(
        pairs(
            [
                ("model", d.model),
                ("environment", d.environment),
                ("revision", str(d.revision)),
                ("strategy", d.strategy.value),
                ("serving", serving_text(record_fields(d))),
                ("previous", MISSING if d.previous_version is None else f"v{d.previous_version}"),
                ("created", fmt_time(d.created_at)),
                ("updated", f"{fmt_time(d.updated_at)} by {d.updated_by or MISSING}"),
            ]
        )
    )
    heading(out, "Traffic")
    split = _table("version", "arm", "share", "how", right=("version", "share"))
    for arm in traffic(d):
        split.add_row(
            text(f"v{arm['version']}"),
            text(arm["arm"]),
            text(f"{fmt_number(arm['percent'])}%"),
            text(arm["note"], "dim"),
        )
    out.print(split)
    heading(out, "Last error")
    if d.error:
        out.print(text(f"revision {d.revision} failed to load: {d.error}", "red"), soft_wrap=True)
        out.print(text("The versions before it keep serving.", "dim"))
    else:
        out.print(text("none", "dim"))
    heading(out, "History")
    out.print(history_table(history))


def history_table(history: Sequence[DeploymentEvent]) -> Table:
    table = _table("when", "rev", "change", "by", "reason", right=("rev",))
    for e in history:
        table.add_row(
            text(fmt_time(e.at)),
            text(e.revision),
            text(change_text(e), "red" if e.action == "load_failed" else ""),
            text(e.actor or MISSING),
            text(e.reason or MISSING),
        )
    return table


def change_text(e: DeploymentEvent) -> str:
    """One history entry as a short phrase: what served before and after."""
    after = serving_text(e.after)
    before = serving_text(e.before) if e.before else MISSING
    now, was = e.after.get("primary_version"), (e.before or {}).get("primary_version")
    if e.action == "created":
        return f"created: {after}"
    if e.action == "promoted":
        return f"promoted v{now} (was v{was})"
    if e.action == "rolled_back":
        return f"rolled back to v{now} (from v{was})"
    if e.action == "load_failed":
        return f"load failed: {after}"
    if e.action == "updated":
        return f"{before} → {after}"
    return f"{e.action}: {after}"
