"""Prometheus metrics of one prediction service, in its own registry.

One ``CollectorRegistry`` per app, not the process-global one, so that
several services in one process (tests, notebooks) keep their own counts.
Requests are counted by an ASGI middleware that labels them with the route
template (``/v2/models/{name}/infer``), never the raw path, so a scan of
random URLs cannot blow up the number of series.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096, 16384)


class ServiceMetrics:
    """Every series the service exports; ``render()`` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "mlstage_serving_requests",
            "HTTP requests by route template, method and status",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "mlstage_serving_request_seconds",
            "Request latency by route template",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "mlstage_serving_errors",
            "Failed requests by error code (INVALID_INPUT, UNSUPPORTED_MEDIA_TYPE, ...)",
            ["endpoint", "code"],
            registry=r,
        )
        self.predictions = Counter(
            "mlstage_serving_predictions",
            "Rows scored, by model version and route (primary, candidate, shadow)",
            ["model", "version", "route"],
            registry=r,
        )
        self.predict_seconds = Histogram(
            "mlstage_serving_model_seconds",
            "Time of one model call (one micro-batch), by model version",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_rows = Histogram(
            "mlstage_serving_batch_rows",
            "Rows scored in one model call",
            ["model", "version"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_requests = Histogram(
            "mlstage_serving_batch_requests",
            "Requests sharing one model call (micro-batching)",
            ["model", "version"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.shadow_errors = Counter(
            "mlstage_serving_shadow_errors",
            "Shadow scorings that failed (never seen by clients)",
            ["model", "version"],
            registry=r,
        )
        self.revision = Gauge(
            "mlstage_serving_deployment_revision",
            "Revision of the deployment record being served (0: a single version)",
            registry=r,
        )
        self.loaded = Gauge(
            "mlstage_serving_loaded_versions",
            "Model versions loaded and serving",
            ["model", "version"],
            registry=r,
        )
        self.swap_failures = Counter(
            "mlstage_serving_swap_failures",
            "Deployment revisions that failed to load (the old versions kept serving)",
            registry=r,
        )
        self.log_dropped = Gauge(
            "mlstage_serving_request_log_dropped",
            "Prediction records the request log dropped because its queue was full",
            registry=r,
        )
        self.log_failed = Gauge(
            "mlstage_serving_request_log_failed",
            "Prediction records the request log could not store, after retries",
            registry=r,
        )

    def batch_observer(self, model: str, version: int) -> Callable[[int, int, float], None]:
        """The batcher's callback for one version, with its label children bound once."""
        labels = (model, str(version))
        seconds = self.predict_seconds.labels(*labels)
        rows_seen = self.batch_rows.labels(*labels)
        requests_seen = self.batch_requests.labels(*labels)

        def observe(rows: int, requests: int, elapsed: float) -> None:
            seconds.observe(elapsed)
            rows_seen.observe(rows)
            requests_seen.observe(requests)

        return observe

    def set_loaded(self, model: str, versions: list[int]) -> None:
        self.loaded.clear()
        for version in versions:
            self.loaded.labels(model, str(version)).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request, labelled by the route that served it."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(endpoint, scope["method"], str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
