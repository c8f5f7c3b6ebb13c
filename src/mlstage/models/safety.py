"""Refuse files that would run code when loaded: pickles, and pickles in disguise.

Detection is by content, never by what a manifest or a file name claims:
pickle opcodes at the start of a file, compressed pickles (joblib's zlib,
gzip, bz2, xz), zip archives (``.pt``, ``.npz``, ``.skops``) holding a pickle
or a NumPy array of Python objects, and bare ``.npy`` files of objects.
An administrator may allow them with the ``allow_pickle_models`` setting.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import zipfile
import zlib

from mlstage.errors import InvalidInput

_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".dill", ".cloudpickle")
_MAX_ZIP_MEMBERS = 10_000
_PEEK = 64


# Protocols 0 and 1 have no header; the classic exploit form starts with a
# GLOBAL opcode naming a callable ("cos\nsystem\n"), possibly after a MARK.
_OLD_PICKLE = re.compile(rb"\(?c[A-Za-z_][\w.]*\n[A-Za-z_]\w*\n")


def _starts_like_pickle(head: bytes) -> bool:
    # Protocols 2-5 begin with PROTO (0x80) and the protocol number.
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    return _OLD_PICKLE.match(head) is not None


def _npy_holds_objects(head: bytes) -> bool:
    return head.startswith(b"\x93NUMPY") and b"'descr': '|O'" in head[:256]


def _decompressed_head(data: bytes) -> bytes | None:
    try:
        if data[:2] in (b"x\x9c", b"x\x01", b"x\xda", b"x^"):
            return zlib.decompressobj().decompress(data[:4096], _PEEK)
        if data[:2] == b"\x1f\x8b":
            return gzip.GzipFile(fileobj=io.BytesIO(data)).read(_PEEK)
        if data[:3] == b"BZh":
            return bz2.BZ2Decompressor().decompress(data[:4096], _PEEK)
        if data[:6] == b"\xfd7zXZ\x00":
            return lzma.LZMADecompressor().decompress(data[:4096], _PEEK)
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError):
        return None
    return None


def pickle_reason(path: str, data: bytes) -> str | None:
    """Why ``data`` (the content of ``path``) would execute code on load, or None."""
    if path.lower().endswith(_PICKLE_SUFFIXES) and not data.startswith(b"PK\x03\x04"):
        return "its name marks it as a pickle"
    head = data[:512]
    if _starts_like_pickle(head):
        return "it is a pickle"
    if _npy_holds_objects(head):
        return "it is a NumPy array of Python objects (stored as a pickle)"
    inner = _decompressed_head(data)
    if inner is not None and _starts_like_pickle(inner):
        return "it is a compressed pickle"
    if data.startswith(b"PK\x03\x04"):
        return _zip_reason(data)
    return None


def _zip_reason(data: bytes) -> str | None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return None
    members = archive.infolist()
    if len(members) > _MAX_ZIP_MEMBERS:
        return f"it is an archive of {len(members)} members (the limit is {_MAX_ZIP_MEMBERS})"
    for member in members:
        if member.is_dir():
            continue
        with archive.open(member) as handle:
            head = handle.read(512)
        if member.filename.lower().endswith(_PICKLE_SUFFIXES) or _starts_like_pickle(head):
            return f"its member {member.filename!r} is a pickle"
        if _npy_holds_objects(head):
            return f"its member {member.filename!r} is a NumPy array of Python objects"
    return None


def check_not_pickle(path: str, data: bytes, *, allowed: bool) -> None:
    """Raise ``InvalidInput`` for a code-bearing file unless an administrator allowed them."""
    if allowed:
        return
    reason = pickle_reason(path, data)
    if reason is not None:
        raise InvalidInput(
            f"model file {path!r} is refused: {reason}, and loading it could run arbitrary code. "
            "Save the model with a safe flavor (scikit-learn models are saved with skops), or "
            "ask an administrator to set allow_pickle_models"
        )
