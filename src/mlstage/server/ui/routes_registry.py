"""Pages of the model registry: models, a model's versions and history, a version and its card."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from mlstage.models.names import check_model_name, check_version
from mlstage.models.sql_store import SqlRegistryStore
from mlstage.server.routers.registry import registry_store
from mlstage.server.ui.cards import card_html
from mlstage.server.ui.render import page

Registry = Annotated[SqlRegistryStore, Depends(registry_store)]

CARD_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; "
    "base-uri 'none'; sandbox; frame-ancestors 'self'"
)
"""The card is generated HTML with its own inline stylesheet and no script: it may style
itself, nothing else. ``sandbox`` gives it an opaque origin even when opened directly."""


def add_routes(router: APIRouter) -> None:
    router.add_api_route("/models", models, methods=["GET"])
    router.add_api_route("/models/{name}", model, methods=["GET"])
    router.add_api_route("/models/{name}/versions/{version}", version, methods=["GET"])
    router.add_api_route("/models/{name}/versions/{version}/card", card, methods=["GET"])


def models(request: Request, store: Registry) -> Response:
    return page(request, "models.html", section="models", models=store.list_registered_models())


def model(request: Request, name: str, store: Registry) -> Response:
    check_model_name(name)
    return page(
        request,
        "model.html",
        section="models",
        model=store.get_registered_model(name),
        versions=sorted(store.list_model_versions(name), key=lambda v: -v.version),
        history=list(reversed(store.get_history(name))),
    )


def version(request: Request, name: str, version: str, store: Registry) -> Response:
    check_model_name(name)
    mv = store.get_model_version(name, check_version(version))
    verdict = mv.validation or {}
    return page(
        request,
        "version.html",
        section="models",
        mv=mv,
        verdict=verdict,
        reasons=[str(r) for r in verdict.get("reasons") or []],
        verdict_metrics=_verdict_metrics(verdict),
    )


def _verdict_metrics(verdict: dict[str, object]) -> list[tuple[str, object, object]]:
    candidate = verdict.get("candidate_metrics")
    champion = verdict.get("champion_metrics")
    if not isinstance(candidate, dict):
        return []
    baseline = champion if isinstance(champion, dict) else {}
    return [(str(k), x, baseline.get(k)) for k, x in sorted(candidate.items())]


def card(name: str, version: str, store: Registry) -> Response:
    """The model card page, for the version page's sandboxed iframe."""
    check_model_name(name)
    html = card_html(store, name, check_version(version))
    headers = {
        "Content-Security-Policy": CARD_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)
