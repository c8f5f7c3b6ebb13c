"""Five-field cron expressions (minute hour day-of-month month day-of-week), in UTC.

A small parser instead of a dependency: numbers, ``*``, ranges ``a-b``,
steps ``*/n`` and ``a-b/n``, lists ``a,b``, month and weekday names
(``jan``, ``mon``), 0 or 7 for Sunday, and the macros ``@hourly``,
``@daily``/``@midnight``, ``@weekly``, ``@monthly``, ``@yearly``/``@annually``.
As in Vixie cron, when both day fields are restricted a day matches if
either does. Times are UTC.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mlstage.errors import InvalidInput

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {d.lower(): (i + 1) % 7 for i, d in enumerate(calendar.day_abbr)}  # mon=1 .. sun=0
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_SEARCH_YEARS = 5


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    def matches(self, when: datetime) -> bool:
        return (
            when.minute in self.minutes
            and when.hour in self.hours
            and when.month in self.months
            and self._day_matches(when)
        )

    def _day_matches(self, when: datetime) -> bool:
        day_ok = when.day in self.days
        weekday_ok = (when.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return weekday_ok
        if self.any_weekday:
            return day_ok
        return day_ok or weekday_ok

    def next_after(self, when: datetime) -> datetime:
        """The first matching minute strictly after ``when`` (UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        t = when.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t.year + _SEARCH_YEARS
        while t.year <= limit:
            if t.month not in self.months:
                year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
                t = t.replace(year=year, month=month, day=1, hour=0, minute=0)
                continue
            if not self._day_matches(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0)
                continue
            if t.minute not in self.minutes:
                t = t + timedelta(minutes=1)
                continue
            return t
        raise InvalidInput(
            f"cron {self.expression!r} never matches within {_SEARCH_YEARS} years (e.g. 30 2 *)"
        )

    def next_after_ms(self, ms: int) -> int:
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
        return int(self.next_after(moment).timestamp() * 1000)


def parse_cron(expression: str) -> Cron:
    """Parse a cron expression; the error names the field and the bad part."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInput(f"a cron expression is 5 fields, got {expression!r}")
    text = _MACROS.get(expression.strip().lower(), expression.strip())
    parts = text.split()
    if len(parts) != 5:
        raise InvalidInput(
            f"cron {expression!r} has {len(parts)} field(s); expected 5: "
            "minute hour day-of-month month day-of-week (e.g. '0 2 * * *')"
        )
    values = [
        _parse_field(part, name, low, high, names, expression)
        for part, (name, low, high, names) in zip(parts, _FIELDS, strict=True)
    ]
    weekdays = frozenset(d % 7 for d in values[4])
    return Cron(
        expression=expression,
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        any_day=parts[2] in ("*", "?"),
        any_weekday=parts[4] in ("*", "?"),
    )


def _parse_field(
    part: str, name: str, low: int, high: int, names: dict[str, int], expression: str
) -> frozenset[int]:
    found: set[int] = set()
    for item in part.split(","):
        problem = f"cron {expression!r}: {name} field {part!r}"
        if not item:
            raise InvalidInput(f"{problem} has an empty item")
        range_part, _, step_part = item.partition("/")
        step = 1
        if step_part:
            if not step_part.isdigit() or int(step_part) == 0:
                raise InvalidInput(f"{problem}: step {step_part!r} must be a whole number >= 1")
            step = int(step_part)
        if range_part in ("*", "?"):
            start, end = low, high
        elif "-" in range_part:
            first, _, last = range_part.partition("-")
            start = _value(first, low, high, names, problem)
            end = _value(last, low, high, names, problem)
            if start > end:
                raise InvalidInput(f"{problem}: range {range_part!r} runs backwards")
        else:
            start = _value(range_part, low, high, names, problem)
            end = high if step_part else start
        found.update(range(start, end + 1, step))
    return frozenset(found)


def _value(text: str, low: int, high: int, names: dict[str, int], problem: str) -> int:
    lowered = text.lower()
    if lowered in names:
        return names[lowered]
    if not text.isdigit():
        raise InvalidInput(f"{problem}: {text!r} is not a number or a name")
    number = int(text)
    if not low <= number <= high:
        raise InvalidInput(f"{problem}: {number} is outside {low}-{high}")
    return number
