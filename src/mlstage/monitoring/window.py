"""A window of the request log as one DuckDB view, scanned where the files lie.

Monitors never read predictions row by row: the ``prediction_logs`` index
names the Parquet files whose day and time range overlap the window, each
file is checked against the sha256 the index records, and DuckDB reads them
all at once (``union_by_name``, since files written on different days may
hold different inputs), cut to ``since <= timestamp < until``. Local
artifact stores are read in place; files on S3 or behind a platform server
are fetched (hash-checked) into a temporary folder first.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlstage.artifacts.store import sha256_file
from mlstage.errors import IntegrityError
from mlstage.models.names import canonical_model_name
from mlstage.serving.request_log_store import INPUT_PREFIX

if TYPE_CHECKING:
    import duckdb

    from mlstage.config import Settings
    from mlstage.serving.request_log_store import PredictionLogFile, PredictionLogStore

VIEW = "predictions"
"""The name of the window's view: ``SELECT ... FROM predictions``."""


@dataclass
class LogWindow:
    """The predictions of one model in ``[since_ms, until_ms)``, as the view ``predictions``."""

    con: duckdb.DuckDBPyConnection
    model: str
    since_ms: int
    until_ms: int
    files: list[PredictionLogFile]
    columns: list[str] = field(default_factory=list)

    @property
    def inputs(self) -> list[str]:
        """The input names logged in the window (without the ``input.`` prefix)."""
        return [c[len(INPUT_PREFIX) :] for c in self.columns if c.startswith(INPUT_PREFIX)]

    def sql(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(query, params or []).fetchall()

    def count(self, where: str = "TRUE") -> int:
        return int(self.sql(f"SELECT count(*) FROM {VIEW} WHERE {where}")[0][0])  # noqa: S608


def quote(name: str) -> str:
    """A column name as a SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _local_path(store: PredictionLogStore, file: PredictionLogFile) -> Path | None:
    """The blob's path when the store keeps it in a local folder, after checking its hash."""
    artifacts = getattr(store, "artifacts", None)
    if artifacts is None or not getattr(artifacts, "is_local", False):
        return None
    path = Path(artifacts.root) / "sha256" / file.sha256[:2] / file.sha256[2:4] / file.sha256
    if not path.is_file():
        return None
    actual, _ = sha256_file(path)
    if actual != file.sha256:
        raise IntegrityError(
            f"prediction-log file {file.file_id} of model {file.model!r} is corrupt: "
            f"it hashes to {actual}, the index records {file.sha256}"
        )
    return path


def open_store(settings: Settings) -> PredictionLogStore:
    """The request log the settings' tracking URI names (database or platform server)."""
    from mlstage.serving.request_log import _open_store

    return _open_store(settings)


@contextmanager
def local_files(
    store: PredictionLogStore, files: Sequence[PredictionLogFile]
) -> Iterator[list[str]]:
    """Local paths of ``files``, each hash-checked; fetched ones are deleted on exit."""
    from concurrent.futures import ThreadPoolExecutor

    fetched: Path | None = None
    try:
        paths: list[str] = []
        with ThreadPoolExecutor(max_workers=4) as pool:  # hashlib releases the GIL
            checked = list(pool.map(lambda file: _local_path(store, file), files))
        for file, local in zip(files, checked, strict=True):
            if local is None:
                if fetched is None:
                    fetched = Path(tempfile.mkdtemp(prefix="mlstage-window-"))
                local = fetched / f"{file.file_id}.parquet"
                local.write_bytes(store.file_bytes(file))  # checked against the index's sha256
            paths.append(str(local))
        yield paths
    finally:
        if fetched is not None:
            shutil.rmtree(fetched, ignore_errors=True)


def parquet_source(paths: Sequence[str]) -> str:
    """``read_parquet([...], union_by_name = true)`` of ``paths``, as SQL text."""
    listed = ", ".join(_literal(p) for p in paths)  # views take no parameters
    return f"read_parquet([{listed}], union_by_name = true)"


@contextmanager
def open_window(
    store: PredictionLogStore, model: str, since_ms: int, until_ms: int
) -> Iterator[LogWindow]:
    """The window's predictions on a private DuckDB connection, closed on exit."""
    import duckdb

    model = canonical_model_name(model)
    files = store.find_files(model, since_ms, until_ms)
    con = duckdb.connect()
    try:
        with local_files(store, files) as paths:
            if paths:
                con.execute(
                    f"CREATE VIEW {VIEW} AS SELECT * FROM {parquet_source(paths)} "  # noqa: S608
                    f"WHERE timestamp >= {int(since_ms)} AND timestamp < {int(until_ms)}"
                )
            else:
                con.execute(
                    f"CREATE VIEW {VIEW} AS SELECT * FROM (VALUES (NULL::VARCHAR, NULL::BIGINT, "  # noqa: S608
                    "NULL::VARCHAR, NULL::BIGINT, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, "
                    "NULL::VARCHAR, NULL::DOUBLE[], NULL::DOUBLE)) AS t(prediction_id, timestamp, "
                    "model, version, deployment, route, request_key, output, probabilities, "
                    "latency_ms) WHERE FALSE"
                )
            columns = [str(row[0]) for row in con.execute(f"DESCRIBE {VIEW}").fetchall()]
            yield LogWindow(con, model, since_ms, until_ms, files, columns)
    finally:
        con.close()
