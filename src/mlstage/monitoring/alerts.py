"""Alert rules over a check's results: cool-down, a delivery claimed once, then sent.

For each rule a check's results fire, one transaction checks the cool-down
(a delivery of the same rule and subject claimed within ``cooldown``) and
claims the delivery by inserting its row, whose unique key is the rule, the
subject and the result window. Only the scheduler whose insert created the
row sends, so two schedulers checking the same window deliver once. The
body is built before the claim and stored with it, so every retry sends the
same bytes under the same delivery id. A claim whose sender died stays
``pending``, visible in ``mlstage monitor alerts``.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from mlstage.monitoring.definitions import AlertRule, Monitoring
from mlstage.monitoring.results import MetricResult
from mlstage.store import tables as t

if TYPE_CHECKING:
    from mlstage.config import Settings
    from mlstage.monitoring.webhooks import Resolver
    from mlstage.store.database import Database

_D = t.alert_deliveries.c


class Delivery(BaseModel):
    """One alert: which rule, for which window, where it went and how it went."""

    delivery_id: str
    rule: str
    subject: str
    window_start: int
    window_end: int
    channel: str
    target: str
    status: str
    """pending (claimed, being sent), delivered, failed, or cooldown / claimed (not sent here)."""
    attempts: int = 0
    error: str = ""
    created_at: int = 0
    updated_at: int = 0


class AlertSender:
    """Fires a ``Monitoring``'s rules on a check's results."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Callable[[], int] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        resolver: Resolver | None = None,
        retry_delays: Sequence[float] | None = None,
        claimant: str | None = None,
    ) -> None:
        from mlstage.tracking.sql_store import now_ms

        self.db = db
        self.settings = settings
        self.clock = clock or now_ms
        self.sleep = sleep
        self.resolver = resolver
        self.retry_delays = retry_delays
        self.claimant = claimant or f"{socket.gethostname()}:{os.getpid()}"

    def process(self, monitoring: Monitoring, results: Sequence[MetricResult]) -> list[Delivery]:
        """Evaluate every rule; claim and send what fires. The deliveries, sent or not."""
        out: list[Delivery] = []
        for rule in monitoring.alerts:
            fired = [r for r in results if rule.matches(r.monitor, r.metric, r.value, r.status)]
            if fired:
                out.append(self.fire(rule, monitoring.subject, fired))
        return out

    def fire(self, rule: AlertRule, subject: str, fired: Sequence[MetricResult]) -> Delivery:
        """Claim the delivery of ``rule`` for the results' window, then send it if claimed here."""
        start = min(r.window_start for r in fired)
        end = max(r.window_end for r in fired)
        delivery_id = str(uuid.uuid4())
        channel = "+".join(c for c in ("webhook", "email") if getattr(rule, c) is not None)
        targets = ([rule.webhook.url] if rule.webhook else []) + (
            list(rule.email.to) if rule.email else []
        )
        target = ", ".join(targets)
        now = self.clock()
        payload = json.dumps(
            {
                "delivery_id": delivery_id,
                "rule": rule.name,
                "subject": subject,
                "model": fired[0].model,
                "deployment": fired[0].deployment,
                "window": {"start": start, "end": end},
                "results": [
                    {
                        "monitor": r.monitor,
                        "metric": r.metric,
                        "value": r.value,
                        "status": r.status,
                    }
                    for r in fired
                ],
                "condition": {
                    "metric": rule.metric,
                    "comparison": rule.comparison,
                    "threshold": rule.threshold,
                    "status": rule.status if rule.comparison is None else None,
                },
                "created_at": now,
            },
            sort_keys=True,
            default=str,
        )
        row = {
            "delivery_id": delivery_id,
            "rule": rule.name,
            "subject": subject,
            "window_start": start,
            "window_end": end,
            "channel": channel,
            "target": target,
            "status": "pending",
            "attempts": 0,
            "error": "",
            "payload": payload,
            "claimed_by": self.claimant[:250],
            "created_at": now,
            "updated_at": now,
        }
        claimed = self.db.write(lambda conn: self._claim(conn, row, rule.cooldown_ms))
        if claimed is not None:
            return claimed
        return self._send(rule, row)

    def _claim(self, conn: Connection, row: dict[str, Any], cooldown_ms: int) -> Delivery | None:
        """``None`` when this call claimed the delivery; else why it is not sent here."""
        recent = conn.execute(
            select(_D.delivery_id, _D.created_at)
            .where(
                _D.rule == row["rule"],
                _D.subject == row["subject"],
                _D.status != "failed",
                _D.created_at > row["created_at"] - cooldown_ms,
                _D.window_end != row["window_end"],
            )
            .limit(1)
        ).first()
        if recent is not None:
            return Delivery(**{**_public(row), "status": "cooldown"})
        dialect: Any = sqlite if self.db.dialect == "sqlite" else postgresql
        inserted = conn.execute(
            dialect.insert(t.alert_deliveries)
            .values(**row)
            .on_conflict_do_nothing(
                index_elements=["rule", "subject", "window_start", "window_end"]
            )
            .returning(_D.delivery_id)
        ).first()
        if inserted is None:
            return Delivery(**{**_public(row), "status": "claimed"})
        return None

    def _send(self, rule: AlertRule, row: dict[str, Any]) -> Delivery:
        errors: list[str] = []
        attempts = 0
        body = row["payload"].encode()
        if rule.webhook is not None:
            from mlstage.monitoring.webhooks import (
                RETRY_DELAYS,
                allowed_networks,
                send_webhook,
                system_resolver,
            )

            try:
                secret = rule.webhook.key()
                outcome = send_webhook(
                    rule.webhook.url,
                    body,
                    secret=secret,
                    delivery_id=row["delivery_id"],
                    allowed=allowed_networks(self.settings.alert_allowed_networks),
                    timeout=self.settings.alert_webhook_timeout,
                    resolver=self.resolver or system_resolver,
                    retry_delays=RETRY_DELAYS if self.retry_delays is None else self.retry_delays,
                    sleep=self.sleep,
                )
                attempts += outcome.attempts
                if not outcome.delivered:
                    errors.append(f"webhook: {outcome.error}")
            except Exception as exc:  # a bad setting or secret must still be recorded
                errors.append(f"webhook: {exc}")
        if rule.email is not None:
            from mlstage.monitoring.email import send_email

            try:
                attempts += send_email(self.settings, rule, row, sleep=self.sleep)
            except Exception as exc:
                errors.append(f"email: {exc}")
        status = "failed" if errors else "delivered"
        error = "; ".join(errors)[:4000]
        now = self.clock()

        def work(conn: Connection) -> None:
            conn.execute(
                update(t.alert_deliveries)
                .where(_D.delivery_id == row["delivery_id"])
                .values(status=status, attempts=attempts, error=error, updated_at=now)
            )

        self.db.write(work)
        changed = {"status": status, "attempts": attempts, "error": error, "updated_at": now}
        return Delivery(**{**_public(row), **changed})

    def list(self, subject: str | None = None, limit: int = 100) -> list[Delivery]:
        """Deliveries, newest first."""
        query = select(t.alert_deliveries)
        if subject is not None:
            query = query.where(_D.subject == subject)
        query = query.order_by(_D.created_at.desc()).limit(limit)
        with self.db.read() as conn:
            rows = conn.execute(query).all()
        return [Delivery(**_public(r._asdict())) for r in rows]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    keep = set(Delivery.model_fields)
    return {k: v for k, v in row.items() if k in keep}
