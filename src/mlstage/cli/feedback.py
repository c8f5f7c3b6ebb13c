"""``mlstage feedback import labels.csv``: ground truth for logged predictions, from a file.

The file is CSV or Parquet with a prediction-id column and a label column
(names chosen by ``--id-column`` and ``--label-column``), optionally a
column of when each truth was known (``--at-column``, ms since the epoch or
a timestamp). Without prediction ids, ``--key-column`` names the file's
column of business keys, matched against the logged request key or the
input named by ``--match``, within ``--key-window`` before each label's time.
Labels are sent in batches; ids no logged prediction has are
listed at the end (all of them with ``--json``), never dropped silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlstage.cli._console import console, print_json, text
from mlstage.errors import InvalidInput

app = typer.Typer(
    help="Ground truth for logged predictions (the feedback loop).", no_args_is_help=True
)
SHOWN_UNKNOWN = 20
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _rows(path: Path, id_column: str, label_column: str, at_column: str | None) -> list[Any]:
    import duckdb

    from mlstage.data.frames import check_path, quote

    kind = check_path(path)
    if kind == "folder":
        raise InvalidInput(f"{path}: give one CSV or Parquet file")
    con = duckdb.connect()
    try:
        relation = con.read_csv(str(path)) if kind == "csv" else con.read_parquet(str(path))
        columns = list(relation.columns)
        for name, option in ((id_column, "--id-column"), (label_column, "--label-column")):
            if name not in columns:
                raise InvalidInput(
                    f"{path} has no column {name!r} ({option}); its columns: {', '.join(columns)}"
                )
        if at_column is not None and at_column not in columns:
            raise InvalidInput(f"{path} has no column {at_column!r} (--at-column)")
        picked = [f"CAST({quote(id_column)} AS VARCHAR)", quote(label_column)]
        if at_column is not None:
            picked.append(quote(at_column))
        return relation.select(", ".join(picked)).fetchall()
    finally:
        con.close()


@app.command("import")
def import_labels(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="CSV or Parquet file of labels.")],
    id_column: Annotated[str, typer.Option("--id-column")] = "prediction_id",
    label_column: Annotated[str, typer.Option("--label-column")] = "label",
    at_column: Annotated[
        str | None, typer.Option("--at-column", help="When each truth was known.")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Recorded with each label.")
    ] = None,
    key_column: Annotated[
        str | None,
        typer.Option("--key-column", help="File column of business keys (instead of ids)."),
    ] = None,
    match: Annotated[
        str, typer.Option("--match", help="What keys match: request_key or an input name.")
    ] = "request_key",
    key_window: Annotated[
        str, typer.Option("--key-window", help="How long before each label its prediction was.")
    ] = "7d",
    as_json: JsonOption = False,
) -> None:
    """Join labels to logged predictions by prediction id; report the ids that match none."""
    from mlstage.monitoring.definitions import parse_duration
    from mlstage.monitoring.feedback import FeedbackResult, chunks, get_feedback_store, make_label

    window_ms = int(parse_duration(key_window, "--key-window") * 1000)
    rows = _rows(path, key_column or id_column, label_column, at_column)
    labels = []
    for number, row in enumerate(rows, start=2 if path.suffix.lower() == ".csv" else 1):
        at = row[2] if at_column else None
        try:
            if key_column is not None:
                labels.append(make_label(None, row[1], at, key=row[0]))
            else:
                labels.append(make_label(row[0], row[1], at))
        except InvalidInput as exc:
            raise InvalidInput(f"{path}, row {number}: {exc.message}") from None
    store = get_feedback_store()
    result = FeedbackResult()
    for batch in chunks(labels):
        result = result.merge(
            store.add_labels(
                batch,
                source=source or f"file:{path.name}",
                key_column=match,
                key_window_ms=window_ms,
            )
        )
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    out = console()
    unknown = len(result.unknown) + len(result.unknown_keys)
    out.print(
        text(
            f"{result.received:,} label(s): {result.accepted:,} new, {result.updated:,} updated, "
            f"{result.unchanged:,} unchanged, {unknown:,} unknown"
        )
    )
    for found, what in (
        (result.unknown, "no logged prediction has these ids"),
        (result.unknown_keys, "no prediction in its window has these keys"),
    ):
        if found:
            more = len(found) - SHOWN_UNKNOWN
            tail = f" and {more:,} more (--json lists all)" if more > 0 else ""
            out.print(text(f"{what}: {', '.join(found[:SHOWN_UNKNOWN])}{tail}", "yellow"))
