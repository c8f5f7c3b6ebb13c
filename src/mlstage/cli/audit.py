"""``mlstage audit``: read and export the audit log (who changed what, when, from where)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlstage.cli._console import console, fmt_time, print_json, text
from mlstage.errors import InvalidInput


def _since_ms(since: str) -> int:
    """``2026-11-01``, an ISO time, or a duration back from now (``7d``, ``12h``)."""
    from mlstage.governance.audit import parse_since

    try:
        return parse_since(since)
    except InvalidInput as exc:
        raise InvalidInput(f"--{exc.message}") from None


def audit(
    since: Annotated[
        str | None, typer.Option(metavar="WHEN", help="From a date (2026-11-01) or 7d ago.")
    ] = None,
    actor: Annotated[str | None, typer.Option(metavar="NAME", help="Only this actor.")] = None,
    action: Annotated[
        str | None,
        typer.Option(metavar="ACTION", help="An action (alias.set), or a prefix ending in '.'."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 1000,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", metavar="FILE", help="Write CSV (formula-safe) here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show the audit log, oldest first, or export it to CSV."""
    from rich.table import Table

    from mlstage.cli._governance import governance_store
    from mlstage.governance.audit import to_csv

    entries = governance_store().audit_entries(
        since=None if since is None else _since_ms(since), actor=actor, action=action, limit=limit
    )
    if csv_file is not None:
        csv_file.write_text(to_csv(entries), encoding="utf-8")
        console().print(text(f"Wrote {len(entries)} entries to {csv_file}."))
        return
    if as_json:
        print_json([e.model_dump(mode="json") for e in entries])
        return
    if not entries:
        console().print("No audit entries match.")
        return
    table = Table(header_style="bold")
    for column in ("when", "actor", "action", "object", "address"):
        table.add_column(column)
    for entry in entries:
        table.add_row(
            text(fmt_time(entry.at)),
            text(entry.actor),
            text(entry.action),
            text(f"{entry.object_type} {entry.object_id}".strip()),
            text(entry.address),
        )
    console().print(table)
