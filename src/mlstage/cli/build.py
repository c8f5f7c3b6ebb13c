"""``mlstage build MODEL --target docker|k8s --output DIR``: files to deploy the service.

Only Typer is imported here; the registry and YAML load when the command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer


def build(
    model: Annotated[
        str,
        typer.Argument(
            metavar="MODEL",
            help="churn@champion, churn/3, models:/churn/3 or runs:/<run id>/model.",
        ),
    ],
    target: Annotated[
        str,
        typer.Option(
            "--target",
            "-t",
            metavar="docker|k8s",
            help="docker: Dockerfile and requirements; k8s: Deployment, Service, kustomization.",
        ),
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="DIR", help="Folder for the generated files.")
    ],
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port the service listens on.")
    ] = 8080,
    replicas: Annotated[int, typer.Option(min=1, help="Pods in the Deployment (k8s).")] = 2,
    deployment: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Serve this deployment's versions and release strategy instead of MODEL alone.",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Kubernetes and image name [default: from the model]."),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(metavar="IMAGE", help="Image reference [default: mlstage-NAME:VERSION]."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a folder that is not empty.")
    ] = False,
) -> None:
    """Write a Dockerfile (--target docker) or Kubernetes manifests (--target k8s) for MODEL."""
    from mlstage.cli._console import console, text
    from mlstage.errors import InvalidInput
    from mlstage.serving.build import TARGETS
    from mlstage.serving.build import build as build_files

    if target not in TARGETS:
        raise InvalidInput(f"--target {target!r}: use one of {', '.join(TARGETS)}")
    spec, files = build_files(
        model,
        target,  # type: ignore[arg-type]  # checked against TARGETS above
        output,
        port=port,
        replicas=replicas,
        deployment=deployment,
        name=name,
        image=image,
        force=force,
    )
    out = console()
    version = f" (version {spec.model_version})" if spec.model_version else ""
    out.print(text(f"Wrote {len(files)} files for {spec.model}{version} to {output}:"))
    for path in files:
        out.print(text(f"  {path.name}"))
    out.print(text(f"Next: see {output}/README.txt"))
