"""Pages of governance: the maturity assessment with its history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from mlstage.server.ui.render import page


def add_routes(router: APIRouter) -> None:
    router.add_api_route("/assess", assessment, methods=["GET"])
    router.add_api_route("/audit", audit_log, methods=["GET"])


AUDIT_PAGE_ROWS = 500


def audit_log(
    request: Request,
    since: Annotated[str, Query(max_length=40)] = "",
    actor: Annotated[str, Query(max_length=100)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The audit log for admins, newest first, filtered; the export is the REST API's CSV."""
    from urllib.parse import urlencode

    from mlstage.governance import audit

    since_ms = audit.parse_since(since) if since else None
    db = request.app.state.stores.tracking().db
    with db.read() as conn:
        entries = audit.query(
            conn,
            since=since_ms,
            actor=actor or None,
            action=action or None,
            limit=AUDIT_PAGE_ROWS,
            newest_first=True,
        )
    export = {"format": "csv", "limit": str(audit.MAX_ENTRIES)}
    if since_ms is not None:
        export["since"] = str(since_ms)
    if actor:
        export["actor"] = actor
    if action:
        export["action"] = action
    return page(
        request,
        "audit.html",
        section="audit",
        entries=entries,
        filters={"since": since, "actor": actor, "action": action},
        export_url="/api/v1/audit?" + urlencode(export),
        limit=AUDIT_PAGE_ROWS,
    )


async def assessment(request: Request) -> Response:
    """The stage the server's project has reached now, each check's evidence, the history.

    Viewing assesses without recording; ``mlstage assess`` records an entry.
    """
    from mlstage.cli.assess import STAGE_NAMES
    from mlstage.governance.assess import assess

    report = await run_in_threadpool(assess, request.app.state.settings, keep=False)
    return page(
        request,
        "assess.html",
        section="assess",
        report=report,
        stage_name=STAGE_NAMES[report.stage],
    )
