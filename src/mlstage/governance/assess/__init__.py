"""``mlstage assess``: which maturity stage a project has reached, with evidence, and what next.

from mlstage.governance.assess import assess
report = assess()            # evaluates, records it in the history, returns an Assessment
report.stage, report.next_steps
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlstage.config import Settings
    from mlstage.governance.assess.engine import Assessment


def assess(settings: Settings | None = None, *, keep: bool = True) -> Assessment:
    """Assess the project of ``settings`` (default: the current one) from its records and repo."""
    from mlstage.config import get_settings
    from mlstage.errors import InvalidInput
    from mlstage.governance.assess import engine
    from mlstage.governance.assess.evidence import Evidence
    from mlstage.store.database import get_database

    settings = settings or get_settings()
    if settings.tracking_uri.startswith(("http://", "https://")):
        raise InvalidInput(
            "mlstage assess reads the project's database: run it where MLSTAGE_TRACKING_URI "
            f"is the database, not the server {settings.tracking_uri!r}"
        )
    db = get_database(settings.tracking_uri, busy_timeout=settings.sqlite_busy_timeout)
    evidence = Evidence(db, dict(settings.project), Path(settings.project_root))
    result = engine.evaluate(evidence, engine.load_answers(db))
    if keep:
        engine.record(db, result)
    result.history = engine.history(db)
    return result
