"""The prediction service's app: ``create_serving_app("churn@champion")`` or ``"deployment:name"``.

Endpoints: ``POST /predict`` (JSON, CSV or Parquet), the Open Inference
Protocol v2 REST API, ``/health``, ``/ready``, ``/metrics``, and ``GET /``
(the prediction page, when ``serving.page`` is installed). Bodies over the
size limit are refused before they are read, any content type but JSON,
CSV and Parquet before it is parsed (S22), on every route, present or
future. As on the platform server, a route that is neither public nor
depends on ``require_principal`` stops the app from being built.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mlstage import __version__
from mlstage.config import Settings, get_settings
from mlstage.errors import MlstageError
from mlstage.server.auth import is_protected, live_routes, require_principal
from mlstage.server.errors import ErrorResponse, install_error_handlers, mlstage_error_response
from mlstage.server.limits import BodyLimitMiddleware
from mlstage.serving import codecs
from mlstage.serving.auth import install_serving_auth
from mlstage.serving.feature_routes import build_feature_router, request_enricher
from mlstage.serving.feedback_routes import build_feedback_router
from mlstage.serving.options import ServingOptions
from mlstage.serving.pool import LoadedVersion, freeze_heap
from mlstage.serving.service import Answer, PredictionService
from mlstage.serving.service_metrics import MetricsMiddleware
from mlstage.serving.validation import InvalidRows

PUBLIC_PATHS: frozenset[str] = frozenset(
    {
        "/health",
        "/ready",
        "/metrics",
        "/v2/health/live",
        "/v2/health/ready",
        "/openapi.json",
        "/docs",
    }
)
"""Probes, metrics and the API description; every other route checks the caller."""
TARGET_ENV = "MLSTAGE_SERVE_TARGET"
OPTIONS_ENV = "MLSTAGE_SERVE_OPTIONS"
JSON_MEDIA = "application/json"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ContentTypeGuard:
    """415 for a body of any type but JSON, CSV or Parquet, before any route can read it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in _BODY_METHODS:
            header = dict(scope["headers"]).get(b"content-type")
            try:
                codecs.body_kind(header.decode("latin-1") if header else None, codecs.PREDICT_KINDS)
            except codecs.UnsupportedMediaType as exc:
                response = ErrorResponse(415, "UNSUPPORTED_MEDIA_TYPE", exc.message)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class V2ErrorBodies:
    """On ``/v2/`` paths, errors take the protocol's shape: ``{"error": "<message>", "code"}``.

    Inference clients read ``error`` as a string (tritonclient fails on an
    object), so every error there, from any layer, is rewritten on its way out.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v2/"):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def reshape(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start = message
                return
            if start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = _v2_error(b"".join(chunks))
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, reshape)


_HTML_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def _v2_error(body: bytes) -> bytes:
    try:
        error = json.loads(body)["error"]
        reshaped = json.dumps({"error": error["message"], "code": error["code"]})
    except (ValueError, KeyError, TypeError):
        return body
    return reshaped.translate(_HTML_ESCAPES).encode()  # user text stays inert, as before


def _json(content: Any) -> Response:
    return Response(codecs.dump_json(content), media_type=JSON_MEDIA)


def _build_routes(service: PredictionService) -> tuple[APIRouter, APIRouter]:
    public = APIRouter()
    protected = APIRouter(dependencies=[Depends(require_principal)])
    options = service.options
    enrich = request_enricher(service)  # fills serving_features in by entity key, if set

    @public.get("/health")
    async def health() -> Response:
        """The process is up."""
        return _json({"status": "ok"})

    @public.get("/ready")
    async def ready() -> Response:
        """Every version the target needs is loaded; 503 otherwise."""
        current = service.check_ready()
        return _json(
            {
                "status": "ready",
                "model": current.model,
                "versions": sorted(current.versions),
                "deployment": current.deployment.name if current.deployment else None,
                "revision": current.revision,
                "error": service.pool.last_error or None,
            }
        )

    @public.get("/metrics")
    async def metrics() -> Response:
        """Prometheus text format."""
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")

    @public.get("/v2/health/live")
    async def v2_live() -> Response:
        return _json({"live": True})

    @public.get("/v2/health/ready")
    async def v2_ready() -> Response:
        service.check_ready()
        return _json({"ready": True})

    @protected.post("/predict")
    async def predict(request: Request) -> Response:
        """Score ``{"records": [...]}``, ``{"columns", "data"}``, a CSV or a Parquet body."""
        kind = codecs.body_kind(request.headers.get("content-type"), codecs.PREDICT_KINDS)
        table = enrich(codecs.parse_predict(await request.body(), kind, options.max_rows))
        answer = await service.predict(table, table.key or request.headers.get("x-request-key"))
        if codecs.wants_csv(request.headers.get("accept")):
            scored = answer.scored
            content = codecs.predictions_csv(
                answer.input_names(),
                answer.input_values(),
                scored.predictions,
                answer.ids,
                scored.probabilities,
                answer.version.classes,
            )
            return Response(content, media_type="text/csv; charset=utf-8")
        return _json(answer.body())

    @protected.get("/v2")
    async def v2_server() -> Response:
        return _json(
            {"name": "mlstage", "version": __version__, "extensions": ["binary_tensor_data"]}
        )

    @protected.get("/v2/models/{name}")
    @protected.get("/v2/models/{name}/versions/{version}")
    async def v2_metadata(name: str, version: str | None = None) -> Response:
        snapshot, pinned = service.version_for(name, version)
        loaded = snapshot.versions[pinned or snapshot.primary]
        return _json(
            {
                "name": snapshot.model,
                "versions": [str(v) for v in sorted(snapshot.versions)],
                "platform": f"mlstage-{loaded.loaded.manifest.flavor}",
                "inputs": _v2_inputs(loaded),
                "outputs": _v2_outputs(loaded),
            }
        )

    @protected.get("/v2/models/{name}/ready")
    @protected.get("/v2/models/{name}/versions/{version}/ready")
    async def v2_model_ready(name: str, version: str | None = None) -> Response:
        service.check_ready()
        snapshot, _ = service.version_for(name, version)
        return _json({"name": snapshot.model, "ready": True})

    @protected.post("/v2/models/{name}/infer")
    @protected.post("/v2/models/{name}/versions/{version}/infer")
    async def v2_infer(request: Request, name: str, version: str | None = None) -> Response:
        codecs.body_kind(request.headers.get("content-type"), codecs.JSON_ONLY)
        pinned = service.version_for(name, version)
        infer = codecs.parse_infer(
            await request.body(), request.headers.get(codecs.V2_HEADER), options.max_rows
        )
        loaded = pinned[0].versions[pinned[1] or pinned[0].primary]
        columns, data = codecs.infer_table(infer, loaded.checker.names)
        table = codecs.Table(columns=columns, data=data)
        answer = await service.predict(table, request.headers.get("x-request-key"), pinned)
        body, header_length = codecs.infer_response(
            infer, _v2_values(answer), _v2_head(infer, answer)
        )
        if header_length is None:
            return Response(body, media_type=JSON_MEDIA)
        headers = {"Inference-Header-Content-Length": str(header_length)}
        return Response(body, headers=headers, media_type="application/octet-stream")

    return public, protected


def _v2_inputs(loaded: LoadedVersion) -> list[dict[str, Any]]:
    signature = loaded.signature
    if signature is None:
        return []
    if signature.input_kind == "array":
        types = {codecs.SIGNATURE_TYPES[s.type] for s in signature.inputs}
        datatype = types.pop() if len(types) == 1 else "FP64"
        return [{"name": "input-0", "datatype": datatype, "shape": [-1, len(signature.inputs)]}]
    return [
        {"name": s.name, "datatype": codecs.SIGNATURE_TYPES[s.type], "shape": [-1]}
        for s in signature.inputs
    ]


def _v2_outputs(loaded: LoadedVersion) -> list[dict[str, Any]]:
    signature = loaded.signature
    datatype = "FP64"
    if signature is not None and signature.outputs:
        datatype = codecs.SIGNATURE_TYPES[signature.outputs[0].type]
    outputs: list[dict[str, Any]] = [{"name": "predict", "datatype": datatype, "shape": [-1]}]
    if loaded.has_proba:
        width = len(loaded.classes) if loaded.classes else -1
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, width]})
    outputs.append({"name": "prediction_id", "datatype": "BYTES", "shape": [-1]})
    return outputs


def _v2_values(answer: Answer) -> dict[str, tuple[list[int], list[Any], str | None]]:
    scored = answer.scored
    rows = len(scored.predictions)
    outputs: dict[str, tuple[list[int], list[Any], str | None]] = {
        "predict": ([rows], scored.predictions, None)
    }
    if scored.probabilities is not None:
        width = len(scored.probabilities[0]) if rows else 0
        flat = [p for row in scored.probabilities for p in row]
        outputs["predict_proba"] = ([rows, width], flat, "FP64")
    outputs["prediction_id"] = ([rows], answer.ids, "BYTES")
    return outputs


def _v2_head(infer: codecs.InferRequest, answer: Answer) -> dict[str, Any]:
    head: dict[str, Any] = {
        "model_name": answer.version.name,
        "model_version": str(answer.version.version),
        "parameters": {"route": answer.route.arm, "deployment": answer.deployment or ""},
    }
    if infer.id is not None:
        head["id"] = infer.id
    return head


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _install_handlers(app: FastAPI, service: PredictionService) -> None:
    """The platform's JSON errors, plus 415 and 422; every error counted by code."""
    install_error_handlers(app)

    def counted(make: Callable[[Exception], ErrorResponse]) -> Handler:
        async def handler(request: Request, exc: Exception) -> Response:
            response = make(exc)
            route = request.scope.get("route")
            code = "INVALID_INPUT" if isinstance(exc, InvalidRows) else getattr(exc, "code", "")
            if isinstance(exc, codecs.UnsupportedMediaType):
                code = "UNSUPPORTED_MEDIA_TYPE"
            endpoint = getattr(route, "path", "unmatched")
            service.metrics.errors.labels(endpoint, code or str(response.status_code)).inc()
            return response

        return handler

    def rows_error(exc: Exception) -> ErrorResponse:
        assert isinstance(exc, InvalidRows)
        return ErrorResponse(422, exc.code, exc.message)

    def media_error(exc: Exception) -> ErrorResponse:
        assert isinstance(exc, codecs.UnsupportedMediaType)
        return ErrorResponse(415, "UNSUPPORTED_MEDIA_TYPE", exc.message)

    def platform_error(exc: Exception) -> ErrorResponse:
        assert isinstance(exc, MlstageError)
        return mlstage_error_response(exc)

    app.add_exception_handler(InvalidRows, counted(rows_error))
    app.add_exception_handler(codecs.UnsupportedMediaType, counted(media_error))
    app.add_exception_handler(MlstageError, counted(platform_error))


def open_routes(app: FastAPI) -> list[str]:
    """Routes that neither are public nor check the caller (fail closed: must be empty)."""
    found = []
    for route in live_routes(app):
        path = getattr(route, "path", None)
        if path in PUBLIC_PATHS or is_protected(route):
            continue
        methods = ",".join(sorted(getattr(route, "methods", None) or ()))
        found.append(f"{methods or type(route).__name__} {path!r}")
    return found


def _include_page(app: FastAPI, service: PredictionService, protected: APIRouter) -> None:
    try:
        from mlstage.serving.page import build_page_router
    except ModuleNotFoundError as exc:  # the page is optional until it lands
        if exc.name != "mlstage.serving.page":
            raise

        @protected.get("/")
        async def index() -> Response:
            return _json({"service": service.title(), "predict": "/predict", "v2": "/v2"})

        return
    app.include_router(build_page_router(service), dependencies=[Depends(require_principal)])


def create_serving_app(
    target: str,
    settings: Settings | None = None,
    options: ServingOptions | None = None,
    *,
    clock: Callable[[], int] | None = None,
) -> FastAPI:
    """A prediction service for ``target``; its versions are loaded before this returns.

    ``target``: ``churn@champion``, ``churn/3``, ``models:/churn@champion`` or
    ``deployment:churn-prod`` (followed: new revisions are hot-swapped in).
    Models load through the process settings (``load_model``); ``settings``
    gives the serving limits and the request log's destination. ``clock``
    (milliseconds since the epoch) stamps the request log; tests and the demo
    pass a simulated one.
    """
    settings = settings or get_settings()
    options = options or ServingOptions.from_settings(settings)
    service = PredictionService(target, settings, options, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        freeze_heap()
        yield
        service.close()

    app = FastAPI(
        title=f"mlstage prediction service: {service.title()}",
        version=__version__,
        lifespan=lifespan,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.service = service
    app.state.settings = settings
    install_serving_auth(app, settings)
    _install_handlers(app, service)
    public, protected = _build_routes(service)
    _include_page(app, service, protected)
    app.include_router(build_feature_router(settings))
    app.include_router(build_feedback_router(settings, service))
    app.include_router(public)
    app.include_router(protected)
    app.add_middleware(ContentTypeGuard)
    app.add_middleware(BodyLimitMiddleware, default=options.max_body_bytes)
    app.add_middleware(V2ErrorBodies)
    app.add_middleware(MetricsMiddleware, metrics=service.metrics)
    unchecked = open_routes(app)
    if unchecked:
        service.close()
        raise RuntimeError(
            "routes without the require_principal dependency and not public: "
            + ", ".join(unchecked)
        )
    return app


def app_from_environment() -> FastAPI:
    """The factory ``mlstage serve --workers N`` gives uvicorn: target and options from env."""
    target = os.environ.get(TARGET_ENV, "")
    options_json = os.environ.get(OPTIONS_ENV)
    options = ServingOptions.from_json(options_json) if options_json else None
    return create_serving_app(target, options=options)
