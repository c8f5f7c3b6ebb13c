"""Batch scoring: a CSV or Parquet file in, the same rows with predictions out.

The file is read and scored in chunks, so its size is bounded by the disk,
not memory. ``score_chunk`` is pure (a DataFrame in, a DataFrame out), so a
Dask cluster can map it over partitions (issue 7) with the same results.
The output appears all at once: chunks go to a hidden temporary file next to
it, renamed into place at the end, so a failure never leaves half a file.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlstage.models.loading import LoadedModel
    from mlstage.models.signature import ColumnSpec, Signature

Format = Literal["csv", "parquet"]
FORMATS: dict[str, Format] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
PREDICTION = "prediction"
PROBABILITY_PREFIX = "probability_"


@dataclass(frozen=True, slots=True)
class ScoreSummary:
    """What a scoring run did, for the command line and for scripts."""

    model_uri: str
    model_version: int | None
    input_path: str
    output_path: str
    rows: int
    chunks: int
    seconds: float
    columns: tuple[str, ...]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float(self.rows)


# -- the pure part: one chunk ------------------------------------------------------------------


def prediction_columns(model: LoadedModel) -> list[str]:
    """The columns ``score_chunk`` adds: ``prediction``, and ``probability_<class>`` if any."""
    return [PREDICTION, *(f"{PROBABILITY_PREFIX}{c}" for c in _classes(model) or [])]


def _classes(model: LoadedModel) -> list[str] | None:
    """Class labels when the model gives probabilities; ``None`` for a regressor."""
    if not hasattr(model.model, "predict_proba"):
        return None
    classes = getattr(model.model, "classes_", None)
    return None if classes is None else [str(c) for c in list(classes)]


def score_chunk(model: LoadedModel, chunk: pd.DataFrame, *, offset: int = 0) -> pd.DataFrame:
    """``chunk`` with the model's predictions added; ``offset`` numbers its rows in errors.

    Inputs are checked against the signature first; a bad value raises
    ``InvalidInput`` naming its row (``offset`` + position) and column.
    """
    import numpy as np

    clash = [c for c in prediction_columns(model) if c in chunk.columns]
    if clash:
        raise InvalidInput(
            f"the input already has column(s) {', '.join(map(repr, clash))}, which scoring "
            "adds: rename or drop them first"
        )
    if len(chunk) == 0:
        return chunk.assign(**{c: np.array([], dtype=float) for c in prediction_columns(model)})
    features = _enforced(model.signature, chunk, offset)
    added: dict[str, Any] = {}
    predictions = np.asarray(model.model.predict(features))
    if predictions.ndim == 2 and predictions.shape[1] == 1:
        predictions = predictions.ravel()
    if predictions.ndim == 1:
        added[PREDICTION] = predictions
    else:
        added.update({f"{PREDICTION}_{i}": predictions[:, i] for i in range(predictions.shape[1])})
    classes = _classes(model)
    if classes is not None:
        probabilities = np.asarray(model.model.predict_proba(features))
        added.update(
            {f"{PROBABILITY_PREFIX}{c}": probabilities[:, i] for i, c in enumerate(classes)}
        )
    return chunk.assign(**added)


def _enforced(signature: Signature | None, chunk: pd.DataFrame, offset: int) -> Any:
    from mlstage.models.signature import enforce

    if signature is None:
        return chunk
    try:
        return enforce(signature, chunk)
    except InvalidInput as exc:
        row = _first_bad_row(signature, chunk)
        where = f"row {offset + row}" if row is not None else f"rows from {offset}"
        raise InvalidInput(f"{where}: {exc.message}") from None


def _first_bad_row(signature: Signature, chunk: pd.DataFrame) -> int | None:
    """Position of the first row ``enforce`` refuses, found column by column in signature order."""
    from mlstage.models.signature import Signature, enforce

    for spec in signature.inputs:
        if spec.name not in chunk.columns:
            return None
        try:
            enforce(Signature(inputs=[spec]), chunk[[spec.name]])
        except InvalidInput:
            return _bad_position(spec, chunk[spec.name])
    return None


def _bad_position(spec: ColumnSpec, series: pd.Series) -> int:
    import numpy as np
    import pandas as pd

    bad = np.zeros(len(series), dtype=bool)
    if not spec.nullable:
        bad |= series.isna().to_numpy()
    if spec.type in ("integer", "float"):
        numbers = pd.to_numeric(series, errors="coerce")
        bad |= (numbers.isna() & series.notna()).to_numpy()
        if spec.type == "integer":
            bad |= (numbers.notna() & (numbers != numbers.round())).to_numpy()
    elif spec.type == "boolean":
        bad |= (series.notna() & ~series.isin([True, False])).to_numpy()
    return int(np.argmax(bad)) if bad.any() else 0


# -- files ----------------------------------------------------------------------------------


def file_format(path: str | Path, what: str) -> Format:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput(
            f"{what} {str(path)!r}: unknown format {suffix or '(no suffix)'!r}; "
            "use a .csv, .parquet or .pq file"
        )
    return FORMATS[suffix]


class _Reader:
    """Chunks of an input file, with a measure of progress (rows for Parquet, bytes for CSV)."""

    def __init__(self, path: Path, kind: Format, chunk_rows: int) -> None:
        self.path, self.kind, self.chunk_rows = path, kind, chunk_rows
        self._handle: IO[bytes] | None = None
        self._parquet: pq.ParquetFile | None = None
        if kind == "parquet":
            import pyarrow.parquet as pq

            try:
                self._parquet = pq.ParquetFile(path)
            except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
                raise InvalidInput(
                    f"input {str(path)!r} is not a readable Parquet file: {exc}"
                ) from None
            self.total = self._parquet.metadata.num_rows
        else:
            self.total = path.stat().st_size

    def position(self, rows: int) -> int:
        return rows if self._handle is None else self._handle.tell()

    def chunks(self) -> Iterator[pd.DataFrame]:
        import pandas as pd

        if self._parquet is not None:
            any_rows = False
            for batch in self._parquet.iter_batches(batch_size=self.chunk_rows):
                any_rows = True
                yield batch.to_pandas()
            if not any_rows:
                yield self._parquet.schema_arrow.empty_table().to_pandas()
            return
        with open(self.path, "rb") as handle:
            self._handle = handle
            try:
                reader = pd.read_csv(handle, chunksize=self.chunk_rows)
                any_rows = False
                for chunk in reader:
                    any_rows = True
                    yield chunk
                if not any_rows:
                    yield pd.read_csv(self.path, nrows=0)
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
                raise InvalidInput(
                    f"input {str(self.path)!r} is not a readable CSV file: {exc}"
                ) from None


class _Writer:
    """Appends scored chunks to a temporary file; ``commit`` renames it onto the output."""

    def __init__(self, output: Path, kind: Format) -> None:
        self.output, self.kind = output, kind
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".partial")
        os.close(fd)
        self.tmp = Path(tmp)
        self._parquet: pq.ParquetWriter | None = None
        self._csv: IO[str] | None = None
        self._schema: pa.Schema | None = None

    def write(self, frame: pd.DataFrame, offset: int) -> None:
        if self.kind == "csv":
            if self._csv is None:
                self._csv = open(self.tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115
                frame.to_csv(self._csv, index=False)
            else:
                frame.to_csv(self._csv, index=False, header=False)
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._parquet is None or self._schema is None:
            self._schema = table.schema
            self._parquet = pq.ParquetWriter(self.tmp, table.schema)
        elif not table.schema.equals(self._schema):
            table = self._conform(table, offset)
        self._parquet.write_table(table)

    def _conform(self, table: pa.Table, offset: int) -> pa.Table:
        """A later chunk whose types drifted (ints that gained a null, say) cast to the first's."""
        import pyarrow as pa

        assert self._schema is not None
        try:
            return table.select(self._schema.names).cast(self._schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError, NotImplementedError) as exc:
            changed = [
                f"{f.name!r} ({f.type} in the first chunk, {table.schema.field(f.name).type} here)"
                for f in self._schema
                if f.name in table.schema.names and table.schema.field(f.name).type != f.type
            ]
            raise InvalidInput(
                f"rows from {offset}: column(s) change type: {', '.join(changed) or exc}"
            ) from None

    def commit(self) -> None:
        self._close()
        os.replace(self.tmp, self.output)

    def abort(self) -> None:
        try:
            self._close()
        finally:
            self.tmp.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._csv is not None:
            self._csv.close()
            self._csv = None


def _check_paths(input_path: str, output_path: str) -> tuple[Path, Format, Path, Format]:
    source = Path(input_path)
    target = Path(output_path)
    in_kind = file_format(source, "input")
    out_kind = file_format(target, "output")
    if not source.is_file():
        raise InvalidInput(f"input {input_path!r} does not exist or is not a file")
    if not target.parent.is_dir():
        raise InvalidInput(f"output folder {str(target.parent)!r} does not exist; create it first")
    if target.exists() and target.resolve() == source.resolve():
        raise InvalidInput(f"output {output_path!r} is the input file: write somewhere else")
    if target.is_dir():
        raise InvalidInput(f"output {output_path!r} is a folder; give a file name")
    return source, in_kind, target, out_kind


# -- the whole file ----------------------------------------------------------------------------


def score_file(
    model_uri: str,
    input_path: str,
    output_path: str,
    *,
    chunk_rows: int = 50_000,
    progress: bool = True,
) -> ScoreSummary:
    """Score ``input_path`` (CSV or Parquet) with the model; write ``output_path`` atomically.

    The output holds the input columns, ``prediction`` and, for a
    classifier, ``probability_<class>`` per class. A progress bar shows on
    a terminal (stderr), never in a pipe. A bad row stops the run with an
    error naming its row and column, and the output is left untouched.
    """
    from mlstage.models.loading import load_model

    if not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise InvalidInput(f"chunk_rows must be a whole number from 1, got {chunk_rows!r}")
    source, in_kind, target, out_kind = _check_paths(input_path, output_path)
    model = load_model(model_uri)
    started = time.perf_counter()
    reader = _Reader(source, in_kind, chunk_rows)
    writer = _Writer(target, out_kind)
    rows = chunks = 0
    columns: tuple[str, ...] = ()
    try:
        with _ProgressBar(progress, f"Scoring {source.name}", reader.total) as advance:
            for chunk in reader.chunks():
                scored = score_chunk(model, chunk, offset=rows)
                writer.write(scored, rows)
                columns = columns or tuple(str(c) for c in scored.columns)
                rows += len(chunk)
                chunks += 1
                advance(reader.position(rows), rows)
        writer.commit()
    except InvalidInput as exc:
        writer.abort()
        raise InvalidInput(f"{input_path}: {exc.message}; {output_path} was not written") from None
    except BaseException:
        writer.abort()
        raise
    return ScoreSummary(
        model_uri=model.uri,
        model_version=getattr(model.version, "version", None),
        input_path=str(source),
        output_path=str(target),
        rows=rows,
        chunks=chunks,
        seconds=time.perf_counter() - started,
        columns=columns,
    )


class _ProgressBar:
    """A rich bar on a terminal's stderr; in a pipe, or with ``enabled=False``, nothing."""

    def __init__(self, enabled: bool, description: str, total: int) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.description, self.total = description, total
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return lambda position, rows: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(self.description, total=self.total or None, rows=0)

        def advance(position: int, rows: int) -> None:
            self._progress.update(self._task, completed=position, rows=rows)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
