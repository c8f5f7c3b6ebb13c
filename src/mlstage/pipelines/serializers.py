"""Step outputs to bytes and back, one serializer per kind, none of them pickle.

- ``dataframe``: Parquet (pyarrow), index kept.
- ``ndarray``: ``.npy`` with ``allow_pickle=False`` both ways, so object arrays are refused.
- ``sklearn``: skops, through the scikit-learn flavor of ``mlstage.models`` (its vetted
  trusted types on load); the archive's object ids and timestamps are fixed, so the
  same model gives the same bytes in any process, and so the same hash for caching.
- ``json``: canonical JSON (sorted keys, no spaces).

The bytes are content-addressed in the artifact store; their sha256 is what
caching and lineage record.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from mlstage.errors import InvalidInput
from mlstage.pipelines.types import Kind, type_name

SUFFIX: dict[str, str] = {
    "json": ".json",
    "dataframe": ".parquet",
    "ndarray": ".npy",
    "sklearn": ".skops",
    "none": ".json",
}


def dump(kind: Kind, value: Any, where: str) -> bytes:
    """The bytes of ``value``; ``where`` names the step output in error messages."""
    if kind in ("json", "none"):
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"{where}: a {type(value).__name__} is not JSON-able: {exc}"
            ) from exc
    if kind == "dataframe":
        return _dump_dataframe(value, where)
    if kind == "ndarray":
        import numpy as np

        if not isinstance(value, np.ndarray):
            raise InvalidInput(f"{where}: expected a numpy.ndarray, got {type(value).__name__}")
        out = io.BytesIO()
        try:
            np.save(out, value, allow_pickle=False)
        except ValueError as exc:
            raise InvalidInput(
                f"{where}: an array of dtype {value.dtype} cannot be stored without pickle"
            ) from exc
        return out.getvalue()
    if kind == "sklearn":
        from mlstage.models.flavors.sklearn import MODEL_FILE, SklearnFlavor

        files, _ = SklearnFlavor().save(value)
        return _canonical_skops(files[MODEL_FILE])
    raise InvalidInput(f"{where}: no serializer for kind {kind!r}")


def load(kind: Kind, data: bytes, where: str) -> Any:
    if kind in ("json", "none"):
        return json.loads(data.decode("utf-8"))
    if kind == "dataframe":
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(data)).to_pandas()
    if kind == "ndarray":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if kind == "sklearn":
        from mlstage.config import get_settings
        from mlstage.models.flavors.sklearn import MODEL_FILE, SklearnFlavor
        from mlstage.models.manifest import ModelManifest
        from mlstage.models.safety import check_not_pickle

        check_not_pickle(MODEL_FILE, data, allowed=False)
        manifest = ModelManifest(flavor="sklearn", model_class="")
        return SklearnFlavor().load({MODEL_FILE: data}, manifest, get_settings())
    raise InvalidInput(f"{where}: no serializer for kind {kind!r}")


def _dump_dataframe(value: Any, where: str) -> bytes:
    import pandas as pd

    if not isinstance(value, pd.DataFrame):
        raise InvalidInput(f"{where}: expected a pandas.DataFrame, got {type(value).__name__}")
    out = io.BytesIO()
    try:
        value.to_parquet(out, engine="pyarrow")
    except (ValueError, TypeError, ImportError) as exc:
        raise InvalidInput(f"{where}: the DataFrame cannot be written as Parquet: {exc}") from exc
    except Exception as exc:  # pyarrow's ArrowInvalid and friends
        raise InvalidInput(f"{where}: the DataFrame cannot be written as Parquet: {exc}") from exc
    return out.getvalue()


def _canonical_skops(data: bytes) -> bytes:
    """The same skops archive, made reproducible so that equal models hash equal.

    skops names objects and array files by ``id()`` (memory addresses, different
    in every process) and dates members with the current time. Here the ids are
    renumbered in order of first appearance in ``schema.json``, the array files
    renamed to match, and every member dated 1980-01-01.
    """
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(source.read("schema.json"))
    numbers: dict[str, str] = {}

    def renumber(old: Any) -> str:
        return numbers.setdefault(str(old), str(len(numbers) + 1))

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    out[key] = int(renumber(value))
                elif key == "file" and isinstance(value, str) and value.endswith(".npy"):
                    out[key] = renumber(value.removesuffix(".npy")) + ".npy"
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    canonical = walk(schema)
    members: dict[str, bytes] = {
        "schema.json": json.dumps(canonical, sort_keys=True, indent=2).encode("utf-8")
    }
    for info in source.infolist():
        if info.filename == "schema.json":
            continue
        stem = info.filename.removesuffix(".npy")
        name = f"{numbers[stem]}.npy" if stem in numbers else info.filename
        members[name] = source.read(info.filename)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for name in sorted(members):
            target.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), members[name])
    return out.getvalue()


def describe(kind: Kind, annotation: Any) -> str:
    return f"{type_name(annotation)} ({kind})"
