"""The runs table of an experiment: one page of a search, its columns, sort and paging links.

Only the visible page is loaded and rendered: the search runs in the store
(filter, order and offset in SQL), and the metric and param columns offered
are those the page's runs have, so the cost of a page does not grow with
the experiment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from mlstage.errors import InvalidInput
from mlstage.tracking.entities import Run
from mlstage.tracking.sql_search import decode_page_token, encode_page_token
from mlstage.tracking.sql_store import SqlTrackingStore

PAGE_SIZES = (25, 50, 100, 250, 500)
DEFAULT_PAGE_SIZE = 100
DEFAULT_METRICS = 10
DEFAULT_PARAMS = 5
_PLAIN_KEY = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:/")
ATTRIBUTE_SORTS = {"name": "attributes.run_name", "started": "attributes.start_time"}


@dataclass(frozen=True)
class Query:
    """What the page was asked for: the query string, parsed."""

    filter: str = ""
    order: str = ""
    page: str = ""
    size: int = DEFAULT_PAGE_SIZE
    columns: tuple[str, ...] | None = None
    """``metrics.<key>`` and ``params.<key>`` chosen in the column picker; ``None``: defaults."""

    def url(self, experiment_id: str, **changes: object) -> str:
        values: dict[str, object] = {
            "filter": self.filter,
            "order": self.order,
            "page": self.page,
            "size": self.size if self.size != DEFAULT_PAGE_SIZE else "",
        }
        values.update(changes)
        pairs: list[tuple[str, object]] = [(k, x) for k, x in values.items() if x not in ("", None)]
        if self.columns is not None:
            pairs += [("col", c) for c in self.columns] or [("col", "")]
        text = urlencode(pairs)
        return f"/experiments/{experiment_id}" + (f"?{text}" if text else "")


@dataclass(frozen=True)
class Column:
    kind: str
    """``metrics`` or ``params``."""
    key: str
    order_key: str | None
    """The order_by entity, or ``None`` when the key cannot be written in the grammar."""

    @property
    def id(self) -> str:
        return f"{self.kind}.{self.key}"


@dataclass
class RunsTable:
    runs: list[Run]
    columns: list[Column]
    metric_keys: list[str]
    param_keys: list[str]
    page_number: int
    next_page: str | None
    previous_page: str | None
    error: str | None = None
    selected: set[str] = field(default_factory=set)


def entity(kind: str, key: str) -> str | None:
    """``metrics.auc`` or ``metrics.`val loss``` as the search grammar reads it."""
    if key and set(key) <= _PLAIN_KEY:
        return f"{kind}.{key}"
    for quote in ("`", '"'):
        if quote not in key:
            return f"{kind}.{quote}{key}{quote}"
    return None


def parse_size(raw: str | None) -> int:
    if not raw:
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or int(raw) not in PAGE_SIZES:
        sizes = ", ".join(map(str, PAGE_SIZES))
        raise InvalidInput(f"page size {raw[:20]!r} must be one of {sizes}")
    return int(raw)


def load(store: SqlTrackingStore, experiment_id: str, query: Query) -> RunsTable:
    """One page of the experiment's runs; a bad filter or order gives an empty table and why."""
    try:
        offset = decode_page_token(query.page or None)
        found = store.search_runs(
            [experiment_id],
            query.filter or None,
            [query.order] if query.order else None,
            query.size,
            query.page or None,
        )
    except InvalidInput as exc:
        return RunsTable([], [], [], [], 1, None, None, error=exc.message)
    runs = found.runs
    metric_keys = sorted({k for run in runs for k in run.metrics})
    param_keys = sorted({k for run in runs for k in run.params})
    columns = _columns(query.columns, metric_keys, param_keys)
    previous = None
    if offset > 0:
        back = max(0, offset - query.size)
        previous = encode_page_token(back) if back else ""
    return RunsTable(
        runs=runs,
        columns=columns,
        metric_keys=metric_keys,
        param_keys=param_keys,
        page_number=offset // query.size + 1,
        next_page=found.next_page_token,
        previous_page=previous,
        selected={c.id for c in columns},
    )


def _columns(
    chosen: Sequence[str] | None, metric_keys: list[str], param_keys: list[str]
) -> list[Column]:
    if chosen is None:
        wanted = [f"metrics.{k}" for k in metric_keys[:DEFAULT_METRICS]]
        wanted += [f"params.{k}" for k in param_keys[:DEFAULT_PARAMS]]
    else:
        wanted = [c for c in chosen if c]
    columns = []
    for item in dict.fromkeys(wanted):
        kind, _, key = item.partition(".")
        if kind in ("metrics", "params") and key:
            columns.append(Column(kind, key, entity(kind, key)))
    return columns


def next_order(current: str, order_key: str) -> str:
    """Clicking a header: descending first for a new column, then ascending, then descending."""
    if current == f"{order_key} DESC":
        return f"{order_key} ASC"
    return f"{order_key} DESC"


def sort_state(current: str, order_key: str | None) -> str:
    """``descending``, ``ascending`` or ``none``, for the header's aria-sort."""
    if order_key is None:
        return "none"
    if current in (order_key, f"{order_key} ASC"):
        return "ascending"
    return "descending" if current == f"{order_key} DESC" else "none"
