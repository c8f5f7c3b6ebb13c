"""Alert e-mails through the SMTP server of the ``alert_smtp_host`` setting (``smtplib``).

The message is plain text: the rule, the subject, the window and the
results that fired it, with the delivery id in an ``X-Mlstage-Delivery``
header. A failed attempt is retried twice, after 1 and 4 seconds.
"""

from __future__ import annotations

import json
import smtplib
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from mlstage.config import Settings
    from mlstage.monitoring.definitions import AlertRule

RETRY_DELAYS = (1.0, 4.0)


def smtp_address(value: str) -> tuple[str, int]:
    """``host:port`` (port 25 when absent) of the setting; ``InvalidInput`` when unset or bad."""
    if not value:
        raise InvalidInput("e-mail alerts need the alert_smtp_host setting (host:port)")
    host, _, port = value.rpartition(":") if ":" in value else (value, "", "25")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"alert_smtp_host must be host:port, got {value!r}")
    return host.strip("[]"), int(port)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def message(settings: Settings, rule: AlertRule, row: dict[str, Any]) -> EmailMessage:
    assert rule.email is not None
    payload = json.loads(row["payload"])
    lines = [
        f"Alert rule {rule.name!r} fired for {row['subject']!r}.",
        f"Window: {_when(row['window_start'])} to {_when(row['window_end'])}.",
        "",
    ]
    for result in payload["results"][:50]:
        value = "n/a" if result["value"] is None else f"{result['value']:.6g}"
        lines.append(f"  {result['monitor']} / {result['metric']}: {value} ({result['status']})")
    lines += ["", f"Delivery id: {row['delivery_id']}"]
    mail = EmailMessage()
    mail["Subject"] = f"[mlstage] {rule.name}: {row['subject']}"
    mail["From"] = settings.alert_smtp_sender
    mail["To"] = ", ".join(rule.email.to)
    mail["X-Mlstage-Delivery"] = row["delivery_id"]
    mail.set_content("\n".join(lines) + "\n")
    return mail


def send_email(
    settings: Settings,
    rule: AlertRule,
    row: dict[str, Any],
    *,
    sleep: Callable[[float], None],
) -> int:
    """Send the alert; the number of attempts. Raises once every attempt failed."""
    host, port = smtp_address(settings.alert_smtp_host)
    mail = message(settings, rule, row)
    attempts = 0
    for attempt in range(len(RETRY_DELAYS) + 1):
        if attempt:
            sleep(RETRY_DELAYS[attempt - 1])
        attempts += 1
        try:
            with smtplib.SMTP(host, port, timeout=settings.alert_webhook_timeout) as smtp:
                smtp.send_message(mail)
            return attempts
        except OSError:  # smtplib's errors are OSErrors
            if attempt == len(RETRY_DELAYS):
                raise
    return attempts
