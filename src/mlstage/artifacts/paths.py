"""User-supplied artifact paths, canonicalised before they name anything.

A path is relative, uses ``/``, has no empty, ``.`` or ``..`` segment, and is
made of printable characters from an allow-list. The result can be joined
under a run's prefix and is guaranteed to stay inside it.
"""

from __future__ import annotations

import re
import unicodedata

from mlstage.errors import InvalidInput

MAX_PATH_LENGTH = 1000
_SEGMENT = re.compile(r"[A-Za-z0-9_\-.+=@,~ ]+")


def canonical_artifact_path(path: str, field: str = "artifact path") -> str:
    """Return the canonical form of ``path`` or raise ``InvalidInput`` saying why."""
    if not isinstance(path, str):
        raise InvalidInput(f"{field} must be a string, got {type(path).__name__}")
    normal = unicodedata.normalize("NFC", path)
    if not normal:
        raise InvalidInput(f"{field} must not be empty")
    if len(normal) > MAX_PATH_LENGTH:
        raise InvalidInput(f"{field} is {len(normal)} characters; the limit is {MAX_PATH_LENGTH}")
    if "\\" in normal:
        raise InvalidInput(f"{field} {path!r} must use '/' as separator, not '\\'")
    if normal.startswith("/") or re.match(r"^[A-Za-z]:", normal) or "://" in normal:
        raise InvalidInput(f"{field} {path!r} must be relative to the run")
    segments = [s for s in normal.split("/")]
    if segments[-1] == "":
        segments.pop()  # a trailing slash names a folder
    for segment in segments:
        if segment in ("", ".", ".."):
            raise InvalidInput(
                f"{field} {path!r} has an empty, '.' or '..' segment; it must stay inside its run"
            )
        if not _SEGMENT.fullmatch(segment):
            raise InvalidInput(
                f"{field} {path!r}: segment {segment!r} may only contain letters, digits, "
                "spaces and _ - . + = @ , ~"
            )
        if segment != segment.strip():
            raise InvalidInput(f"{field} {path!r}: segment {segment!r} starts or ends with a space")
    return "/".join(segments)


def canonical_prefix(path: str | None) -> str:
    """A folder prefix for listing: '' for the run's root."""
    if path is None or path in ("", "/", "."):
        return ""
    return canonical_artifact_path(path.rstrip("/"), field="artifact folder")
