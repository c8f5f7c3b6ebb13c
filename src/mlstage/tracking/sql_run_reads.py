"""Whole runs read for a search: as ``Run`` entities, as JSON text, or as an Arrow table.

Each reads a fixed number of queries for any number of runs (in chunks of
ids). The JSON and table forms do not bring a row per metric into Python:
the database aggregates each run's metrics, params and tags into one JSON
object each (metrics from ``latest_metrics.value_json``, the exact JSON token
of each value), so 10,000 runs of 50 metrics are 10,000 rows, not 650,000.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, Text, bindparam, cast, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.elements import BindParameter

from mlstage.store import tables as t
from mlstage.tracking import sql_json
from mlstage.tracking.entities import DatasetInput, Run
from mlstage.tracking.sql_rows import NAN, input_entity, run_entity

if TYPE_CHECKING:
    import pyarrow as pa

CHUNK = 5000
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_lm = t.latest_metrics.c
RUN_QUERIES = {
    "runs": select(t.runs).where(t.runs.c.run_id.in_(_IDS)),
    "metrics": select(_lm.run_id, _lm.key, _lm.value).where(_lm.run_id.in_(_IDS)),
    "params": select(t.params).where(t.params.c.run_id.in_(_IDS)),
    "tags": select(t.tags).where(t.tags.c.run_id.in_(_IDS)),
    "inputs": select(t.run_inputs.c.run_id, t.run_inputs.c.context, t.datasets)
    .join(t.datasets, t.datasets.c.dataset_id == t.run_inputs.c.dataset_id)
    .where(t.run_inputs.c.run_id.in_(_IDS)),
}
"""What a whole run is read with, as rows."""


@cache
def object_queries(dialect: str) -> dict[str, Any]:
    """``(run_id, {...})`` per run: metrics, params and tags as JSON object text.

    Also ``metric_lists``: ``(run_id, "k1,k2", "v1,v2")``, a run's metric keys and
    their values as JSON tokens, for the table. Metric keys need no escaping and
    hold no comma: they are letters, digits, spaces and ``_ - . : /``
    (``validation.check_key``); params and tags go through the database's JSON
    functions, which escape any text.
    """
    member = literal('"') + _lm.key + literal('":') + _lm.value_json
    if dialect == "postgresql":
        metrics = literal("{") + func.string_agg(member, literal(",")) + literal("}")
        lists = [
            func.string_agg(column, aggregate_order_by(literal(","), _lm.key))
            for column in (_lm.key, _lm.value_json)
        ]

        def text_object(table: Any) -> Any:
            return cast(func.json_object_agg(table.c.key, table.c.value), Text)
    else:
        metrics = literal("{") + func.group_concat(member, literal(",")) + literal("}")
        # Both aggregates of one group see its rows in the same order: the lists align.
        lists = [func.group_concat(column, literal(",")) for column in (_lm.key, _lm.value_json)]

        def text_object(table: Any) -> Any:
            return func.json_group_object(table.c.key, table.c.value)

    queries = {
        "metrics": select(_lm.run_id, metrics).where(_lm.run_id.in_(_IDS)).group_by(_lm.run_id),
        "metric_lists": select(_lm.run_id, *lists).where(_lm.run_id.in_(_IDS)).group_by(_lm.run_id),
    }
    for name, table in (("params", t.params), ("tags", t.tags)):
        queries[name] = (
            select(table.c.run_id, text_object(table))
            .where(table.c.run_id.in_(_IDS))
            .group_by(table.c.run_id)
        )
    return queries


def chunks(run_ids: list[str]) -> Iterator[dict[str, list[str]]]:
    for start in range(0, len(run_ids), CHUNK):
        yield {"ids": run_ids[start : start + CHUNK]}


def _objects(
    conn: Connection, run_ids: list[str], metrics_as: str = "metrics"
) -> tuple[dict[str, Row[Any]], dict[str, Any], dict[str, str], dict[str, str]]:
    """The ``runs`` rows and the metrics, params and tags objects (JSON text) by run id.

    ``metrics_as="metric_lists"`` gives (keys, values) text pairs for metrics instead.
    """
    queries = object_queries(conn.dialect.name)
    rows: dict[str, Row[Any]] = {}
    metrics: dict[str, Any] = {}
    params: dict[str, str] = {}
    tags: dict[str, str] = {}
    for chunk in chunks(run_ids):
        rows.update((row.run_id, row) for row in conn.execute(RUN_QUERIES["runs"], chunk))
        metrics.update((r[0], r[1] if len(r) == 2 else r[1:]) for r in
                       _plain_rows(conn, queries[metrics_as], chunk))  # fmt: skip
        params.update(_plain_rows(conn, queries["params"], chunk))
        tags.update(_plain_rows(conn, queries["tags"], chunk))
    return rows, metrics, params, tags


def _plain_rows(conn: Connection, query: Any, params: dict[str, Any]) -> list[Any]:
    """The driver's own tuples, fetched at once, without a ``Row`` for each."""
    result = conn.execute(query, params)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def load_runs(conn: Connection, run_ids: list[str]) -> list[Run]:
    """Whole runs for ``run_ids``, in that order (missing ones left out)."""
    if not run_ids:
        return []
    rows: dict[str, Row[Any]] = {}
    metrics: dict[str, dict[str, float]] = defaultdict(dict)
    params: dict[str, dict[str, str]] = defaultdict(dict)
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    inputs: dict[str, list[DatasetInput]] = defaultdict(list)
    for chunk in chunks(run_ids):
        for row in conn.execute(RUN_QUERIES["runs"], chunk):
            rows[row.run_id] = row
        for run_id, key, value in conn.execute(RUN_QUERIES["metrics"], chunk):
            metrics[run_id][key] = NAN if value is None else value
        for run_id, key, value in conn.execute(RUN_QUERIES["params"], chunk):
            params[run_id][key] = value
        for run_id, key, value in conn.execute(RUN_QUERIES["tags"], chunk):
            tags[run_id][key] = value
        for row in conn.execute(RUN_QUERIES["inputs"], chunk):
            inputs[row.run_id].append(input_entity(row))
    return [
        run_entity(rows[i], metrics[i], params[i], tags[i], inputs[i]) for i in run_ids if i in rows
    ]


def load_runs_json(conn: Connection, run_ids: list[str]) -> list[str]:
    """The JSON of each run of ``run_ids`` (as ``Run`` renders), in that order."""
    rows, metrics, params, tags = _objects(conn, run_ids)
    inputs: dict[str, list[DatasetInput]] = defaultdict(list)
    for chunk in chunks(run_ids):
        for row in conn.execute(RUN_QUERIES["inputs"], chunk):
            inputs[row.run_id].append(input_entity(row))
    return [
        sql_json.run_json(
            rows[i], metrics.get(i, "{}"), params.get(i, "{}"), tags.get(i, "{}"), inputs.get(i, [])
        )
        for i in run_ids
        if i in rows
    ]


def load_runs_table(conn: Connection, run_ids: list[str], token: str | None) -> pa.Table:
    """The runs of ``run_ids`` as one Arrow table (``runs_table``), in that order."""
    from mlstage.tracking.runs_table import runs_table

    rows, metrics, params, tags = _objects(conn, run_ids, "metric_lists")
    ordered = [rows[i] for i in run_ids if i in rows]
    loads = json.loads
    return runs_table(
        ordered,
        [metrics.get(r.run_id) for r in ordered],
        [loads(params[r.run_id]) if r.run_id in params else None for r in ordered],
        [loads(tags[r.run_id]) if r.run_id in tags else None for r in ordered],
        token,
    )
