"""The UI's script and stylesheet, and Plotly's JavaScript from the installed ``plotly`` package.

Plotly is never copied into the repository nor fetched from a CDN: the file
ships inside the Python package, is read from there, and is served under a
URL that carries its version, so browsers may cache it for a year.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import Request, Response
from fastapi.responses import FileResponse

from mlstage.errors import NotFound

STATIC_PREFIX = "/ui/static"
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
FILES = ("ui.css", "ui.js", "charts.js", "charts.css", "noscript.css")
YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    media_type: str
    etag: str


@cache
def static_file(name: str) -> StaticFile:
    if name not in FILES:
        raise NotFound(f"no static file {name[:100]!r}")
    body = resources.files("mlstage.server.ui").joinpath("static", name).read_bytes()
    media_type = MEDIA_TYPES[Path(name).suffix]
    return StaticFile(body, media_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def static_response(request: Request, name: str) -> Response:
    """The file, or 304 when the browser has it: ``no-cache`` so an upgrade shows at once."""
    file = static_file(name)
    headers = {"ETag": file.etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == file.etag:
        return Response(status_code=304, headers=headers)
    return Response(file.body, media_type=file.media_type, headers=headers)


@cache
def plotly_js() -> tuple[Path, str]:
    """The installed package's ``plotly.min.js`` and its version (part of the URL)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise NotFound(f"the installed plotly package has no {path.name}; reinstall plotly")
    return path, str(plotly.__version__)


_STYLE_INJECTION = re.compile(
    rb'getElementById\("([0-9a-f]{16,64})"\)\)\{var \w+=document\.createElement\("style"\)'
)


@cache
def plotly_style_guards() -> tuple[str, ...]:
    """Ids of the ``<style>`` elements plotly.min.js injects at load unless one already exists.

    The bundled map library (maplibre) adds its stylesheet that way, which the
    CSP blocks and reports on every page. The layout puts an inert element with
    each id in the head: the injection is skipped; the UI draws no maps.
    """
    path, _ = plotly_js()
    return tuple(m.decode() for m in dict.fromkeys(_STYLE_INJECTION.findall(path.read_bytes())))


def plotly_url() -> str:
    return f"{STATIC_PREFIX}/plotly-{plotly_js()[1]}.min.js"


def plotly_head() -> dict[str, object]:
    """What a page with charts puts in its head: the script URL and the style guards."""
    return {"url": plotly_url(), "guards": plotly_style_guards()}


def plotly_response(version: str) -> Response:
    """Plotly's script, cached for a year: a new plotly version changes the URL."""
    path, installed = plotly_js()
    if version != installed:
        raise NotFound(f"plotly {version[:40]!r} is not installed (this server has {installed})")
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[".js"],
        headers={
            "Cache-Control": f"public, max-age={YEAR}, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )
