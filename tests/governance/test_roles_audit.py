"""Roles, scopes, throttling and the CSV export: the pure parts of governance."""

from __future__ import annotations

import csv
import io

import pytest

from mlstage.errors import InvalidInput
from mlstage.governance import roles
from mlstage.governance.audit import safe_cell, to_csv
from mlstage.governance.entities import AuditEntry
from mlstage.governance.throttle import LoginThrottle, TooManyAttempts
from mlstage.governance.tokens import parse_lifetime


def test_roles_are_ordered_and_scopes_cap_them() -> None:
    assert roles.allows("maintainer", "contributor")
    assert not roles.allows("contributor", "maintainer")
    assert not roles.allows(None, "viewer")
    assert roles.capped("admin", "read") == "viewer"
    assert roles.capped("admin", "write") == "maintainer"
    assert roles.capped("contributor", "admin") == "contributor"
    assert roles.capped("viewer", None) == "viewer"
    assert [roles.widest_scope(r) for r in roles.ROLES] == ["read", "write", "write", "admin"]


def test_every_mapped_route_names_a_known_role() -> None:
    for (method, path), action in roles.ROUTE_ACTIONS.items():
        assert action.role in roles.ROLES, (method, path)
        assert path.startswith(("/api/v1/", "/logout", "/audit")), path
    assert roles.action_for("GET", "/api/v1/anything").role == "viewer"
    assert roles.action_for("POST", "/api/v1/new-thing").role == "admin"  # fail closed


@pytest.mark.parametrize(
    ("text", "ms"), [("30d", 30 * 86_400_000), ("12h", 43_200_000), ("2w", 1_209_600_000)]
)
def test_token_lifetimes_parse(text: str, ms: int) -> None:
    assert parse_lifetime(text) == ms


@pytest.mark.parametrize("text", ["", "30", "0d", "400d", "-1d", "1y", "never"])
def test_bad_token_lifetimes_say_how_to_write_one(text: str) -> None:
    with pytest.raises(InvalidInput, match="token expiry"):
        parse_lifetime(text)


@pytest.mark.parametrize(
    "value", ['=HYPERLINK("http://evil","x")', "+cmd", "@SUM(1)", "-1+1", "\tx", "\r=1"]
)
def test_csv_cells_a_spreadsheet_would_run_are_escaped(value: str) -> None:
    assert safe_cell(value) == "'" + value
    entry = AuditEntry(
        entry_id=1,
        at=0,
        actor=value,
        action="run.create",
        object_type="run",
        object_id=value,
        address="",
    )
    rows = list(csv.reader(io.StringIO(to_csv([entry]))))
    assert rows[1][2] == "'" + value and rows[1][5] == "'" + value


def test_plain_cells_are_kept() -> None:
    assert safe_cell("ada") == "ada"
    assert safe_cell(None) == ""
    assert safe_cell({"a": 1}) == '{"a": 1}'


def test_login_failures_lock_a_name_then_back_off() -> None:
    now = [0.0]
    throttle = LoginThrottle(max_failures=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        throttle.check("user:ada", "ip:1")
        throttle.failed("user:ada", "ip:1")
    with pytest.raises(TooManyAttempts) as caught:
        throttle.check("user:ada", "ip:1")
    assert 1 <= caught.value.retry_after <= 60
    throttle.check("user:bob", "ip:2")  # others are not locked out
    now[0] += 61
    throttle.check("user:ada", "ip:1")


def test_an_address_spraying_many_names_is_throttled() -> None:
    throttle = LoginThrottle(max_failures=2, window=60, ip_factor=4, clock=lambda: 0.0)
    for i in range(8):
        throttle.check(f"user:u{i}", "ip:9")
        throttle.failed(f"user:u{i}", "ip:9")
    with pytest.raises(TooManyAttempts):
        throttle.check("user:fresh", "ip:9")
