"""Request bodies in, answers out: JSON, CSV and Parquet for ``/predict``; the v2 protocol.

Only three body types are ever parsed, each by a data-only parser (the
standard library's ``json`` and ``csv``, pyarrow's Parquet reader);
anything else is refused by its content type before a byte is read (S22).
The Open Inference Protocol v2 comes with Triton's binary tensor extension,
which ``tritonclient`` uses by default: raw numbers and length-prefixed
strings, decoded with ``numpy.frombuffer``, never unpickled.
"""

from __future__ import annotations

import csv
import io
import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlstage.errors import InvalidInput, PayloadTooLarge

JSON = "json"
CSV = "csv"
PARQUET = "parquet"
MEDIA_TYPES = {
    "application/json": JSON,
    "text/csv": CSV,
    "application/vnd.apache.parquet": PARQUET,
    "application/x-parquet": PARQUET,
}
PREDICT_KINDS = frozenset({JSON, CSV, PARQUET})
JSON_ONLY = frozenset({JSON})
V2_HEADER = "inference-header-content-length"
V2_TYPES = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
    "BYTES": "",
}
SIGNATURE_TYPES = {
    "float": "FP64",
    "integer": "INT64",
    "boolean": "BOOL",
    "string": "BYTES",
    "datetime": "BYTES",
}


class UnsupportedMediaType(Exception):
    """415: the body is of a type this endpoint never parses."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def body_kind(content_type: str | None, accepted: frozenset[str]) -> str:
    """The body's kind from its ``Content-Type``; none at all is JSON (inference clients)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    kind = JSON if media == "" else MEDIA_TYPES.get(media)
    if kind is None or kind not in accepted:
        names = [m for m, k in MEDIA_TYPES.items() if k in accepted]
        raise UnsupportedMediaType(
            f"content type {media[:100]!r} is not accepted here; send {' or '.join(names)}"
        )
    return kind


def wants_csv(accept: str | None) -> bool:
    """Whether ``Accept`` prefers ``text/csv`` to JSON (by order of appearance)."""
    if not accept or "text/csv" not in accept:
        return False
    json_at = accept.find("application/json")
    return json_at < 0 or accept.find("text/csv") < json_at


def load_json(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise InvalidInput("body: JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}") from None


def dump_json(content: Any) -> bytes:
    return json.dumps(content, ensure_ascii=False, allow_nan=True, separators=(",", ":")).encode()


@dataclass
class Table:
    """A request's rows, before they are checked against the signature."""

    records: list[Any] | None = None
    columns: list[Any] | None = None
    data: list[Any] | None = None
    text: bool = False
    """CSV: every cell is text, read as the column's type."""
    key: str | None = None

    @property
    def size(self) -> int:
        return len(self.records if self.records is not None else self.data or [])


def _too_many(rows: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request has {rows} rows, over the limit of {limit} per request; split it, "
        "or score files with batch scoring (mlstage predict)"
    )


_PREDICT_KEYS = {"records", "columns", "data", "key"}


def parse_predict(body: bytes, kind: str, max_rows: int) -> Table:
    """A ``/predict`` body as a ``Table``; 413 for too many rows, 400 for a bad shape."""
    if kind == CSV:
        return _parse_csv(body, max_rows)
    if kind == PARQUET:
        return _parse_parquet(body, max_rows)
    content = load_json(body)
    if not isinstance(content, dict):
        raise InvalidInput('body must be a JSON object: {"records": [...]} or {"columns", "data"}')
    unknown = sorted(set(content) - _PREDICT_KEYS)
    if unknown:
        raise InvalidInput(
            f"unknown field(s) {', '.join(map(repr, unknown))}; a prediction request takes "
            '"records", or "columns" and "data", and an optional "key"'
        )
    key = content.get("key")
    if key is not None and not isinstance(key, str):
        raise InvalidInput(f"key must be a string, got {type(key).__name__}")
    if "records" in content:
        records = content["records"]
        if "data" in content or not isinstance(records, list):
            raise InvalidInput('"records" must be a list of objects, and comes without "data"')
        table = Table(records=records, key=key)
    else:
        data, columns = content.get("data"), content.get("columns")
        if not isinstance(data, list) or not (columns is None or isinstance(columns, list)):
            raise InvalidInput(
                'body must hold "records" (a list of objects) or "data" (a list of rows) '
                'with "columns" (their names)'
            )
        table = Table(columns=columns, data=data, key=key)
    if table.size > max_rows:
        raise _too_many(table.size, max_rows)
    if table.size == 0:
        raise InvalidInput("the request has no rows to score")
    return table


def _parse_csv(body: bytes, max_rows: int) -> Table:
    if body.count(b"\n") > max_rows + 1:  # counted before parsing: a cheap upper bound
        raise _too_many(body.count(b"\n") - 1, max_rows)
    try:
        text = body.decode("utf-8-sig")
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"CSV body is not UTF-8 text: {exc}") from None
    except csv.Error as exc:
        raise InvalidInput(f"CSV body cannot be read: {exc}") from None
    if len(rows) < 2:
        raise InvalidInput("CSV body needs a header row of column names and at least one row")
    if len(rows) - 1 > max_rows:
        raise _too_many(len(rows) - 1, max_rows)
    return Table(columns=rows[0], data=rows[1:], text=True)


def _parse_parquet(body: bytes, max_rows: int) -> Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(pa.BufferReader(body))
        if parquet.metadata.num_rows > max_rows:  # from the footer, before any data is read
            raise _too_many(parquet.metadata.num_rows, max_rows)
        table = parquet.read()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidInput(f"body is not a readable Parquet file: {exc}") from None
    if table.num_rows == 0:
        raise InvalidInput("the Parquet file has no rows to score")
    columns = [c.to_pylist() for c in table.columns]
    return Table(
        columns=list(table.column_names), data=[list(r) for r in zip(*columns, strict=True)]
    )


def predictions_csv(
    names: Sequence[str],
    inputs: Sequence[Sequence[Any]],
    predictions: Sequence[Any],
    ids: Sequence[str],
    probabilities: Sequence[Sequence[float]] | None,
    classes: Sequence[Any] | None,
) -> bytes:
    """The inputs, then ``prediction``, ``prediction_id`` and ``probability_<class>``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    extra = [f"probability_{c}" for c in classes] if probabilities and classes else []
    writer.writerow([*names, "prediction", "prediction_id", *extra])
    for i, row in enumerate(inputs):
        probs = list(probabilities[i]) if extra and probabilities is not None else []
        writer.writerow([*row, predictions[i], ids[i], *probs])
    return out.getvalue().encode()


# -- Open Inference Protocol v2 ----------------------------------------------------------


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: list[int]
    datatype: str
    values: list[Any]


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    inputs: list[Tensor]
    outputs: list[tuple[str, bool]] | None
    """Requested outputs by name, each with whether it is wanted as binary data."""
    binary: bool
    """``binary_data_output``: every output in binary unless it says otherwise."""


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(item, list) for item in data):
        return data
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item))
    return flat


def _decode_binary(raw: bytes, datatype: str, name: str) -> list[Any]:
    import numpy as np

    if datatype != "BYTES":
        try:
            return list(np.frombuffer(raw, dtype=V2_TYPES[datatype]).tolist())
        except ValueError as exc:
            raise InvalidInput(
                f"input {name!r}: binary data does not fit {datatype}: {exc}"
            ) from None
    values: list[Any] = []
    at = 0
    while at < len(raw):
        if at + 4 > len(raw):
            raise InvalidInput(f"input {name!r}: truncated BYTES element")
        (size,) = struct.unpack_from("<I", raw, at)
        chunk = raw[at + 4 : at + 4 + size]
        if len(chunk) != size:
            raise InvalidInput(f"input {name!r}: truncated BYTES element")
        try:
            values.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidInput(f"input {name!r}: BYTES elements must be UTF-8 text") from None
        at += 4 + size
    return values


_KIND_OF = {"BOOL": (bool,), "BYTES": (str,)}


def _tensor(raw: Any, binary: bytes, offset: int) -> tuple[Tensor, int]:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise InvalidInput('each input must be an object with "name", "shape", "datatype", "data"')
    name, shape, datatype = raw["name"], raw.get("shape"), raw.get("datatype")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidInput(f"input {name!r}: shape must be a list of sizes, got {shape!r}")
    if datatype not in V2_TYPES:
        raise InvalidInput(
            f"input {name!r}: datatype {datatype!r} is not one of {', '.join(V2_TYPES)}"
        )
    size = (raw.get("parameters") or {}).get("binary_data_size")
    if size is not None:
        if type(size) is not int or size < 0 or offset + size > len(binary):
            raise InvalidInput(f"input {name!r}: binary_data_size {size!r} overruns the body")
        values = _decode_binary(binary[offset : offset + size], datatype, name)
        offset += size
    elif "data" in raw:
        values = _flatten(raw["data"])
        wanted = _KIND_OF.get(datatype)
        for value in values:
            ok = type(value) in wanted if wanted else type(value) in (int, float)
            if not ok:
                raise InvalidInput(
                    f"input {name!r}: datatype {datatype} holds {type(value).__name__} {value!r}"
                )
    else:
        raise InvalidInput(f"input {name!r} has no data")
    if len(values) != math.prod(shape):
        raise InvalidInput(
            f"input {name!r}: shape {shape} needs {math.prod(shape)} values, got {len(values)}"
        )
    return Tensor(name, shape, datatype, values), offset


def parse_infer(body: bytes, header_length: str | None, max_rows: int) -> InferRequest:
    """A v2 infer request, JSON alone or JSON then binary tensors (Triton's extension)."""
    binary = b""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise InvalidInput(f"Inference-Header-Content-Length {header_length[:20]!r} is wrong")
        body, binary = body[: int(header_length)], body[int(header_length) :]
    content = load_json(body)
    if not isinstance(content, dict) or not isinstance(content.get("inputs"), list):
        raise InvalidInput('an inference request is a JSON object with "inputs": [tensors]')
    if not content["inputs"]:
        raise InvalidInput("the inference request has no inputs")
    inputs, offset = [], 0
    for raw in content["inputs"]:
        tensor, offset = _tensor(raw, binary, offset)
        if tensor.shape and tensor.shape[0] > max_rows:
            raise _too_many(tensor.shape[0], max_rows)
        inputs.append(tensor)
    parameters = content.get("parameters") or {}
    binary_all = bool(isinstance(parameters, dict) and parameters.get("binary_data_output"))
    outputs = None
    if isinstance(content.get("outputs"), list):
        outputs = []
        for item in content["outputs"]:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise InvalidInput('each requested output must be an object with a "name"')
            flag = (item.get("parameters") or {}).get("binary_data", binary_all)
            outputs.append((item["name"], bool(flag)))
    request_id = content.get("id")
    return InferRequest(
        request_id if isinstance(request_id, str) else None, inputs, outputs, binary_all
    )


def infer_table(request: InferRequest, names: Sequence[str]) -> tuple[list[str] | None, list[Any]]:
    """The rows of a request: one tensor per column, or one 2-D tensor in column order."""
    tensors = request.inputs
    if len(tensors) == 1 and len(tensors[0].shape) == 2 and tensors[0].name not in names:
        rows, width = tensors[0].shape
        values = tensors[0].values
        return None, [values[i * width : (i + 1) * width] for i in range(rows)]
    for tensor in tensors:
        if len(tensor.shape) not in (1, 2) or (len(tensor.shape) == 2 and tensor.shape[1] != 1):
            raise InvalidInput(
                f"input {tensor.name!r}: a column tensor has shape [rows] or [rows, 1], "
                f"got {tensor.shape}"
            )
    lengths = {len(t.values) for t in tensors}
    if len(lengths) != 1:
        raise InvalidInput("every input tensor must have the same number of rows")
    columns = [t.name for t in tensors]
    return columns, [list(row) for row in zip(*(t.values for t in tensors), strict=True)]


def _datatype(values: Sequence[Any]) -> str:
    kinds = {type(v) for v in values}
    if kinds <= {bool}:
        return "BOOL"
    if kinds <= {int}:
        return "INT64"
    if kinds <= {int, float}:
        return "FP64"
    return "BYTES"


def _output(
    name: str, shape: list[int], datatype: str, values: list[Any], binary: bool
) -> tuple[dict[str, Any], bytes]:
    tensor: dict[str, Any] = {"name": name, "shape": shape, "datatype": datatype}
    if not binary:
        tensor["data"] = values if datatype != "BYTES" else [str(v) for v in values]
        return tensor, b""
    if datatype == "BYTES":
        encoded = [str(v).encode() for v in values]
        raw = b"".join(struct.pack("<I", len(e)) + e for e in encoded)
    else:
        import numpy as np

        raw = np.asarray(values, dtype=V2_TYPES[datatype]).tobytes()
    tensor["parameters"] = {"binary_data_size": len(raw)}
    return tensor, raw


def infer_response(
    request: InferRequest,
    outputs: Mapping[str, tuple[list[int], list[Any], str | None]],
    head: dict[str, Any],
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary outputs follow it."""
    wanted = request.outputs or [
        (name, request.binary) for name in outputs if name != "prediction_id"
    ]
    unknown = [name for name, _ in wanted if name not in outputs]
    if unknown:
        raise InvalidInput(
            f"unknown output(s) {', '.join(map(repr, unknown))}; this model gives "
            f"{', '.join(map(repr, outputs))}"
        )
    tensors, blobs = [], []
    for name, binary in wanted:
        shape, values, datatype = outputs[name]
        tensor, raw = _output(name, shape, datatype or _datatype(values), values, binary)
        tensors.append(tensor)
        blobs.append(raw)
    header = dump_json({**head, "outputs": tensors})
    if not any(blobs):
        return header, None
    return header + b"".join(blobs), len(header)
