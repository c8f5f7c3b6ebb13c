"""Reading a dataset's rows from where they live: a CSV or Parquet file, a folder, a SQL query.

Every source becomes one Arrow table plus a description of where it came
from (``DatasetSource``). Paths are checked before anything opens them
(exists, file or folder, a supported suffix); a SQL query runs read-only in
a transaction that is rolled back, against a SQLite file that must already
exist (SQLite would otherwise create an empty one), and the URL is recorded
without its password.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstage.data.dataset_entities import DatasetSource
from mlstage.errors import InvalidInput, Unavailable

if TYPE_CHECKING:
    import pyarrow as pa

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
MAX_QUERY = 100_000
_UNNAMED_INDEX = re.compile(r"__index_level_\d+__")


@dataclass(frozen=True)
class SqlSource:
    """The rows a SQL query returns from a database named by a SQLAlchemy URL.

    ``SqlSource("sqlite:///crm.db", "SELECT * FROM customers ORDER BY id")``.
    Add an ``ORDER BY``: the same rows in another order are other content.
    """

    url: str
    query: str

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.strip():
            raise InvalidInput("SqlSource url must be a SQLAlchemy URL such as sqlite:///crm.db")
        if not isinstance(self.query, str) or not self.query.strip():
            raise InvalidInput("SqlSource query must be a non-empty SQL string")
        if len(self.query) > MAX_QUERY or "\x00" in self.query:
            raise InvalidInput(
                f"SqlSource query must be under {MAX_QUERY} characters and hold no NUL character"
            )


Source = str | os.PathLike[str] | SqlSource | Any
"""A path, a ``SqlSource``, or in-memory data (a pandas DataFrame or a pyarrow Table)."""


def read_source(source: Source) -> tuple[pa.Table, DatasetSource]:
    """The rows of ``source`` as an Arrow table, and where they came from."""
    if isinstance(source, SqlSource):
        return _read_sql(source)
    if isinstance(source, str | os.PathLike):
        return _read_path(source)
    module = type(source).__module__
    if module.startswith(("pandas", "pyarrow")):
        return _read_frame(source), DatasetSource(kind="dataframe")
    raise InvalidInput(
        "source must be a path to a CSV file, a Parquet file or a folder of Parquet files, "
        f"a SqlSource, a pandas DataFrame or a pyarrow Table; got {type(source).__name__}"
    )


def check_path(source: str | os.PathLike[str]) -> tuple[Path, str]:
    """The resolved path and its kind (csv, parquet, parquet-folder), or a clear InvalidInput."""
    raw = os.fspath(source)
    if not raw or "\x00" in raw:
        raise InvalidInput(f"source {raw!r} is not a path")
    path = Path(raw).expanduser()
    if not path.exists():
        raise InvalidInput(f"source {raw!r}: no such file or folder")
    path = path.resolve()
    if path.is_dir():
        return path, "parquet-folder"
    if not path.is_file():
        raise InvalidInput(f"source {raw!r} is neither a regular file nor a folder")
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return path, "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return path, "parquet"
    supported = ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES)
    raise InvalidInput(
        f"source {raw!r}: unsupported file type; use one of {supported}, "
        "a folder of Parquet files, or a SqlSource"
    )


def parquet_files(folder: Path) -> list[Path]:
    """The Parquet files below ``folder`` in path order, skipping hidden and ``_`` entries."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).parts
        if any(part.startswith((".", "_")) for part in relative):
            continue
        if path.is_file() and path.name.lower().endswith(PARQUET_SUFFIXES):
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _read_path(source: str | os.PathLike[str]) -> tuple[pa.Table, DatasetSource]:
    import pyarrow as pa

    path, kind = check_path(source)
    files = 1
    try:
        if kind == "csv":
            from pyarrow import csv

            options = csv.ConvertOptions(strings_can_be_null=True)
            table = csv.read_csv(path, convert_options=options)
        elif kind == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            table, files = _read_folder(path)
    except (pa.ArrowException, OSError) as exc:
        what = {"csv": "a readable CSV file", "parquet": "a readable Parquet file"}.get(
            kind, "a folder of Parquet files sharing one schema"
        )
        raise InvalidInput(
            f"source {os.fspath(source)!r} is not {what}: {_first_line(exc)}"
        ) from exc
    table = _drop_unnamed_index(table)
    return table, DatasetSource(kind=kind, location=str(path), files=files if kind != "csv" else 1)


def _drop_unnamed_index(table: pa.Table) -> pa.Table:
    """Drop the ``__index_level_N__`` columns pandas writes for an unnamed index.

    They are not data: pandas reads them back as the index. A named index
    (``customer_id``) stays, as a column.
    """
    drop = [n for n in table.column_names if _UNNAMED_INDEX.fullmatch(n)]
    return table.drop_columns(drop) if drop else table


def _read_folder(folder: Path) -> tuple[pa.Table, int]:
    """Every Parquet file below ``folder``; ``key=value`` folders become columns (Hive style)."""
    import pyarrow.dataset as ds

    files = parquet_files(folder)
    if not files:
        raise InvalidInput(
            f"source {str(folder)!r} holds no Parquet files ({', '.join(PARQUET_SUFFIXES)})"
        )
    hive = any("=" in part for f in files for part in f.relative_to(folder).parts[:-1])
    dataset = ds.dataset(
        [str(f) for f in files],
        format="parquet",
        partitioning="hive" if hive else None,
        partition_base_dir=str(folder) if hive else None,
    )
    return dataset.to_table(), len(files)


def _read_frame(data: Any) -> pa.Table:
    import pandas as pd
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(
            f"source must be a pandas DataFrame or a pyarrow Table, got {type(data).__name__}"
        )
    named_index = any(name is not None for name in data.index.names)
    try:
        return pa.Table.from_pandas(data, preserve_index=named_index)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidInput(f"source data frame cannot be stored as Parquet: {exc}") from exc


def _read_sql(source: SqlSource) -> tuple[pa.Table, DatasetSource]:
    import pandas as pd
    import pyarrow as pa
    from sqlalchemy import create_engine, text
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import make_url

    try:
        url = make_url(source.url)
    except sa_exc.ArgumentError as exc:
        raise InvalidInput(f"SqlSource url {source.url!r} is not a SQLAlchemy URL") from exc
    safe_url = url.render_as_string(hide_password=True)
    options: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        options["creator"] = _sqlite_read_only(url.database or "", safe_url)
    try:
        engine = create_engine(url, **options)
    except (sa_exc.ArgumentError, ImportError, sa_exc.NoSuchModuleError) as exc:
        raise InvalidInput(f"SqlSource url {safe_url!r} cannot be used: {exc}") from exc
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            result = conn.execute(text(source.query))
            if not result.returns_rows:
                raise InvalidInput(f"SqlSource query returned no rows: {source.query[:80]!r}")
            names = list(result.keys())
            rows = result.fetchall()
            conn.rollback()  # the query may not change anything, even by accident
    except sa_exc.OperationalError as exc:
        message = _first_line(exc)
        if "connect" in message.lower() or "unable to open" in message.lower():
            raise Unavailable(f"cannot reach the database {safe_url}: {message}") from exc
        raise InvalidInput(f"SqlSource query failed on {safe_url}: {message}") from exc
    except sa_exc.SQLAlchemyError as exc:
        raise InvalidInput(f"SqlSource query failed on {safe_url}: {_first_line(exc)}") from exc
    finally:
        engine.dispose()
    frame = pd.DataFrame.from_records(rows, columns=names, coerce_float=True)
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise InvalidInput(f"SqlSource query result cannot be stored as Parquet: {exc}") from exc
    return table, DatasetSource(kind="sql", location=safe_url, query=source.query)


def _sqlite_read_only(database: str, safe_url: str) -> Any:
    """A connection factory opening an existing SQLite file read-only."""
    import sqlite3
    from urllib.parse import quote

    if not database or database == ":memory:" or database.startswith("file:"):
        raise InvalidInput(f"SqlSource url {safe_url!r} must name an SQLite file")
    path = Path(database).expanduser()
    if not path.is_file():
        raise InvalidInput(f"SqlSource url {safe_url!r}: no such SQLite file {database!r}")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    return lambda: sqlite3.connect(uri, uri=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
