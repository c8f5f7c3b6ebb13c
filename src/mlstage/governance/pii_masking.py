"""Personal data hidden wherever rows leave their dataset: request log, previews, UI, exports.

Which columns are sensitive: those issue 6's detectors flag
(``mlstage.data.pii``: e-mail, phone, NRIC/FIN, card number, from the values
themselves), and those declared in the ``pii_columns`` setting, either
``column`` (in every model and dataset) or ``name:column`` (only in the model
or dataset ``name``); names compare case-insensitively. Declaring is the one
way to cover what no detector sees (names, addresses, free text).

How they are hidden (``pii_mode``):

- ``mask`` (the default): every value becomes ``***``, except card numbers,
  which keep their last four digits (``****1234``), as on a receipt;
- ``hash``: every value becomes the first 32 hex digits of HMAC-SHA256 keyed
  with ``pii_hash_key``, after light normalisation (e-mails lower-cased,
  NRIC upper-cased, cards and phones reduced to their digits). The same
  value always gives the same hash, so joins and counts still work, and
  without the key nobody can hash a dictionary of candidates to reverse it.

Nulls stay null. Raw values are kept only for data whose classification is
at or below ``pii_raw_max_classification`` (empty, the default: never).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlstage.errors import InvalidInput

if TYPE_CHECKING:
    from mlstage.config import Settings
    from mlstage.data.drift import DriftReport
    from mlstage.data.statistics import DatasetStatistics
    from mlstage.serving.request_log import PredictionRecord

MASK = "***"
DECLARED = "declared"
"""The kind of a column the settings declare sensitive (detected ones name their kind)."""
MODES = ("mask", "hash")
HASH_HEX_DIGITS = 32
_NOT_DIGIT = re.compile(r"\D")
SAMPLE_VALUES = 1000
"""Values of a column the detectors look at, per batch of rows."""


# -- settings -------------------------------------------------------------------------------


def pii_mode(settings: Settings) -> str:
    mode = settings.pii_mode.strip().lower()
    if mode not in MODES:
        raise InvalidInput(f"setting 'pii_mode' must be mask or hash, got {settings.pii_mode!r}")
    if mode == "hash" and not settings.pii_hash_key:
        raise InvalidInput(
            "setting 'pii_mode' is hash but 'pii_hash_key' is empty: set MLSTAGE_PII_HASH_KEY "
            "to a long random secret (the same one everywhere hashes must join)"
        )
    return mode


def raw_values_allowed(settings: Settings, classification: str | None = None) -> bool:
    """Whether data of ``classification`` (``None``: the default one) may keep raw values."""
    limit = settings.pii_raw_max_classification.strip().lower()
    if not limit:
        return False
    levels = [level.lower() for level in settings.classification_levels]
    if limit not in levels:
        raise InvalidInput(
            f"setting 'pii_raw_max_classification' must be one of {', '.join(levels)}, "
            f"got {settings.pii_raw_max_classification!r}"
        )
    level = (classification or settings.default_classification).strip().lower()
    return level in levels and levels.index(level) <= levels.index(limit)


def declared_columns(settings: Settings, name: str | None = None) -> set[str]:
    """Lower-cased column names ``pii_columns`` declares sensitive in model/dataset ``name``."""
    found: set[str] = set()
    owner = (name or "").lower()
    for entry in settings.pii_columns:
        scope, sep, column = entry.strip().rpartition(":")
        if not column.strip():
            raise InvalidInput(f"setting 'pii_columns': entry {entry!r} names no column")
        if not sep or scope.strip().lower() == owner:
            found.add(column.strip().lower())
    return found


# -- values ---------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _normalise(text: str, kind: str) -> str:
    text = text.strip()
    if kind == "email":
        return text.lower()
    if kind == "national_id":
        return text.upper()
    if kind in ("card_number", "phone"):
        digits = _NOT_DIGIT.sub("", text)
        return ("+" if kind == "phone" and text.startswith("+") else "") + digits
    return text


class Masker:
    """Hides values of sensitive columns the way the settings say; ``active`` is False
    where the classification keeps raw values."""

    def __init__(self, settings: Settings, classification: str | None = None) -> None:
        self.mode = pii_mode(settings)
        self.key = settings.pii_hash_key.encode("utf-8")
        self.active = not raw_values_allowed(settings, classification)

    def value(self, value: Any, kind: str) -> Any:
        """``value`` hidden (``None`` and NaN stay null); unchanged when masking is off."""
        if value is None or not self.active:
            return value
        if isinstance(value, str):
            text = value
        elif _missing(value):
            return None
        elif isinstance(value, bytes):
            text = value.decode("utf-8", "replace")
        else:
            text = str(value.item() if hasattr(value, "item") else value)  # NumPy scalars
        if self.mode == "hash":
            digest = hmac.new(self.key, _normalise(text, kind).encode("utf-8"), hashlib.sha256)
            return digest.hexdigest()[:HASH_HEX_DIGITS]
        if kind == "card_number":
            return "****" + _NOT_DIGIT.sub("", text)[-4:]
        return MASK


# -- columns --------------------------------------------------------------------------------


def _sample(values: Sequence[Any]) -> list[Any]:
    step = max(1, len(values) // SAMPLE_VALUES)
    return [v for v in values[::step] if not _missing(v)][:SAMPLE_VALUES]


def detect_kind(values: Sequence[Any]) -> str | None:
    """What the detectors call ``values`` (text, or whole numbers for card numbers), if PII."""
    from mlstage.data.pii import classify_values

    sample = _sample(values)
    if not sample or any(isinstance(v, bool | float | dict | list) for v in sample):
        return None
    if all(isinstance(v, str) for v in sample):
        return classify_values(sample)
    if all(isinstance(v, int) or hasattr(v, "item") for v in sample):
        return "card_number" if classify_values(sample) == "card_number" else None
    return None


def sensitive_columns(
    settings: Settings, name: str | None, columns: Mapping[str, Sequence[Any]]
) -> dict[str, str]:
    """``{column: kind}`` of ``columns`` (name to values) declared or detected as PII."""
    declared = declared_columns(settings, name)
    found: dict[str, str] = {}
    for column, values in columns.items():
        if column.lower() in declared:
            found[column] = DECLARED
        elif (kind := detect_kind(values)) is not None:
            found[column] = kind
    return found


def mask_rows(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    settings: Settings,
    *,
    name: str | None = None,
    classification: str | None = None,
) -> list[list[Any]]:
    """``rows`` (lists in ``columns`` order) with their sensitive columns hidden."""
    masker = Masker(settings, classification)
    out = [list(row) for row in rows]
    if not masker.active or not out:
        return out
    by_column = {
        c: [row[i] if i < len(row) else None for row in out] for i, c in enumerate(columns)
    }
    for column, kind in sensitive_columns(settings, name, by_column).items():
        i = list(columns).index(column)
        for row in out:
            if i < len(row):
                row[i] = masker.value(row[i], kind)
    return out


# -- statistics and drift -----------------------------------------------------------------


def mask_statistics(
    stats: DatasetStatistics | None,
    settings: Settings,
    *,
    name: str | None = None,
    classification: str | None = None,
) -> DatasetStatistics | None:
    """Statistics with the values of sensitive columns hidden: top values, text min and max.

    A column is sensitive when declared, or when the detectors flag its top
    values (a column of e-mails has e-mails for top values).
    """
    masker = Masker(settings, classification)
    if stats is None or not masker.active:
        return stats
    declared = declared_columns(settings, name)
    features = dict(stats.features)
    for column, s in stats.features.items():
        shown = [v.value for v in s.top_values] + [x for x in (s.min, s.max) if isinstance(x, str)]
        kind = DECLARED if column.lower() in declared else detect_kind(shown)
        if kind is None:
            continue
        features[column] = s.model_copy(
            update={
                "top_values": [
                    v.model_copy(update={"value": str(masker.value(v.value, kind))})
                    for v in s.top_values
                ],
                "min": masker.value(s.min, kind) if isinstance(s.min, str) else s.min,
                "max": masker.value(s.max, kind) if isinstance(s.max, str) else s.max,
            }
        )
    return stats.model_copy(update={"features": features})


def mask_drift(
    report: DriftReport,
    settings: Settings,
    *,
    name: str | None = None,
    classification: str | None = None,
) -> DriftReport:
    """A drift report whose categorical bins (values) of sensitive columns are hidden.

    Masked bins keep their order and shares, numbered so the chart still
    tells them apart (``*** 1``, ``*** 2``); hashed bins are their hashes.
    """
    masker = Masker(settings, classification)
    if not masker.active:
        return report
    declared = declared_columns(settings, name)
    features = dict(report.features)
    for column, f in report.features.items():
        kind = DECLARED if column.lower() in declared else detect_kind(f.bins)
        if kind is None or not f.bins:
            continue
        bins = [str(masker.value(b, kind)) for b in f.bins]
        if masker.mode == "mask":
            bins = [f"{b} {i}" for i, b in enumerate(bins, start=1)]
        features[column] = f.model_copy(update={"bins": bins})
    return report.model_copy(update={"features": features})


# -- the request log --------------------------------------------------------------------------


class RecordMasker:
    """Hides the sensitive inputs of a model's prediction records before they are written.

    Runs on the request log's writer thread, never on the request path. A
    column, once flagged for the model, stays flagged for the life of the
    logger, so a batch where few values happen to look personal does not
    write them raw.
    """

    def __init__(self, settings: Settings, model: str, classification: str | None = None) -> None:
        self.settings = settings
        self.model = model
        self.masker = Masker(settings, classification)
        self.flagged: dict[str, str] = {}

    def apply(self, records: Sequence[PredictionRecord]) -> list[PredictionRecord]:
        if not self.masker.active or not records:
            return list(records)
        names = list(dict.fromkeys(key for r in records for key in r.inputs))
        unchecked = {n: [r.inputs.get(n) for r in records] for n in names if n not in self.flagged}
        self.flagged.update(sensitive_columns(self.settings, self.model, unchecked))
        hidden = {n: k for n, k in self.flagged.items() if n in names}
        if not hidden:
            return list(records)
        return [_masked_record(r, hidden, self.masker) for r in records]


def _masked_record(
    record: PredictionRecord, hidden: Mapping[str, str], masker: Masker
) -> PredictionRecord:
    """A new record (the caller's stays as it was) with the ``hidden`` inputs masked."""
    from mlstage.serving.request_log import PredictionRecord

    inputs = {k: masker.value(v, hidden[k]) if k in hidden else v for k, v in record.inputs.items()}
    return PredictionRecord(  # positional and direct: 5x faster than dataclasses.replace
        record.prediction_id,
        record.timestamp_ms,
        record.model,
        record.version,
        record.deployment,
        record.route,
        record.request_key,
        inputs,
        record.output,
        record.probabilities,
        record.latency_ms,
    )
