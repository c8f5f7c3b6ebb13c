"""Compile parsed search clauses into one parameterised SELECT of run ids.

Metric clauses join ``latest_metrics`` (one row per run and key, indexed by
key and value), so a filter and an order over 10,000 runs stay one indexed
query. Nothing from the user is ever formatted into SQL text.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.sql.elements import ColumnElement as _Col

from mlstage.errors import InvalidInput
from mlstage.store import tables as t
from mlstage.tracking.search import Clause, OrderBy

_ATTRIBUTE_COLUMNS = {
    "run_id": t.runs.c.run_id,
    "run_name": t.runs.c.name,
    "status": t.runs.c.status,
    "user": t.runs.c.user,
    "git_commit": t.runs.c.git_commit,
    "experiment_id": t.runs.c.experiment_id,
    "start_time": t.runs.c.start_time,
    "end_time": t.runs.c.end_time,
}
_KEYED_TABLES = {"metric": t.latest_metrics, "param": t.params, "tag": t.tags}


_OPERATORS: dict[str, Callable[[ColumnElement[Any], Any], Any]] = {
    "=": lambda column, value: column == value,
    "!=": lambda column, value: column != value,
    ">": lambda column, value: column > value,
    ">=": lambda column, value: column >= value,
    "<": lambda column, value: column < value,
    "<=": lambda column, value: column <= value,
    "LIKE": lambda column, value: column.like(value),
    "ILIKE": lambda column, value: column.ilike(value),
    "IN": lambda column, value: column.in_(list(value)),
    "NOT IN": lambda column, value: column.not_in(list(value)),
}


def _compare(column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    compare = _OPERATORS.get(op)
    if compare is None:
        raise InvalidInput(f"unsupported operator {op}")
    return cast(ColumnElement[bool], compare(column, value))


def build_run_id_query(
    experiment_ids: Sequence[int],
    clauses: Sequence[Clause],
    order_by: Sequence[OrderBy],
    limit: int,
    offset: int,
) -> Select[Any]:
    query = select(t.runs.c.run_id).where(
        t.runs.c.experiment_id.in_(list(experiment_ids)),
        t.runs.c.lifecycle_stage == "active",
    )
    for i, clause in enumerate(clauses):
        if clause.kind == "attribute":
            column: ColumnElement[Any] = _ATTRIBUTE_COLUMNS[clause.key]
            value = clause.value
            if clause.key == "experiment_id":
                value = _experiment_id_value(value)
            query = query.where(_compare(column, clause.op, value))
            continue
        table = _KEYED_TABLES[clause.kind].alias(f"f{i}")
        query = query.join(
            table, and_(table.c.run_id == t.runs.c.run_id, table.c.key == clause.key)
        ).where(_compare(table.c.value, clause.op, clause.value))
    order_columns: list[_Col[Any]] = []
    for j, order in enumerate(order_by):
        if order.kind == "attribute":
            column = _ATTRIBUTE_COLUMNS[order.key]
        else:
            table = _KEYED_TABLES[order.kind].alias(f"o{j}")
            query = query.outerjoin(
                table, and_(table.c.run_id == t.runs.c.run_id, table.c.key == order.key)
            )
            column = table.c.value
        directed = column.asc() if order.ascending else column.desc()
        order_columns.append(directed.nulls_last())
    order_columns += [t.runs.c.start_time.desc(), t.runs.c.run_id.asc()]
    return query.order_by(*order_columns).limit(limit).offset(offset)


def _experiment_id_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_experiment_id_value(v) for v in value)
    try:
        return int(value)
    except ValueError as exc:
        raise InvalidInput(
            f"attributes.experiment_id compares with a number, got {value!r}"
        ) from exc


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"page_token {token[:40]!r} is not a token this server issued") from exc
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInput(f"page_token {token[:40]!r} is not a token this server issued")
    return offset
