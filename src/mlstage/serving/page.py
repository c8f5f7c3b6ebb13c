"""The prediction page for end users: a form generated from the model's signature.

``GET /`` renders the page for the model the service holds at that moment,
so a hot swap to a version with other columns changes the form on the next
load. The script and the stylesheet are package files served by this router
at ``/static/``: the page needs nothing outside the service (it works on a
closed network) and has no build step. Text that comes from a model (column
names, categories, classes) is escaped by Jinja2 on the server and set with
``textContent`` in the browser; the Content-Security-Policy admits scripts
and styles from the service's own origin only, so even a missed escape could
not run.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from importlib import resources
from typing import Literal, Protocol

from fastapi import APIRouter, Depends, Request, Response
from jinja2 import Environment, PackageLoader, Template

from mlstage.models.signature import ColumnSpec, Signature
from mlstage.server.auth import require_principal

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
PREVIEW_ROWS = 100
"""Rows of a scored CSV shown on the page; the download holds them all."""

Widget = Literal["number", "select", "checkbox", "datetime", "text"]


class PageService(Protocol):
    """What the page needs from the prediction service."""

    def signature(self) -> Signature | None: ...

    def title(self) -> str: ...


@dataclass(frozen=True)
class FormField:
    """One input of the form. Plain text throughout: the template escapes it."""

    name: str
    type: str
    widget: Widget
    nullable: bool
    min: str | None = None
    max: str | None = None
    step: str | None = None
    range_text: str | None = None
    """The training range for people to read: rounded, where ``min`` and ``max`` are exact."""
    categories: tuple[str, ...] = ()

    @property
    def hint(self) -> str | None:
        """The line under the input: the training range, and whether it may stay empty."""
        parts = [f"training range {self.range_text}"] if self.range_text else []
        if self.nullable and self.widget in ("number", "text", "datetime"):
            parts.append("may be left empty")
        return "; ".join(parts) or None


@dataclass(frozen=True)
class StaticFile:
    """A package file held in memory, with the ETag a browser revalidates its copy by."""

    body: bytes
    media_type: str
    etag: str


def form_fields(signature: Signature | None) -> list[FormField]:
    """The form's inputs, one per input column in the signature's order (none without one)."""
    return [_field(spec) for spec in signature.inputs] if signature else []


def _field(spec: ColumnSpec) -> FormField:
    widget = _widget(spec)
    numeric = widget == "number"
    return FormField(
        name=spec.name,
        type=spec.type,
        widget=widget,
        nullable=spec.nullable,
        min=_number(spec.min) if numeric else None,
        max=_number(spec.max) if numeric else None,
        step=_STEPS.get(spec.type),
        range_text=_range_text(spec) if numeric else None,
        categories=tuple(spec.categories or ()) if widget == "select" else (),
    )


_STEPS = {"integer": "1", "float": "any", "datetime": "1"}
"""``any`` lets a float take every value; ``1`` on a date-time input asks for seconds."""


def _widget(spec: ColumnSpec) -> Widget:
    if spec.type in ("integer", "float"):
        return "number"
    if spec.type == "boolean":
        return "checkbox"
    if spec.type == "datetime":
        return "datetime"
    return "select" if spec.categories else "text"


def _number(value: float | None) -> str | None:
    """A bound as an HTML number attribute: exact (a rounded bound would flag training data)."""
    if value is None or not math.isfinite(value):
        return None
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _range_text(spec: ColumnSpec) -> str | None:
    if spec.min is None or spec.max is None:
        return None
    if not (math.isfinite(spec.min) and math.isfinite(spec.max)):
        return None
    return f"{_readable(spec.min)} to {_readable(spec.max)}"


def _readable(value: float) -> str:
    """Six significant digits, in plain notation for everyday magnitudes."""
    if value == 0 or not 1e-4 <= abs(value) < 1e15:
        return f"{value:.6g}"
    decimals = max(0, 5 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _static(name: str, media_type: str) -> StaticFile:
    body = resources.files("mlstage.serving").joinpath("static", name).read_bytes()
    return StaticFile(body, media_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def _template() -> Template:
    """The page template, loaded once; autoescape is on for every value, whatever the name."""
    env = Environment(
        loader=PackageLoader("mlstage.serving", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("page.html")


def _static_response(request: Request, file: StaticFile) -> Response:
    """The file, or 304 when the browser has it: ``no-cache`` so an upgrade shows at once."""
    headers = {
        "ETag": file.etag,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == file.etag:
        return Response(status_code=304, headers=headers)
    return Response(file.body, media_type=file.media_type, headers=headers)


def build_page_router(service: PageService) -> APIRouter:
    """``GET /`` (the page) and its ``/static/page.js`` and ``/static/page.css``.

    Every route depends on ``require_principal``: the page is not on the
    public list, so it asks for the same credentials as ``/predict``.
    """
    template = _template()
    files = {
        "page.js": _static("page.js", "text/javascript; charset=utf-8"),
        "page.css": _static("page.css", "text/css; charset=utf-8"),
    }
    router = APIRouter(dependencies=[Depends(require_principal)], include_in_schema=False)

    @router.get("/")
    def page() -> Response:  # in the threadpool: the service may take a lock to answer
        signature = service.signature()
        html = template.render(
            title=service.title(), fields=form_fields(signature), preview_rows=PREVIEW_ROWS
        )
        headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
        return Response(html, media_type="text/html; charset=utf-8", headers=headers)

    @router.get("/static/page.js")
    async def script(request: Request) -> Response:
        return _static_response(request, files["page.js"])

    @router.get("/static/page.css")
    async def stylesheet(request: Request) -> Response:
        return _static_response(request, files["page.css"])

    return router
