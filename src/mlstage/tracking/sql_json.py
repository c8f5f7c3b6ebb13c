"""Runs written as JSON straight from their rows, without a ``Run`` per run.

A search for 10,000 runs of 50 metrics reads about 650,000 rows. Building a
``Run`` for each and serialising it costs several times the queries, so the
REST search writes its answer here instead: the same JSON as
``rendered(RunPage(...))`` (tests compare the two on every kind of value),
with NaN and Infinity as the tokens Python's ``json`` reads back. Strings go
through the C encoder of the standard library's ``json``; floats through
``repr``, which round-trips exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from json.encoder import encode_basestring  # type: ignore[attr-defined]

from pydantic_core import to_json

from mlstage.tracking.entities import DatasetInput

_quote: Callable[[str], str] = encode_basestring
"""``"text"`` with JSON escapes, non-ASCII kept as is (as pydantic-core writes it)."""


_SPECIAL = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def float_json(value: float | None) -> str:
    """A float as pydantic-core writes it with ``inf_nan_mode="constants"``; NULL is NaN."""
    if value is None:
        return "NaN"
    text = repr(float(value))
    # Only nan and inf end in "n" or "f": one character test for the common case.
    return _SPECIAL.get(text, text) if text[-1] in "nf" else text


def json_member(key: str, value: float | None) -> str:
    """``"key":value``: a metric as a member of its run's ``metrics`` object."""
    return f"{_quote(key)}:{float_json(value)}"


def _optional_text(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def inputs_json(inputs: list[DatasetInput]) -> str:
    if not inputs:
        return "[]"
    dumped = [i.model_dump(mode="json", by_alias=True) for i in inputs]
    return to_json(dumped, inf_nan_mode="constants").decode("utf-8")


def run_json(head: str, metrics: str, params: str, tags: str, inputs: list[DatasetInput]) -> str:
    """One run: its head (the ``runs`` row as a JSON object, ``sql_run_reads.head_json``)
    with its parts added, in the field order of ``Run``."""
    return (
        f'{head[: head.rindex("}")]},"metrics":{metrics},"params":{params},"tags":{tags},'
        f'"inputs":{inputs_json(inputs)}}}'
    )


def page_json(runs: list[str], next_page_token: str | None) -> bytes:
    """``{"runs":[...],"next_page_token":...}`` as UTF-8 bytes."""
    token = _optional_text(next_page_token)
    return f'{{"runs":[{",".join(runs)}],"next_page_token":{token}}}'.encode()
