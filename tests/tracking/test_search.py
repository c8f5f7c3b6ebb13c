"""The search grammar on its own: what parses, and where errors point."""

from __future__ import annotations

import pytest

from mlstage.errors import InvalidInput
from mlstage.tracking.search import Clause, OrderBy, parse_filter, parse_order_by


def test_parses_every_entity_and_operator() -> None:
    clauses = parse_filter(
        "metrics.x > 0.9 and params.y = 'z' and tags.t != 'a' and attributes.status = 'FINISHED'"
        " AND metrics.`my-metric` <= -1e-3 and params.\"odd key\" LIKE 'a%' and tags.k IN ('a', 'b')"
        " and attr.name NOT IN ('x') and attributes.start_time >= 5"
    )
    assert clauses == [
        Clause("metric", "x", ">", 0.9),
        Clause("param", "y", "=", "z"),
        Clause("tag", "t", "!=", "a"),
        Clause("attribute", "status", "=", "FINISHED"),
        Clause("metric", "my-metric", "<=", -0.001),
        Clause("param", "odd key", "LIKE", "a%"),
        Clause("tag", "k", "IN", ("a", "b")),
        Clause("attribute", "run_name", "NOT IN", ("x",)),
        Clause("attribute", "start_time", ">=", 5.0),
    ]


def test_quotes_are_escaped_by_doubling() -> None:
    assert parse_filter("params.p = 'it''s'") == [Clause("param", "p", "=", "it's")]


def test_empty_filter_is_no_clause() -> None:
    assert parse_filter(None) == [] == parse_filter("   ")


def test_error_points_at_the_offending_token() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_filter("metrics.acc > 0.9 OR 1=1")
    message = str(caught.value)
    assert message.startswith("invalid filter at position 18: expected AND or the end")
    assert message.splitlines()[-1] == "  " + " " * 18 + "^"


def test_unknown_attribute_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="unknown attribute 'password'; known: end_time"):
        parse_filter("attributes.password = 'x'")


def test_overlong_filter_is_refused() -> None:
    with pytest.raises(InvalidInput, match="the limit is 10000"):
        parse_filter("params.a = '" + "x" * 10_000 + "'")


def test_order_by() -> None:
    assert parse_order_by(["metrics.auc DESC", "params.n", "attributes.start_time asc"]) == [
        OrderBy("metric", "auc", False),
        OrderBy("param", "n", True),
        OrderBy("attribute", "start_time", True),
    ]
    with pytest.raises(InvalidInput, match="expected metrics.<key>"):
        parse_order_by(["auc DESC"])
