"""``mlstage datasets``: register, list, show and compare dataset versions.

Versions are addressed as on the rest of the platform: ``churn`` (the
latest), ``churn@3``, or ``churn@3f2a9c1e`` (8 or more hex characters of the
content digest). Every command goes through ``mlstage.datasets``, on the
metadata database and artifact root the settings name (``--tracking-uri``,
``MLSTAGE_TRACKING_URI``, ``mlstage.toml``). pandas and pyarrow load inside
the commands: ``mlstage --help`` stays instant.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from mlstage.cli._console import console, print_json, text
from mlstage.errors import InvalidInput

app = typer.Typer(
    help="Versioned datasets: snapshots with schema, statistics and lineage.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
VersionArg = Annotated[
    str,
    typer.Argument(
        metavar="NAME[@VERSION]",
        help="churn (latest), churn@3, churn@latest or churn@<8+ hex of the digest>.",
    ),
]


def _tags(items: list[str]) -> dict[str, str]:
    tags = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--tag {item!r} must be KEY=VALUE")
        tags[key] = value
    return tags


@app.command("register")
def register(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The dataset's name.")],
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE",
            help="A .csv/.csv.gz or .parquet/.pq file, a folder of Parquet files, "
            "or with --url a SQL query.",
        ),
    ],
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="SQLALCHEMY_URL",
            help="Run SOURCE as a read-only SQL query against this database "
            "(sqlite:///crm.db, postgresql+psycopg://...).",
        ),
    ] = None,
    description: Annotated[str, typer.Option(help="What this version is.")] = "",
    tag: Annotated[
        list[str] | None, typer.Option("--tag", metavar="KEY=VALUE", help="A tag; repeatable.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Snapshot SOURCE as the next version of NAME (the same content returns its version)."""
    from mlstage.data import datasets
    from mlstage.data.dataset_sources import SqlSource

    origin = SqlSource(url, source) if url is not None else source
    tags = _tags(tag or [])
    out = console(stderr=True)
    status = out.status(f"Registering {name}...") if out.is_terminal else nullcontext()
    with status:
        version, created = datasets.register_or_get(
            name, origin, description=description, tags=tags
        )
    if as_json:
        print_json({**version.model_dump(mode="json"), "created": created})
        return
    what = "Registered" if created else "Already registered: same content as"
    console().print(
        text(
            f"{what} {version.ref} (digest {version.short_digest}): "
            f"{version.num_rows} rows, {version.num_columns} columns, from {version.source}."
        )
    )


@app.command("list")
def list_datasets(as_json: JsonOption = False) -> None:
    """List datasets: latest version, rows, columns, versions, last update."""
    from mlstage.cli.datasets_view import datasets_table
    from mlstage.data import datasets

    found = datasets.list_datasets()
    if as_json:
        print_json([d.model_dump(mode="json") for d in found])
        return
    if not found:
        console().print("No datasets yet: `mlstage datasets register NAME data.csv`.")
        return
    console().print(datasets_table(found))


@app.command("versions")
def list_versions(
    name: Annotated[str, typer.Argument(metavar="NAME", help="A dataset's name.")],
    as_json: JsonOption = False,
) -> None:
    """List a dataset's versions: digest, rows, columns, source, who and when."""
    from mlstage.cli.datasets_view import versions_table
    from mlstage.data import datasets

    found = datasets.list_versions(name)
    if as_json:
        print_json([v.model_dump(mode="json") for v in found])
        return
    console().print(versions_table(found, title=f"Dataset {name}"))


@app.command("show")
def show(ref: VersionArg, as_json: JsonOption = False) -> None:
    """Show a version: source, digest, schema with per-column statistics, and lineage."""
    from mlstage.cli.datasets_view import render_version
    from mlstage.config import get_settings
    from mlstage.data import datasets
    from mlstage.governance.pii_masking import mask_statistics

    version = datasets.get(ref)
    # personal data in top values and text ranges, masked or hashed as everywhere (issue 9)
    stats = mask_statistics(datasets.statistics(version), get_settings(), name=version.name)
    lineage = datasets.lineage(version)
    if as_json:
        print_json(
            {
                **version.model_dump(mode="json"),
                "statistics": stats.to_dict() if stats is not None else None,
                "lineage": {
                    "runs": [r.model_dump(mode="json") for r in lineage.runs],
                    "models": [m.model_dump(mode="json") for m in lineage.models],
                },
            }
        )
        return
    render_version(console(), version, stats, lineage)


@app.command("diff")
def diff(
    before: Annotated[str, typer.Argument(metavar="NAME@A", help="The reference version.")],
    after: Annotated[str, typer.Argument(metavar="NAME@B", help="The version compared to it.")],
    drift: Annotated[
        bool, typer.Option("--drift/--no-drift", help="Compare distributions per column.")
    ] = True,
    schema: Annotated[
        Path | None,
        typer.Option(
            "--schema",
            metavar="SCHEMA.yaml",
            help="A reviewed schema whose drift comparators and thresholds to use.",
        ),
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="FILE.html",
            help="Also write the drift report as a page with a chart per column.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Compare two versions: columns added, removed or retyped, rows, and drift per column."""
    from mlstage.cli.datasets_view import render_diff
    from mlstage.data import datasets

    result = datasets.diff(before, after, drift=drift, schema=schema)
    if html is not None:
        if result.drift is None:
            raise InvalidInput(f"--html: no drift report to write ({result.drift_note})")
        if not html.parent.is_dir():
            raise InvalidInput(
                f"--html {str(html)!r}: the folder {str(html.parent)!r} does not exist"
            )
        from mlstage.data.drift import DriftReport

        fields = DriftReport.model_fields
        report = DriftReport.model_validate({k: v for k, v in result.drift.items() if k in fields})
        html.write_text(report.to_html(f"Drift: {result.before} -> {result.after}"), "utf-8")
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    render_diff(console(), result)
    if html is not None:
        console().print(text(f"Drift report written to {html}"))
