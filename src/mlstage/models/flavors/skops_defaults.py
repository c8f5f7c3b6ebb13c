"""``import skops.io`` without recomputing skops' default trusted types in every process.

skops decides at import time which types it trusts by default: every
scikit-learn estimator (``sklearn.utils.all_estimators``, which imports every
scikit-learn module and inspects every class), every NumPy and SciPy ufunc,
NumPy's dtypes and bit generators. For the same installed packages the lists
are the same every time, yet computing them is about a quarter of a fresh
process's time to load a model. So, the way CPython keeps bytecode:

- the first import in an environment runs skops' own computation, then
  writes its lists to ``__pycache__`` beside this file, only where CPython
  itself may write bytecode (not under ``PYTHONDONTWRITEBYTECODE``), so the
  cache is exactly as trusted as the code next to it;
- later processes put those lists in place as ``skops.io._trusted_types``
  before importing skops, which then skips the computation.

The lists are skops' own defaults, copied unchanged: never mlstage's
settings, never anything from a model file. The trusted set of every load is
the same with or without the cache. The cache is keyed by the content of
skops' module that computes the lists, of the ``__init__.py`` of skops,
scikit-learn, NumPy and SciPy (their versions), and by the Python version; a
missing, stale, malformed, or group- or world-writable cache, or any error,
falls back to skops' own import.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import tempfile
import types
from importlib.util import find_spec
from pathlib import Path
from typing import Any

SOURCE_MODULE = "skops.io._trusted_types"
CACHE_DIR = Path(__file__).resolve().parent / "__pycache__"
_KEY_PACKAGES = ("skops", "sklearn", "numpy", "scipy")


def import_skops_io() -> Any:
    """``skops.io``, imported with the cached default lists when a valid cache exists."""
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    key = _cache_key()
    cached = _read(key) if key is not None else None
    if cached is not None and SOURCE_MODULE not in sys.modules:
        module = types.ModuleType(SOURCE_MODULE)
        module.__dict__.update(cached)
        module.__dict__["__mlstage_cached__"] = True
        sys.modules[SOURCE_MODULE] = module
        try:
            import skops.io
        except ImportError:  # skops wants a name the cache lacks: its own import, from scratch
            _forget_skops_io()
        else:
            return skops.io
    import skops.io

    if key is not None and cached is None:
        _write(key, sys.modules.get(SOURCE_MODULE))
    return skops.io


def default_names() -> frozenset[str]:
    """Every type name skops trusts by default: from the cache, else from skops, imported."""
    key = _cache_key()
    cached = _read(key) if key is not None else None
    if cached is None:
        import_skops_io()
        cached = default_lists(sys.modules[SOURCE_MODULE])
    return frozenset(name for names in cached.values() for name in names)


def default_lists(module: Any) -> dict[str, list[str]]:
    """The lists of type names a ``skops.io._trusted_types`` module defines."""
    return {
        name: list(value)
        for name, value in vars(module).items()
        if name.isupper()
        and isinstance(value, list)
        and all(isinstance(item, str) for item in value)
    }


def cache_file(key: str) -> Path:
    return CACHE_DIR / f"skops-trusted-defaults.{key[:32]}.json"


def _cache_key() -> str | None:
    """A digest of what the lists depend on, read without importing the packages."""
    digest = hashlib.sha256(sys.version.encode())
    try:
        for name in _KEY_PACKAGES:
            spec = find_spec(name)
            if spec is None or spec.origin is None:
                return None
            origin = Path(spec.origin)
            digest.update(f"\0{name}\0{origin}\0".encode())
            digest.update(origin.read_bytes())
            if name == "skops":
                digest.update((origin.parent / "io" / "_trusted_types.py").read_bytes())
    except (OSError, ImportError, ValueError):
        return None
    return digest.hexdigest()


def _read(key: str) -> dict[str, list[str]] | None:
    path = cache_file(key)
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or info.st_uid not in (0, os.getuid()):
                return None  # writable by others, or owned by another user: not as trusted
            raw = json.loads(handle.read())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or raw.get("key") != key:
        return None
    lists = raw.get("lists")
    if not isinstance(lists, dict) or not lists:
        return None
    for name, value in lists.items():
        if not (
            isinstance(name, str)
            and name.isupper()
            and isinstance(value, list)
            and all(isinstance(item, str) for item in value)
        ):
            return None
    return lists


def _write(key: str, module: Any) -> None:
    """Keep skops' freshly computed lists for the next process (best effort)."""
    if module is None or getattr(module, "__mlstage_cached__", False) or sys.dont_write_bytecode:
        return
    lists = default_lists(module)
    if not lists:
        return
    try:
        CACHE_DIR.mkdir(mode=0o755, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=CACHE_DIR, prefix=".skops-defaults-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"key": key, "lists": lists}, handle)
            os.chmod(tmp, 0o644)
            os.replace(tmp, cache_file(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return


def _forget_skops_io() -> None:
    for name in [n for n in sys.modules if n == "skops.io" or n.startswith("skops.io.")]:
        del sys.modules[name]
