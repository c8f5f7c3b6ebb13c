"""Safe previews of run artifacts: text escaped, tables as tables, images checked by their bytes.

Nothing an artifact holds ever runs in the page: text (HTML and SVG
included) is shown as escaped text; images are shown only when their first
bytes prove them PNG, JPEG, GIF or WebP, as a ``data:`` URI the page's
Content-Security-Policy allows for images only; anything else, or anything
too large, offers the download (an attachment) instead.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlstage.config import Settings

MAX_TEXT_BYTES = 256 * 1024
"""Text beyond this is cut (the preview says so); the download has all of it."""
MAX_IMAGE_BYTES = 2 * 1024 * 1024
MAX_TABLE_ROWS = 50
TEXT_SUFFIXES = frozenset(
    {
        "txt", "log", "md", "json", "yaml", "yml", "toml", "cfg", "ini", "py", "sql",
        "html", "htm", "svg", "xml", "csv", "tsv",
    }
)  # fmt: skip
IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


@dataclass
class Preview:
    """What the preview page shows: one of ``text``, ``table``, ``image_uri``, or ``reason``."""

    kind: str
    text: str = ""
    truncated: bool = False
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    image_uri: str = ""
    reason: str = ""


def suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def image_type(data: bytes) -> str | None:
    """The image type ``data`` really is (by its magic bytes), or ``None``."""
    for magic, media_type in IMAGE_MAGIC:
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def can_preview(path: str, size: int | None) -> bool:
    """Whether the preview is worth reading ``size`` bytes for."""
    if size is None:
        return False
    kind = suffix(path)
    if kind in TEXT_SUFFIXES:
        return True
    if kind in ("png", "jpg", "jpeg", "gif", "webp"):
        return size <= MAX_IMAGE_BYTES
    return kind == "parquet" and size <= 64 * 1024 * 1024


def preview(path: str, data: bytes, settings: Settings | None = None) -> Preview:
    """The preview of artifact ``path`` with content ``data``.

    Tables show personal data masked or hashed (``governance.pii_masking``):
    columns the detectors flag in the rows shown, and columns ``settings`` declare.
    """
    shown = _preview(path, data)
    if shown.kind == "table" and shown.rows:
        from mlstage.config import Settings
        from mlstage.governance.pii_masking import mask_rows

        shown.rows = mask_rows(shown.columns, shown.rows, settings or Settings())
    return shown


def _preview(path: str, data: bytes) -> Preview:
    kind = suffix(path)
    if kind in ("png", "jpg", "jpeg", "gif", "webp"):
        media_type = image_type(data)
        if media_type is None:
            return Preview("none", reason="the file's bytes are not an image of a known type")
        encoded = base64.b64encode(data).decode("ascii")
        return Preview("image", image_uri=f"data:{media_type};base64,{encoded}")
    if kind == "parquet":
        return _parquet(data)
    if kind in ("csv", "tsv"):
        return _delimited(data, "\t" if kind == "tsv" else ",")
    if kind in TEXT_SUFFIXES:
        return _text(data, pretty_json=kind == "json")
    return Preview("none", reason="no preview for this type of file")


def _text(data: bytes, pretty_json: bool = False) -> Preview:
    truncated = len(data) > MAX_TEXT_BYTES
    text = data[:MAX_TEXT_BYTES].decode("utf-8", errors="replace")
    if pretty_json and not truncated:
        with contextlib.suppress(ValueError):  # not JSON after all: shown as it is
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return Preview("text", text=text, truncated=truncated)


def _delimited(data: bytes, delimiter: str) -> Preview:
    text = data[:MAX_TEXT_BYTES].decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = []
    for row in reader:
        rows.append(row)
        if len(rows) > MAX_TABLE_ROWS:
            break
    if not rows:
        return Preview("text", text="")
    return Preview(
        "table", columns=rows[0], rows=rows[1 : MAX_TABLE_ROWS + 1], truncated=len(rows) > 50
    )


def _parquet(data: bytes) -> Preview:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        first = next(parquet.iter_batches(batch_size=MAX_TABLE_ROWS), None)
    except (pa.ArrowException, OSError) as exc:
        return Preview("none", reason=f"not a readable Parquet file: {exc}")
    if first is None:
        return Preview("table", columns=list(parquet.schema_arrow.names))
    columns = first.schema.names
    rows = [[row[c] for c in columns] for row in first.to_pylist()]
    total = parquet.metadata.num_rows
    return Preview("table", columns=columns, rows=rows, truncated=total > len(rows))
