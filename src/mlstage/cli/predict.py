"""``mlstage predict MODEL --input FILE --output FILE``: score a file in chunks.

Only Typer is imported here: the model, pandas and pyarrow load when the
command runs, so ``mlstage --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer


def predict(
    model: Annotated[
        str,
        typer.Argument(
            metavar="MODEL",
            help="churn@champion, churn/3, models:/churn/3 or runs:/<run id>/model.",
        ),
    ],
    input_path: Annotated[
        str, typer.Option("--input", "-i", metavar="FILE", help="A .csv, .parquet or .pq file.")
    ],
    output_path: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Where the scored rows go (.csv, .parquet or .pq); replaced only on success.",
        ),
    ],
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, metavar="N", help="Rows scored at a time.")
    ] = 50_000,
    executor: Annotated[
        str,
        typer.Option(
            "--executor",
            "-x",
            help="local (in chunks, here), dask (a local cluster) or tcp://host:port (a running "
            "scheduler); on Dask the input is Parquet and the output a folder of Parquet files.",
        ),
    ] = "local",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Score a CSV or Parquet file: its columns plus prediction and class probabilities."""
    from mlstage.cli._console import console, print_json, text
    from mlstage.cli.models_args import model_uri

    if executor == "local":
        from mlstage.serving.batch import score_file

        summary = score_file(
            model_uri(model), input_path, output_path, chunk_rows=chunk_rows, progress=not as_json
        )
    else:
        from mlstage.serving.batch_dask import score_parquet_on_dask

        summary = score_parquet_on_dask(
            model_uri(model), input_path, output_path, executor=executor
        )
    if as_json:
        print_json(
            {
                "model_uri": summary.model_uri,
                "model_version": summary.model_version,
                "input": summary.input_path,
                "output": summary.output_path,
                "rows": summary.rows,
                "chunks": summary.chunks,
                "seconds": round(summary.seconds, 3),
                "rows_per_second": round(summary.rows_per_second, 1),
            }
        )
        return
    version = f" (version {summary.model_version})" if summary.model_version else ""
    console().print(
        text(
            f"Scored {summary.rows:,} rows with {summary.model_uri}{version} in "
            f"{summary.seconds:.2f}s ({summary.rows_per_second:,.0f} rows/s): "
            f"{summary.output_path}"
        )
    )
