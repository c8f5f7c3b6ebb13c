"""Alerts: signed webhooks retried against a receiver on 127.0.0.1, cool-down, delivered once,
internal addresses refused (by the check function alone: nothing leaves), e-mail over SMTP."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import threading

import pytest

from mlstage.errors import Forbidden
from mlstage.monitoring.alerts import AlertSender
from mlstage.monitoring.definitions import AlertRule, Monitoring
from mlstage.monitoring.results import MetricResult
from mlstage.monitoring.webhooks import allowed_networks, check_target
from tests.monitoring.conftest import HOUR, T0, Env, Mailbox, Receiver, body_json

SECRET = "s3cret"
LOOPBACK = ("127.0.0.1/32",)


def result(value: float, window_end: int = T0, status: str = "ok") -> MetricResult:
    return MetricResult(
        subject="churn",
        model="churn",
        monitor="feature_drift",
        window_start=window_end - 24 * HOUR,
        window_end=window_end,
        metric="drift_share",
        value=value,
        status=status,  # type: ignore[arg-type]
    )


def monitoring(url: str, cooldown: str = "1h", **extra: object) -> Monitoring:
    rule = AlertRule.model_validate(
        {
            "name": "drift",
            "metric": "drift_share",
            "comparison": ">=",
            "threshold": 0.5,
            "cooldown": cooldown,
            "webhook": {"url": url, "secret": SECRET},
            **extra,
        }
    )
    return Monitoring(model="churn", alerts=[rule])


def sender(env: Env, clock: list[int], **kwargs: object) -> AlertSender:
    settings = dataclasses.replace(env.settings, alert_allowed_networks=LOOPBACK)
    return AlertSender(
        env.db,
        settings,
        clock=lambda: clock[0],
        sleep=lambda s: None,
        retry_delays=(0.0, 0.0, 0.0),
        **kwargs,  # type: ignore[arg-type]
    )


def test_webhooks_are_signed_and_retried_until_the_receiver_answers(
    sqlite_env: Env, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    [delivery] = sender(sqlite_env, [T0]).process(monitoring(receiver.url), [result(0.8)])
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    [got] = receiver.received
    expected = hmac.new(SECRET.encode(), got["body"], hashlib.sha256).hexdigest()
    assert got["headers"]["x-mlstage-signature"] == f"sha256={expected}"
    assert got["headers"]["x-mlstage-delivery"] == delivery.delivery_id
    payload = body_json(got)
    assert payload["rule"] == "drift" and payload["results"][0]["value"] == 0.8
    assert payload["delivery_id"] == delivery.delivery_id


def test_a_receiver_that_keeps_failing_leaves_a_failed_delivery(
    sqlite_env: Env, receiver: Receiver
) -> None:
    receiver.fail_first = 99
    alerts = sender(sqlite_env, [T0])
    [delivery] = alerts.process(monitoring(receiver.url), [result(0.8)])
    assert (delivery.status, delivery.attempts) == ("failed", 4)
    assert "503" in delivery.error
    assert [d.status for d in alerts.list("churn")] == ["failed"]


def test_results_below_the_threshold_send_nothing(sqlite_env: Env, receiver: Receiver) -> None:
    assert sender(sqlite_env, [T0]).process(monitoring(receiver.url), [result(0.2)]) == []
    assert receiver.calls == 0


def test_the_cooldown_holds_back_later_windows_then_lets_them_through(
    sqlite_env: Env, receiver: Receiver
) -> None:
    clock = [T0]
    alerts = sender(sqlite_env, clock)
    rules = monitoring(receiver.url, cooldown="2h")
    assert [d.status for d in alerts.process(rules, [result(0.9, T0)])] == ["delivered"]
    clock[0] = T0 + HOUR
    assert [d.status for d in alerts.process(rules, [result(0.9, T0 + HOUR)])] == ["cooldown"]
    clock[0] = T0 + 3 * HOUR
    assert [d.status for d in alerts.process(rules, [result(0.9, T0 + 3 * HOUR)])] == ["delivered"]
    assert len(receiver.received) == 2


def test_two_schedulers_deliver_a_window_once(env: Env, receiver: Receiver) -> None:
    rules = monitoring(receiver.url)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def run(name: str) -> None:
        alerts = sender(env, [T0], claimant=name)
        barrier.wait()
        outcomes.extend(d.status for d in alerts.process(rules, [result(0.9)]))

    threads = [threading.Thread(target=run, args=(f"scheduler-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["claimed", "claimed", "claimed", "delivered"]
    assert len(receiver.received) == 1


def test_status_rules_and_email_alerts(sqlite_env: Env, smtp: Mailbox) -> None:
    rule = AlertRule.model_validate(
        {"name": "any-alert", "status": "alert", "email": {"to": ["ops@example.com"]}}
    )
    settings = dataclasses.replace(sqlite_env.settings, alert_smtp_host=smtp.host)
    alerts = AlertSender(sqlite_env.db, settings, clock=lambda: T0, sleep=lambda s: None)
    rules = Monitoring(model="churn", alerts=[rule])
    assert alerts.process(rules, [result(0.9, status="warn")]) == []
    [delivery] = alerts.process(rules, [result(0.9, status="alert")])
    assert delivery.status == "delivered"
    [mail] = smtp.messages
    assert mail["to"] == ["<ops@example.com>"]
    assert "Subject: [mlstage] any-alert: churn" in mail["data"]
    assert "feature_drift / drift_share: 0.9 (alert)" in mail["data"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.1/hook", "private"),
        ("http://[::1]:8080/hook", "loopback"),
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://[::ffff:10.1.2.3]/hook", "private"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://hooks.example.com/x", "private"),  # resolves (below) to 192.168.1.5
    ],
)
def test_internal_webhook_addresses_are_refused(url: str, why: str) -> None:
    def resolver(host: str, port: int) -> list[str]:
        assert host == "hooks.example.com"
        return ["192.168.1.5"]

    with pytest.raises(Forbidden, match=why):
        check_target(url, allowed_networks(()), resolver)


def test_a_name_with_one_internal_address_among_public_ones_is_refused() -> None:
    with pytest.raises(Forbidden, match="10.9.9.9"):
        check_target("https://hooks.example.com/x", [], lambda h, p: ["93.184.216.34", "10.9.9.9"])


def test_allowed_networks_let_internal_addresses_through_and_the_checked_address_is_used() -> None:
    allowed = allowed_networks(["10.0.0.0/8", "::1/128"])
    target = check_target("https://hooks.internal:8443/x?a=1", allowed, lambda h, p: ["10.2.3.4"])
    assert target.connect_url == "https://10.2.3.4:8443/x?a=1"
    assert target.host_header == "hooks.internal:8443"
    assert check_target("http://[::1]/h", allowed).connect_url == "http://[::1]:80/h"
    public = check_target("https://hooks.example.com/x", [], lambda h, p: ["93.184.216.34"])
    assert public.address == "93.184.216.34"
