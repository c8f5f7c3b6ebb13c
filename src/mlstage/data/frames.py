"""One way in for tabular data (DataFrame, Arrow table, CSV/Parquet path), as DuckDB sees it.

Statistics, validation and drift all scan their input with SQL aggregates, so
they share this: the input is registered on a private in-memory DuckDB
connection under a fixed view name, and its columns are classified once into
mlstage's feature types. A pandas frame or Arrow table is scanned in place
(no copy); Parquet files are streamed; a CSV file is parsed once into a temp
table, since every later pass would parse it again.

A float NaN in a pandas frame is pandas' missing-value marker, and DuckDB reads
it as NULL: it counts as missing. In Arrow tables and Parquet files, NaN is a
value distinct from null (TFDV's semantics) and is counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    import duckdb

FeatureType = Literal["int", "float", "bool", "string", "datetime", "other"]
"""mlstage's feature types: what statistics and comparisons apply to a column."""

NUMERIC_TYPES = ("int", "float")
CATEGORICAL_TYPES = ("string", "bool")
CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")

_INT_PREFIXES = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
)


def quote(name: str) -> str:
    """A column name as a SQL identifier: every user-supplied name goes through this."""
    return '"' + name.replace('"', '""') + '"'


def feature_type(duckdb_type: str) -> FeatureType:
    """Classify a DuckDB column type."""
    t = duckdb_type.upper()
    if t == "BOOLEAN":
        return "bool"
    if t in _INT_PREFIXES:
        return "int"
    if t in ("FLOAT", "DOUBLE", "REAL") or t.startswith("DECIMAL"):
        return "float"
    if t in ("VARCHAR", "UUID") or t.startswith("ENUM"):
        return "string"
    if t.startswith(("DATE", "TIMESTAMP", "TIME")):
        return "datetime"
    return "other"


@dataclass
class Frame:
    """Data registered on a DuckDB connection: scan it as ``SELECT ... FROM {frame.table}``."""

    con: duckdb.DuckDBPyConnection
    table: str
    columns: dict[str, FeatureType]
    sql_types: dict[str, str]
    num_rows: int
    label: str
    data: Any = None
    """The DataFrame or Arrow table itself (NumPy reads its columns in place), or None for files."""
    parquet: str | None = None
    """The Parquet file or folder, which Arrow reads column by column faster than a scan."""

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(query, params or []).fetchall()

    def aggregate(self, selects: list[str], params: list[Any] | None = None) -> tuple[Any, ...]:
        """One scan computing every expression of ``selects``: the row of results.

        Identifiers in the expressions went through ``quote``; values are parameters
        or numbers mlstage computed.
        """
        if not selects:
            return ()
        query = f"SELECT {', '.join(selects)} FROM {self.table}"  # noqa: S608
        return self.sql(query, params)[0]

    def value_counts(
        self, name: str, *, exclude: list[str] | None = None, limit: int | None = None
    ) -> tuple[list[tuple[str, int]], int, int]:
        """A column's values as text with their counts, most frequent first (ties by value).

        Returns the first ``limit`` pairs, the number of values and of distinct
        values; ``exclude`` leaves out values (a domain), passed as a parameter.
        """
        col = quote(name)
        value = f"CAST({col} AS VARCHAR)"
        where = f"{col} IS NOT NULL" + (
            f" AND NOT list_contains(?::VARCHAR[], {value})" if exclude is not None else ""
        )
        inner = f"SELECT {value} AS v, count(*) AS n FROM {self.table} WHERE {where} GROUP BY v"  # noqa: S608
        outer = f"SELECT v, n, sum(n) OVER (), count(*) OVER () FROM ({inner}) ORDER BY n DESC, v"  # noqa: S608
        if limit is not None:
            outer += f" LIMIT {int(limit)}"
        rows = self.sql(outer, [exclude] if exclude is not None else None)
        if not rows:
            return [], 0, 0
        return [(str(r[0]), int(r[1])) for r in rows], int(rows[0][2]), int(rows[0][3])


def open_frame(
    data: Any, name: str = "data", con: duckdb.DuckDBPyConnection | None = None
) -> Frame:
    """Register ``data`` (DataFrame, Arrow table, or path to CSV/Parquet) on a DuckDB connection.

    ``name`` is the view name (two frames share a connection in a comparison).
    """
    import duckdb

    con = con if con is not None else duckdb.connect()
    label, relation, source = _relation(con, data, name)
    relation.create_view(name, replace=True)
    described = con.execute(f"DESCRIBE {quote(name)}").fetchall()
    sql_types = {str(row[0]): str(row[1]) for row in described}
    num_rows = _num_rows(data, con, name)
    return Frame(
        con=con,
        table=quote(name),
        columns={col: feature_type(t) for col, t in sql_types.items()},
        sql_types=sql_types,
        num_rows=num_rows,
        label=label,
        data=source,
        parquet=str(data)
        if isinstance(data, str | Path) and check_path(Path(data)) != "csv"
        else None,
    )


def _num_rows(data: Any, con: duckdb.DuckDBPyConnection, name: str) -> int:
    if hasattr(data, "num_rows"):
        return int(data.num_rows)
    if hasattr(data, "shape"):
        return int(data.shape[0])
    query = f"SELECT count(*) FROM {quote(name)}"  # noqa: S608 - a quoted identifier
    row = con.execute(query).fetchall()[0]  # Parquet: from the metadata
    return int(row[0]) if row else 0


def _relation(con: duckdb.DuckDBPyConnection, data: Any, name: str) -> tuple[str, Any, Any]:
    if isinstance(data, str | Path):
        return str(data), _from_path(con, Path(data), name), None
    module = type(data).__module__
    if module.startswith("pandas"):
        import pandas as pd

        if isinstance(data, pd.Series):
            data = data.to_frame()
        if not isinstance(data, pd.DataFrame):
            raise InvalidInput(f"expected a DataFrame, got a {type(data).__name__}")
        columns = [str(c) for c in data.columns]
        _check_unique(columns, "DataFrame")
        if list(data.columns) != columns:
            data = data.set_axis(columns, axis=1)
        return "DataFrame", con.from_df(data), data
    if module.startswith("pyarrow"):
        import pyarrow as pa

        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        if not isinstance(data, pa.Table):
            raise InvalidInput(f"expected a pyarrow Table, got a {type(data).__name__}")
        _check_unique(list(data.column_names), "Arrow table")
        return "Arrow table", con.from_arrow(data), data
    raise InvalidInput(
        "data must be a pandas DataFrame, a pyarrow Table, or the path of a CSV or Parquet "
        f"file or a folder of Parquet files; got {type(data).__name__}"
    )


def _check_unique(columns: list[str], what: str) -> None:
    seen: set[str] = set()
    for col in columns:
        if col in seen:
            raise InvalidInput(f"{what} has two columns named {col!r}: column names must be unique")
        seen.add(col)


def check_path(path: Path) -> Literal["csv", "parquet", "folder"]:
    """What kind of input a path is, or an error naming it."""
    if not path.exists():
        raise InvalidInput(f"{path}: no such file or folder")
    if path.is_dir():
        if not any(p.is_file() for p in path.rglob("*.parquet")):
            raise InvalidInput(f"{path}: a folder, but it holds no .parquet files")
        return "folder"
    lowered = path.name.lower()
    if lowered.endswith(CSV_SUFFIXES):
        return "csv"
    if lowered.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise InvalidInput(
        f"{path}: unsupported file type; expected .csv, .tsv, .parquet or .pq "
        "(or a folder of .parquet files)"
    )


def _from_path(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> Any:
    import duckdb

    kind = check_path(path)
    try:
        if kind == "csv":
            rel = con.read_csv(str(path))
            temp = f"{name}__csv"
            rel.create(temp)  # parsed once: later passes scan the table, not the text
            return con.table(temp)
        target = str(path / "**" / "*.parquet") if kind == "folder" else str(path)
        return con.read_parquet(target, union_by_name=kind == "folder")
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"{path}: cannot be read as {kind}: {first}") from exc
