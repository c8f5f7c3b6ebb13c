"""Feature sources: a Parquet file, a folder of them, or a registered dataset version.

A source path is resolved when the definitions are applied (relative to the
definitions file) and stored absolute; readers list its files again on every
read, so new files dropped into a folder are picked up. Only files ending in
``.parquet`` are read, and names reach DuckDB and Arrow as parameters, never
spliced into SQL.

A dataset reference (``customer_stats@3``, ``customer_stats@latest``) is
pinned at apply time to one version and its snapshot's sha256
(``dataset:customer_stats@3#<sha256>``); readers use a local copy of the
snapshot under ``.mlstage/feature-cache/``, written once after the artifact
store checked its hash. Re-applying ``@latest`` after a new version moves the
pin, which counts as a changed source.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from mlstage.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import pyarrow as pa


DATASET_PREFIX = "dataset:"
_DATASET_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}@[A-Za-z0-9]{1,64}")


def resolve_source(source: str, base: Path, where: str) -> str:
    """The absolute path of ``source`` (relative to ``base``), or a pinned dataset version."""
    if "\x00" in source:
        raise InvalidInput(f"{where}: source path contains a NUL character")
    if _DATASET_REF.fullmatch(source) and not (base / source).exists():
        return _pin_dataset(source, where)
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = base / path
    path = path.resolve()
    if path.is_dir():
        if not any(path.rglob("*.parquet")):
            raise InvalidInput(f"{where}: source folder {str(path)!r} holds no .parquet files")
        return str(path)
    if not path.is_file():
        raise InvalidInput(f"{where}: source {source!r} does not exist (looked at {str(path)!r})")
    if path.suffix != ".parquet":
        raise InvalidInput(f"{where}: source {source!r} is not a .parquet file")
    return str(path)


def _pin_dataset(ref: str, where: str) -> str:
    try:
        from mlstage.data import datasets
    except ModuleNotFoundError:  # pragma: no cover - the data package ships with mlstage
        raise InvalidInput(f"{where}: dataset sources need mlstage.data") from None
    try:
        version = datasets.get(ref)
    except NotFound as exc:
        raise InvalidInput(f"{where}: source dataset {ref!r}: {exc.message}") from None
    return f"{DATASET_PREFIX}{version.name}@{version.version}#{version.snapshot_sha256}"


def _dataset_file(source: str) -> str:
    """A local, hash-checked copy of a pinned dataset version's snapshot."""
    import os

    from mlstage.artifacts.store import get_artifact_store
    from mlstage.config import get_settings

    ref, _, sha = source.removeprefix(DATASET_PREFIX).partition("#")
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise InvalidInput(f"feature source {source[:200]!r} is not a pinned dataset version")
    settings = get_settings()
    folder = settings.home / "feature-cache"
    path = folder / f"{sha}.parquet"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        store = get_artifact_store(settings.artifact_root, settings.s3_endpoint_url)
        try:
            data = store.get_bytes(sha)
        except NotFound as exc:
            raise NotFound(f"dataset {ref}: its snapshot is missing ({exc.message})") from exc
        partial = folder / f".{sha}.{os.getpid()}.tmp"
        partial.write_bytes(data)
        partial.replace(path)
    return str(path)


def source_files(source: str) -> list[str]:
    """The Parquet files of a resolved source, in a stable order."""
    if source.startswith(DATASET_PREFIX):
        return [_dataset_file(source)]
    path = Path(source)
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*.parquet") if p.is_file())
    elif path.is_file():
        files = [str(path)]
    else:
        files = []
    if not files:
        raise NotFound(f"feature source {source!r} is gone or holds no .parquet files")
    return files


def source_schema(source: str) -> pa.Schema:
    import pyarrow.parquet as pq

    return pq.read_schema(source_files(source)[0])


def arrow_dtype(kind: pa.DataType) -> str | None:
    """The feature dtype an Arrow column reads as, or None when there is none."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_integer(kind):
        return "int64" if kind.bit_width > 32 or pa.types.is_unsigned_integer(kind) else "int32"
    if pa.types.is_floating(kind):
        return "float32" if kind.bit_width <= 32 else "float64"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return "timestamp"
    return None


COMPATIBLE = {
    "int32": {"int32"},
    "int64": {"int32", "int64"},
    "float32": {"float32", "int32"},
    "float64": {"float32", "float64", "int32", "int64"},
    "string": {"string"},
    "bool": {"bool"},
    "timestamp": {"timestamp"},
}
"""Declared dtype -> source column dtypes that read into it without loss of meaning."""
