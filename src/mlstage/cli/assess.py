"""``mlstage assess``: the maturity stage reached, each check with its evidence, and what next."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mlstage.cli._console import console, print_json, text
from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from rich.console import Console

    from mlstage.governance.assess.engine import Assessment

STAGE_NAMES = {
    0: "Stage 0: notebooks and manual work",
    1: "Stage 1: a versioned model behind a prediction service",
    2: "Stage 2: automated pipelines",
    3: "Stage 3: full MLOps, for sensitive data too",
}


def assess(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    answer: Annotated[
        list[str] | None,
        typer.Option(
            "--answer",
            metavar="CHECK=yes|no",
            help="Answer a check only a person can (C17, C18, C38, C49); repeatable.",
        ),
    ] = None,
    note: Annotated[
        str, typer.Option(help="Names or a link backing the answers (kept with them).")
    ] = "",
    show_all: Annotated[
        bool, typer.Option("--all", help="List passing checks too, not only the failing ones.")
    ] = False,
) -> None:
    """Which maturity stage the project has reached, the evidence, and the next three steps."""
    import time

    from mlstage.config import get_settings
    from mlstage.governance.assess import assess as run_assessment
    from mlstage.governance.assess import engine
    from mlstage.store.database import get_database

    settings = get_settings()
    if answer:
        from mlstage.cli._governance import actor

        db = get_database(settings.tracking_uri, busy_timeout=settings.sqlite_busy_timeout)
        now = int(time.time() * 1000)
        for item in answer:
            check_id, value = _parse_answer(item)
            engine.save_answer(db, check_id, value, note, actor(), now)
    report = run_assessment(settings)
    if as_json:
        print_json(report.to_dict())
        return
    render(console(), report, show_all=show_all)


def _parse_answer(item: str) -> tuple[str, bool]:
    check_id, sep, value = item.partition("=")
    value = value.strip().lower()
    if not sep or value not in ("yes", "no", "true", "false"):
        raise InvalidInput(f"--answer {item!r} must look like C17=yes or C17=no")
    return check_id.strip(), value in ("yes", "true")


def render(out: Console, report: Assessment, *, show_all: bool = False) -> None:
    from rich.table import Table

    out.print(text(STAGE_NAMES[report.stage], "bold"))
    out.print(text(f"Rule: {report.rule}.", "dim"))
    rates = "  ".join(f"{s} {r:.0%}" for s, r in report.stage_pass_rates.items())
    dims = "  ".join(f"{d} {r:.0%}" for d, r in report.dimension_pass_rates.items())
    out.print(text(f"Checks passed per stage: {rates}"))
    out.print(text(f"Per dimension: {dims}"))
    ms, google = report.microsoft_level, report.google_level
    out.print(
        text(
            f"Same evidence, other frameworks: Microsoft level {ms['level']} ({ms['name']}), "
            f"Google level {google['level']} ({google['name']})"
        )
    )
    shown = report.checks if show_all else report.failing()
    table = Table("check", "stage", "dimension", "", "question", "evidence", expand=False)
    for c in shown:
        mark = text("✓", "green") if c.passed else text("✗", "red")
        star = "*" if c.keystone else ""
        who = " (person)" if c.how == "person" else ""
        table.add_row(
            f"{c.id}{star}",
            f"S{c.stage}",
            c.dimension,
            mark,
            text(c.question + who),
            text(c.evidence),
        )
    title = "Every check" if show_all else "Checks not passed yet (--all shows every check)"
    out.print()
    out.print(text(title, "bold"))
    out.print(table)
    if report.next_steps:
        out.print(text("Next steps", "bold"))
        for number, step in enumerate(report.next_steps, 1):
            out.print(text(f"  {number}. {step['id']} ({step['stage']}): {step['check']}"))
            out.print(text(f"     {step['command']}", "cyan"), soft_wrap=True)
    if len(report.history) > 1:
        earlier = report.history[1]
        out.print(text(f"Last assessment: stage {earlier['stage']}, {earlier['passed']} of "
                       f"{earlier['total']} checks passed."))  # fmt: skip
