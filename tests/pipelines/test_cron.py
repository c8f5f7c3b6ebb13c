"""The 5-field cron parser: fields, names, macros, day-of-month/day-of-week rules, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlstage.errors import InvalidInput
from mlstage.pipelines.cron import parse_cron


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 2 * * *", at(2026, 11, 26, 18, 0), at(2026, 11, 27, 2, 0)),
        ("0 2 * * *", at(2026, 11, 27, 1, 59, 30), at(2026, 11, 27, 2, 0)),
        ("0 2 * * *", at(2026, 11, 27, 2, 0), at(2026, 11, 28, 2, 0)),  # strictly after
        ("*/15 * * * *", at(2026, 1, 1, 0, 7), at(2026, 1, 1, 0, 15)),
        ("5-10/2 * * * *", at(2026, 1, 1, 0, 7), at(2026, 1, 1, 0, 9)),
        ("0 0 1 * *", at(2026, 12, 15), at(2027, 1, 1)),
        ("0 9 * * mon-fri", at(2026, 11, 27, 10, 0), at(2026, 11, 30, 9, 0)),  # Fri -> Mon
        ("0 0 * * 7", at(2026, 11, 26), at(2026, 11, 29)),  # 7 is Sunday too
        ("0 0 29 feb *", at(2026, 3, 1), at(2028, 2, 29)),
        ("0 0 13 * fri", at(2026, 11, 1), at(2026, 11, 6)),  # either day field matches
        ("30 6 * jan,jul *", at(2026, 2, 1), at(2026, 7, 1, 6, 30)),
        ("@hourly", at(2026, 1, 1, 10, 30), at(2026, 1, 1, 11, 0)),
        ("@weekly", at(2026, 11, 26), at(2026, 11, 29)),
        ("@yearly", at(2026, 6, 1), at(2027, 1, 1)),
    ],
)
def test_next_after(expression: str, after: datetime, expected: datetime) -> None:
    assert parse_cron(expression).next_after(after) == expected


def test_next_after_in_milliseconds_is_utc() -> None:
    cron = parse_cron("0 2 * * *")
    start = int(at(2026, 11, 26, 18, 0).timestamp() * 1000)
    assert cron.next_after_ms(start) == int(at(2026, 11, 27, 2, 0).timestamp() * 1000)


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("0 2 * *", "has 4 field\\(s\\); expected 5"),
        ("60 * * * *", "minute field '60': 60 is outside 0-59"),
        ("0 24 * * *", "hour field '24': 24 is outside 0-23"),
        ("0 0 0 * *", "day of month field '0': 0 is outside 1-31"),
        ("0 0 * 13 *", "month field '13'"),
        ("*/0 * * * *", "step '0' must be a whole number >= 1"),
        ("5-1 * * * *", "range '5-1' runs backwards"),
        ("x * * * *", "'x' is not a number or a name"),
        ("1,,2 * * * *", "has an empty item"),
        ("", "a cron expression is 5 fields"),
    ],
)
def test_bad_expressions_name_the_field(expression: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        parse_cron(expression)


def test_an_expression_that_never_matches_is_an_error() -> None:
    with pytest.raises(InvalidInput, match="never matches"):
        parse_cron("0 0 31 feb *").next_after(at(2026, 1, 1))
