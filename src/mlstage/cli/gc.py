"""``mlstage gc`` and ``mlstage retention apply``: free the space expired and deleted data holds.

``mlstage gc`` drops the artifact records of deleted runs and deletes the
blobs nothing references any more (``governance.gc``); ``mlstage retention
apply`` deletes request logs, monitor results and feedback older than the
``retention_days`` of their classification (``governance.retention``). Both
take ``--dry-run`` to list what would go, and the bytes, without deleting.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from mlstage.cli._console import console, fmt_size, print_json, text

DryRunOption = Annotated[
    bool,
    typer.Option("--dry-run", help="List what would be deleted, and the bytes; delete nothing."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
SHOWN_BLOBS = 50

retention_app = typer.Typer(
    help="Delete request logs, monitor results and feedback past their retention period.",
    no_args_is_help=True,
)


def gc(dry_run: DryRunOption = False, as_json: JsonOption = False) -> None:
    """Delete the artifacts of deleted runs and every blob nothing references any more."""
    from rich.table import Table

    from mlstage.config import get_settings
    from mlstage.governance.gc import run_gc

    report = run_gc(get_settings(), dry_run=dry_run)
    if as_json:
        print_json(report.to_dict())
        return
    out = console()
    verb = "Would delete" if dry_run else "Deleted"
    if report.deleted_runs:
        out.print(
            text(
                f"{verb} {report.artifact_records} artifact record(s) of "
                f"{len(report.deleted_runs)} deleted run(s): {', '.join(report.deleted_runs[:10])}"
                + (" ..." if len(report.deleted_runs) > 10 else "")
            )
        )
    if report.blobs:
        table = Table(header_style="bold", title=f"{verb} {len(report.blobs)} unreferenced blob(s)")
        table.add_column("sha256")
        table.add_column("size", justify="right")
        for blob in report.blobs[:SHOWN_BLOBS]:
            table.add_row(text(blob.sha256), text(fmt_size(blob.size)))
        out.print(table)
        if len(report.blobs) > SHOWN_BLOBS:
            out.print(text(f"... and {len(report.blobs) - SHOWN_BLOBS} more (all with --json)"))
    if report.temp_files:
        out.print(text(f"{verb} {report.temp_files} leftover temporary file(s)."))
    if report.young_orphans:
        out.print(
            text(
                f"Kept {report.young_orphans} unreferenced blob(s) younger than the grace period "
                "(gc_grace_seconds): they may belong to a write in progress.",
                "dim",
            )
        )
    if not (report.deleted_runs or report.blobs or report.temp_files):
        out.print("Nothing to collect.")
        return
    out.print(text(f"{'Would free' if dry_run else 'Freed'} {fmt_size(report.bytes)}.", "bold"))


@retention_app.command("apply")
def apply(dry_run: DryRunOption = False, as_json: JsonOption = False) -> None:
    """Delete what ``retention_days`` says has expired, per the classification of each model."""
    from rich.table import Table

    from mlstage.config import get_settings
    from mlstage.governance.retention import apply_retention

    settings = get_settings()
    report = apply_retention(settings, int(time.time() * 1000), dry_run=dry_run)
    if as_json:
        print_json(report.to_dict())
        return
    out = console()
    if not settings.retention_days:
        out.print('No retention configured: set retention_days (e.g. "*=365") to expire data.')
        return
    if not report.models:
        out.print("Nothing has expired.")
        return
    verb = "Would delete" if dry_run else "Deleted"
    table = Table(header_style="bold", title=verb)
    for column in ("model", "class", "days", "log files", "bytes", "monitor results", "feedback"):
        table.add_column(column, justify="left" if column in ("model", "class") else "right")
    for m in report.models:
        table.add_row(
            text(m.model),
            text(m.classification),
            text(f"{m.days:g}"),
            text(f"{m.log_files:,}"),
            text(fmt_size(m.log_bytes)),
            text(f"{m.monitor_results:,}"),
            text(f"{m.feedback:,}"),
        )
    out.print(table)
    out.print(text(f"{'Would free' if dry_run else 'Freed'} {fmt_size(report.log_bytes)}.", "bold"))
