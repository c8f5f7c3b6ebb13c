"""What ``mlstage models`` reads from its command line: model addresses, thresholds, data files.

Everything is checked here, before any model is loaded or anything is
written, and each error names the option or argument at fault: a typo in
``--threshold`` should cost a second, not a model evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

    from mlstage.models.entities import ModelVersion
    from mlstage.models.store import RegistryStore
    from mlstage.models.uri import RegistryRef

ADDRESS_FORMS = "NAME/VERSION (churn/3), NAME@ALIAS (churn@champion) or models:/NAME/VERSION"
DATA_SUFFIXES = (".csv", ".parquet", ".pq")


# -- model addresses ---------------------------------------------------------------------------


def registry_ref(value: str, what: str = "model address") -> RegistryRef:
    """``churn/3``, ``churn@champion`` or ``models:/...`` as a registry reference."""
    from mlstage.models.uri import RegistryRef, parse_model_uri

    if value.startswith("runs:/"):
        raise InvalidInput(
            f"{what} {value!r} is a run's model, not a registered one: register it first "
            "(mlstage models register RUN_ID NAME), then use NAME/VERSION"
        )
    body = value.removeprefix("models:/")
    if body and "/" not in body and "@" not in body:
        raise InvalidInput(
            f"{what} {value!r} names no version: use {body}/<version> or {body}@<alias>"
        )
    try:
        ref = parse_model_uri(f"models:/{body}")
    except InvalidInput as exc:
        raise InvalidInput(f"{what} {value!r}: {exc.message}; use {ADDRESS_FORMS}") from None
    assert isinstance(ref, RegistryRef)
    return ref


def model_uri(value: str) -> str:
    """Any model address as a full URI: the registry's short forms, or ``runs:/<id>/<path>``."""
    from mlstage.models.uri import parse_model_uri

    if value.startswith("runs:/"):
        try:
            return str(parse_model_uri(value))
        except InvalidInput as exc:
            raise InvalidInput(f"model address {value!r}: {exc.message}") from None
    return str(registry_ref(value))


def resolve_version(
    registry: RegistryStore, value: str, what: str = "model address"
) -> ModelVersion:
    """The version an address points at now (an alias resolved to its number)."""
    return registry.resolve(registry_ref(value, what))


def model_name(value: str) -> str:
    """A registered model's NAME, refusing a version address where the whole model is meant."""
    from mlstage.models.names import check_model_name

    body = value.removeprefix("models:/")
    if "/" in body or "@" in body:
        name = body.replace("@", "/").split("/", 1)[0]
        raise InvalidInput(f"give the model's NAME here (e.g. {name!r}), not a version: {value!r}")
    return check_model_name(body)


def source_uri(value: str) -> str:
    """``runs:/<id>/<path>`` as given, or a bare run id as ``runs:/<id>/model``."""
    from mlstage.models.uri import RunRef, parse_model_uri
    from mlstage.tracking.validation import check_run_id

    if value.startswith("models:/"):
        raise InvalidInput(
            f"{value!r} is already registered; register takes a run's model: "
            "runs:/<run id>/<path>, or a run id for runs:/<run id>/model"
        )
    if not value.startswith("runs:/"):
        try:
            return f"runs:/{check_run_id(value)}/model"
        except InvalidInput:
            raise InvalidInput(
                f"RUN_OR_MODEL_URI {value!r} is neither a run id (32 hex characters) nor "
                "runs:/<run id>/<path>"
            ) from None
    try:
        ref = parse_model_uri(value)
    except InvalidInput as exc:
        raise InvalidInput(f"RUN_OR_MODEL_URI {value!r}: {exc.message}") from None
    assert isinstance(ref, RunRef)
    return str(ref)


# -- options -----------------------------------------------------------------------------------


def card_fields(pairs: Sequence[str]) -> dict[str, str]:
    """``--set FIELD=VALUE`` pairs, each field one the card lets people edit."""
    from mlstage.models.cards import EDITABLE

    editable = [name for name, _ in EDITABLE]
    fields: dict[str, str] = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        field = field.strip()
        if not sep or not field:
            raise InvalidInput(f"--set takes FIELD=VALUE (e.g. intended_use=...), got {pair!r}")
        if field not in editable:
            raise InvalidInput(
                f"--set: unknown card field {field!r}; editable fields: {', '.join(editable)}"
            )
        if field in fields:
            raise InvalidInput(f"--set: field {field!r} given twice")
        fields[field] = value
    return fields


Thresholds = dict[str, dict[str, float]]


def thresholds(values: Sequence[str], task: str) -> Thresholds:
    """``--threshold METRIC:BOUND=NUMBER`` options, checked against the task's metrics."""
    from mlstage.models.validation_checks import check_thresholds

    found: Thresholds = {}
    for value in values:
        head, number = _split_number(value, "--threshold", "METRIC:BOUND=NUMBER", "roc_auc:min=0.8")
        metric, sep, bound = head.rpartition(":")
        if not sep or not metric or not bound:
            raise InvalidInput(
                f"--threshold {value!r} must be METRIC:BOUND=NUMBER, e.g. roc_auc:min=0.8"
            )
        _add(found, metric, bound, number, f"--threshold {metric}:{bound}")
    return check_thresholds(found, task, "--threshold", slices=False)


def slice_thresholds(values: Sequence[str], task: str) -> dict[str, Thresholds]:
    """``--slice-threshold COLUMN:METRIC:BOUND=NUMBER`` options, grouped by column."""
    from mlstage.models.validation_checks import check_thresholds

    form, example = "COLUMN:METRIC:BOUND=NUMBER", "region:roc_auc:min=0.7"
    found: dict[str, Thresholds] = {}
    for value in values:
        head, number = _split_number(value, "--slice-threshold", form, example)
        parts = head.rsplit(":", 2)
        if len(parts) != 3 or not all(parts):
            raise InvalidInput(f"--slice-threshold {value!r} must be {form}, e.g. {example}")
        column, metric, bound = parts
        where = f"--slice-threshold {column}:{metric}:{bound}"
        _add(found.setdefault(column, {}), metric, bound, number, where)
    return {
        column: check_thresholds(bounds, task, f"--slice-threshold {column}", slices=True)
        for column, bounds in found.items()
    }


def _split_number(value: str, option: str, form: str, example: str) -> tuple[str, float]:
    head, sep, text = value.rpartition("=")
    if not sep:
        raise InvalidInput(f"{option} {value!r} must be {form}, e.g. {example}")
    try:
        number = float(text)
    except ValueError:
        raise InvalidInput(f"{option} {value!r}: {text!r} is not a number") from None
    if not math.isfinite(number):
        raise InvalidInput(f"{option} {value!r}: the limit must be a finite number")
    return head.strip(), number


def _add(found: Thresholds, metric: str, bound: str, number: float, where: str) -> None:
    bounds = found.setdefault(metric, {})
    if bound in bounds:
        raise InvalidInput(f"{where} is given twice")
    bounds[bound] = number


# -- data --------------------------------------------------------------------------------------


def read_data(
    path: Path, target: str, slices: Sequence[str] = (), option: str = "--slice"
) -> pd.DataFrame:
    """A labelled CSV or Parquet file; the target and slice columns (from ``option``) checked."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix not in DATA_SUFFIXES:
        raise InvalidInput(f"--data {str(path)!r} must be a .csv or .parquet file")
    if not path.is_file():
        raise InvalidInput(f"--data {str(path)!r} does not exist")
    try:
        frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # pandas and pyarrow raise many kinds; all mean "unreadable"
        kind = "CSV" if suffix == ".csv" else "Parquet"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"--data {str(path)!r} is not readable as {kind}: {first}") from None
    columns = ", ".join(repr(str(c)) for c in list(frame.columns)[:20])
    if target not in frame.columns:
        raise InvalidInput(
            f"--target: column {target!r} is not in {path.name} (columns: {columns})"
        )
    for column in slices:
        if column not in frame.columns or column == target:
            problem = "is the target" if column == target else f"is not in {path.name}"
            raise InvalidInput(f"{option}: column {column!r} {problem} (columns: {columns})")
    return frame
