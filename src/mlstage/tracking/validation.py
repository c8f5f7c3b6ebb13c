"""Checks on what users log, shared by the Python API and the server.

Allow-lists, not deny-lists: a key is made of letters, digits and ``_-. :/``,
never starts with ``/``, never holds ``..``, and is at most 250 characters.
Every message names the field, the offending value and the rule.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

from mlstage.errors import InvalidInput, PayloadTooLarge

MAX_KEY_LENGTH = 250
MAX_NAME_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100
MAX_STEP = 2**63 - 1

_KEY_PATTERN = re.compile(r"[A-Za-z0-9_\-. :/]+")
_RUN_ID_PATTERN = re.compile(r"[0-9a-f]{32}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Keys already checked in this process: log_metric in a loop checks each key once.
_valid_keys: set[str] = set()


def check_key(key: Any, field: str = "key") -> str:
    if key in _valid_keys:
        return key  # type: ignore[no-any-return]
    if not isinstance(key, str):
        raise InvalidInput(f"{field} must be a string, got {type(key).__name__} {key!r}")
    if not key:
        raise InvalidInput(f"{field} must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"{field} {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY_LENGTH}"
        )
    if _CONTROL.search(key):
        raise InvalidInput(f"{field} {key!r} contains a control character")
    if not _KEY_PATTERN.fullmatch(key):
        raise InvalidInput(
            f"{field} {key!r} may only contain letters, digits, spaces and _ - . : /"
        )
    if key.startswith("/"):
        raise InvalidInput(f"{field} {key!r} must not start with '/'")
    if ".." in key:
        raise InvalidInput(f"{field} {key!r} must not contain '..'")
    if len(_valid_keys) < 100_000:
        _valid_keys.add(key)
    return key


def check_name(name: Any, field: str) -> str:
    """Experiment and run names: printable text up to 250 characters."""
    if not isinstance(name, str):
        raise InvalidInput(f"{field} must be a string, got {type(name).__name__} {name!r}")
    if not name.strip():
        raise InvalidInput(f"{field} must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"{field} {name[:40]!r}... is {len(name)} characters; the limit is {MAX_NAME_LENGTH}"
        )
    if _CONTROL.search(name):
        raise InvalidInput(f"{field} {name!r} contains a control character")
    if name != name.strip():
        raise InvalidInput(f"{field} {name!r} must not start or end with white space")
    return name


def check_metric_value(key: str, value: Any) -> float:
    """A real number; NaN and infinities are kept (a diverging loss is worth recording)."""
    if type(value) is float:  # the common case, checked without the ABC machinery
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(f"metric {key!r} must be a number, got {type(value).__name__} {value!r}")
    return float(value)


def check_step(key: str, step: Any) -> int:
    if type(step) is int and -MAX_STEP <= step <= MAX_STEP:
        return step
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise InvalidInput(
            f"step of metric {key!r} must be an integer, got {type(step).__name__} {step!r}"
        )
    whole = int(step)
    if not -MAX_STEP <= whole <= MAX_STEP:
        raise InvalidInput(f"step of metric {key!r} is out of range: {whole}")
    return whole


def check_param_value(key: str, value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        raise InvalidInput(
            f"param {key!r} value is {len(text)} characters; the limit is {MAX_PARAM_VALUE_LENGTH}"
        )
    if "\x00" in text:
        raise InvalidInput(f"param {key!r} value contains a NUL character")
    return text


def check_tag_value(key: str, value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TAG_VALUE_LENGTH:
        raise InvalidInput(
            f"tag {key!r} value is {len(text)} characters; the limit is {MAX_TAG_VALUE_LENGTH}"
        )
    if "\x00" in text:
        raise InvalidInput(f"tag {key!r} value contains a NUL character")
    return text


def check_run_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not _RUN_ID_PATTERN.fullmatch(run_id):
        raise InvalidInput(f"run_id must be 32 lowercase hex characters, got {run_id!r}")
    return run_id


_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


def check_batch_id(batch_id: Any) -> str:
    if not isinstance(batch_id, str) or not _BATCH_ID.fullmatch(batch_id):
        raise InvalidInput(
            f"batch_id must be 8 to 64 letters, digits, '_' or '-', got {batch_id!r}"
        )
    return batch_id


def check_experiment_id(experiment_id: Any) -> int:
    text = str(experiment_id)
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput(f"experiment_id must be a whole number, got {experiment_id!r}")
    return int(text)


def check_batch_sizes(n_metrics: int, n_params: int, n_tags: int) -> None:
    for what, count, limit in (
        ("metrics", n_metrics, MAX_BATCH_METRICS),
        ("params", n_params, MAX_BATCH_PARAMS),
        ("tags", n_tags, MAX_BATCH_TAGS),
    ):
        if count > limit:
            raise PayloadTooLarge(f"a batch holds at most {limit} {what}; got {count}")


def is_nan(value: float) -> bool:
    return math.isnan(value)
