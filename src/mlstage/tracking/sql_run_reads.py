"""Whole runs read for a search: as ``Run`` entities, as JSON text, or as an Arrow table.

The entity form reads rows in chunks of ids. The JSON and table forms do not
bring a row per metric into Python: the database aggregates each run's
metrics (``latest_metrics.json_member``, each metric's ``"key":value``
written with it), params and tags into one text each, so 10,000 runs of 50
metrics are 10,000 rows, not 650,000; and the ids go in as one parameter (a
JSON array on SQLite, an array on PostgreSQL), not as thousands of bound
values to expand.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ARRAY,
    JSON,
    Connection,
    Row,
    String,
    Text,
    any_,
    bindparam,
    case,
    cast,
    func,
    literal,
    select,
)
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
"""What a whole run is read with, as rows (ids in chunks)."""


@cache
def text_queries(dialect: str) -> dict[str, Any]:
    """Per run: ``runs`` row, metrics as ``"k":v,...`` text, params and tags as JSON objects;
    and the ``*_all`` forms: one text for all runs, in one row.

    Params and tags go through the database's JSON functions, which escape any text.
    One row for all runs is one step of the driver: the database aggregates
    without Python's lock taken and given back for every run, and the caller
    parses one text instead of thousands. ``metrics_all`` is ``run_id<TAB>members``
    lines (run ids and metric keys hold no tab or newline); ``params_all`` and
    ``tags_all`` are one JSON object of run id to object.
    """
    if dialect == "postgresql":
        ids = bindparam("ids", type_=ARRAY(String))

        def among(column: Any) -> Any:
            return column == any_(ids)

        members = func.string_agg(_lm.json_member, literal(","))
        lines: Any = func.string_agg

        def json_object(table: Any) -> Any:
            return func.json_object_agg(table.c.key, table.c.value)

        def nested(run_id: Any, obj: Any) -> Any:
            return cast(func.json_object_agg(run_id, obj), Text)

        def text_object(table: Any) -> Any:
            return cast(json_object(table), Text)
    else:
        listed = select(func.json_each(bindparam("ids")).table_valued("value").c.value)

        def among(column: Any) -> Any:
            return column.in_(listed.scalar_subquery())

        members = func.group_concat(_lm.json_member, literal(","))
        lines = func.group_concat

        def json_object(table: Any) -> Any:
            return func.json_group_object(table.c.key, table.c.value)

        def nested(run_id: Any, obj: Any) -> Any:
            return func.json_group_object(run_id, func.json(obj))

        text_object = json_object

    r = t.runs.c
    metrics = select(_lm.run_id, members.label("m")).where(among(_lm.run_id)).group_by(_lm.run_id)
    per_run = metrics.subquery()
    queries: dict[str, Any] = {
        "heads": select(r.run_id, head_json(dialect)).where(among(r.run_id)),
        "metrics_all": select(lines(per_run.c.run_id + literal("\t") + per_run.c.m, literal("\n"))),
        "inputs": select(t.run_inputs.c.run_id, t.run_inputs.c.context, t.datasets)
        .join(t.datasets, t.datasets.c.dataset_id == t.run_inputs.c.dataset_id)
        .where(among(t.run_inputs.c.run_id)),
    }
    for name, table in (("params", t.params), ("tags", t.tags)):
        where = among(table.c.run_id)
        queries[name] = (
            select(table.c.run_id, text_object(table)).where(where).group_by(table.c.run_id)
        )
        objects = (
            select(table.c.run_id, json_object(table).label("o"))
            .where(where)
            .group_by(table.c.run_id)
            .subquery()
        )
        queries[f"{name}_all"] = select(nested(objects.c.run_id, objects.c.o))
    return queries


def head_json(dialect: str) -> Any:
    """A ``runs`` row as the JSON of ``Run`` up to its ``context``, written by the database."""
    r = t.runs.c
    experiment_id = cast(r.experiment_id, Text)
    if dialect == "postgresql":
        build: Any = func.json_build_object
        git_dirty: Any = r.git_dirty
        packages: Any = cast(r.packages, JSON)
    else:
        build = func.json_object
        true, false = func.json(literal("true")), func.json(literal("false"))
        git_dirty = case((r.git_dirty.is_(None), None), (r.git_dirty, true), else_=false)
        packages = func.json(r.packages)
    context = build(
        *("user", r.user, "host", r.host, "source", r.source, "command", r.command),
        *("git_commit", r.git_commit, "git_dirty", git_dirty),
        *("python_version", r.python_version, "packages", packages),
    )
    head = build(
        *("run_id", r.run_id, "experiment_id", experiment_id, "name", r.name),
        *("status", r.status, "lifecycle_stage", r.lifecycle_stage),
        *("start_time", r.start_time, "end_time", r.end_time),
        *("status_reason", r.status_reason, "context", context),
    )
    return cast(head, Text) if dialect == "postgresql" else head


def _ids_parameter(conn: Connection, run_ids: list[str]) -> dict[str, Any]:
    return {"ids": run_ids if conn.dialect.name == "postgresql" else json.dumps(run_ids)}


def chunks(run_ids: list[str]) -> Iterator[dict[str, list[str]]]:
    for start in range(0, len(run_ids), CHUNK):
        yield {"ids": run_ids[start : start + CHUNK]}


RUN_COLUMNS = (
    t.runs.c.run_id,
    t.runs.c.experiment_id,
    t.runs.c.name,
    t.runs.c.status,
    t.runs.c.start_time,
    t.runs.c.end_time,
)
"""What a runs table holds of each ``runs`` row (``runs_table``), in its order."""
PARALLEL_FROM = 2000
"""From this many runs, the metrics are aggregated on a second connection meanwhile."""


def _one_text(conn: Connection, query: Any, params: dict[str, Any]) -> str:
    """The text of a one-row, one-column aggregate ("" where there was nothing to aggregate)."""
    result = conn.execute(query, params)
    try:
        row = result.cursor.fetchone()
    finally:
        result.close()
    return (row[0] if row else None) or ""


def _members_by_run(text: str) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in text.split("\n")) if text else {}


def _metrics(conn: Connection, ids: dict[str, Any], count: int) -> Callable[[], dict[str, str]]:
    """Each run's metrics as ``"k":v,...`` text, by run id: a function to call when needed.

    ``ids`` is the ids parameter of ``count`` runs. For many runs they are
    aggregated on a second connection meanwhile: the database works without
    Python's lock, so the caller's own reads and parsing run beside it on
    another core.
    """
    query = text_queries(conn.dialect.name)["metrics_all"]
    later = _meanwhile(conn, query, ids) if count >= PARALLEL_FROM else None
    if later is None:
        found = _members_by_run(_one_text(conn, query, ids))
        return lambda: found
    return lambda: _members_by_run(later())


def _meanwhile(conn: Connection, query: Any, params: dict[str, Any]) -> Callable[[], str] | None:
    """``query``'s one text, read on a new connection of the same engine in a thread;
    None on SQLite in memory (one database per connection)."""
    if conn.engine.url.database in (None, "", ":memory:"):
        return None

    def run() -> str:
        with conn.engine.connect() as other:
            return _one_text(other, query, params)

    pool = ThreadPoolExecutor(1, thread_name_prefix="mlstage-search")
    future = pool.submit(run)
    pool.shutdown(wait=False)
    return future.result


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
    if not run_ids:
        return []
    queries = text_queries(conn.dialect.name)
    ids = _ids_parameter(conn, run_ids)
    metrics_later = _metrics(conn, ids, len(run_ids))
    heads = dict(_plain_rows(conn, queries["heads"], ids))
    params = dict(_plain_rows(conn, queries["params"], ids))
    tags = dict(_plain_rows(conn, queries["tags"], ids))
    inputs: dict[str, list[DatasetInput]] = defaultdict(list)
    for row in conn.execute(queries["inputs"], ids):
        inputs[row.run_id].append(input_entity(row))
    metrics = metrics_later()
    return [
        sql_json.run_json(
            heads[i],
            "{" + metrics.get(i, "") + "}",
            params.get(i, "{}"),
            tags.get(i, "{}"),
            inputs.get(i, []),
        )
        for i in run_ids
        if i in heads
    ]


def load_runs_table(conn: Connection, rows: Sequence[Any], token: str | None) -> pa.Table:
    """The runs of ``rows`` (``RUN_COLUMNS`` tuples) as one Arrow table, in that order."""
    from mlstage.tracking.runs_table import runs_table

    if not rows:
        return runs_table([], [], [], [], token)
    run_ids = [row[0] for row in rows]
    queries = text_queries(conn.dialect.name)
    ids = _ids_parameter(conn, run_ids)
    metrics_later = _metrics(conn, ids, len(run_ids))
    params = json.loads(_one_text(conn, queries["params_all"], ids) or "{}")
    tags = json.loads(_one_text(conn, queries["tags_all"], ids) or "{}")
    params_of = [params.get(i) for i in run_ids]
    tags_of = [tags.get(i) for i in run_ids]
    metrics = metrics_later()
    return runs_table(rows, [metrics.get(i) for i in run_ids], params_of, tags_of, token)
