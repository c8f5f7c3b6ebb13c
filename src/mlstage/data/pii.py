"""Columns that look like personal data: e-mail addresses, phone numbers, NRIC/FIN, card numbers.

A column is flagged when most of a sample of its non-null values match one
detector (``min_share``, 80% by default): one stray match in free text does
not flag a column, and a column of random 16-digit ids is not mistaken for
card numbers, since only one in ten passes the Luhn check.

Identity numbers are Singapore's NRIC/FIN (prefix S, T, F, G or M, seven
digits, a check letter). The check letter is verified, so codes of the same
shape that are not identity numbers are not flagged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Literal

from mlstage.data.frames import Frame, open_frame, quote

PiiKind = Literal["email", "phone", "national_id", "card_number"]

SAMPLE_SIZE = 1000
MIN_SHARE = 0.8
SEED = 7

_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
_NRIC = re.compile(r"^[STFGM]\d{7}[A-Z]$")
_PHONE_CHARS = re.compile(r"^\+?[\d\s().-]+$")
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}$")
_DECIMAL = re.compile(r"^-?\d+\.\d+$")
_CARD_CHARS = re.compile(r"^\d[\d -]{11,22}\d$")

_NRIC_WEIGHTS = (2, 7, 6, 5, 4, 3, 2)
_NRIC_LETTERS = {
    "S": "JZIHGFEDCBA",
    "T": "JZIHGFEDCBA",
    "F": "XWUTRQPNMLK",
    "G": "XWUTRQPNMLK",
    "M": "XWUTRQPNJLK",
}
_NRIC_OFFSET = {"S": 0, "F": 0, "T": 4, "G": 4, "M": 3}


def is_email(value: str) -> bool:
    return len(value) <= 254 and _EMAIL.match(value) is not None


def is_nric(value: str) -> bool:
    """A Singapore NRIC/FIN whose check letter matches its digits."""
    value = value.strip().upper()
    if not _NRIC.match(value):
        return False
    prefix = value[0]
    total = sum(int(d) * w for d, w in zip(value[1:8], _NRIC_WEIGHTS, strict=True))
    total += _NRIC_OFFSET[prefix]
    return _NRIC_LETTERS[prefix][total % 11] == value[8]


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def is_card_number(value: str) -> bool:
    """13 to 19 digits (spaces or dashes allowed between groups) passing the Luhn check."""
    value = value.strip()
    if not _CARD_CHARS.match(value):
        return False
    digits = value.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def is_phone(value: str) -> bool:
    """8 to 15 digits with phone punctuation; not a date, a decimal number or a card number."""
    value = value.strip()
    if not _PHONE_CHARS.match(value) or _DATE_LIKE.match(value) or _DECIMAL.match(value):
        return False
    digits = sum(ch.isdigit() for ch in value)
    if not 8 <= digits <= 15:
        return False
    bare = value.lstrip("+").isdigit()
    if bare and not value.startswith("+"):
        # a bare number: only the 8-digit Singapore mobile and landline shapes
        return digits == 8 and value[0] in "689"
    return not is_card_number(value)


DETECTORS: dict[PiiKind, Callable[[str], bool]] = {
    "email": is_email,
    "national_id": is_nric,
    "card_number": is_card_number,
    "phone": is_phone,
}
"""In order of precedence: when two match the same share, the first wins."""


def classify_values(values: Iterable[Any], min_share: float = MIN_SHARE) -> PiiKind | None:
    """The kind of personal data most of ``values`` are, if any."""
    texts = [str(v) for v in values if v is not None and str(v).strip()]
    if not texts:
        return None
    best: PiiKind | None = None
    best_share = 0.0
    for kind, detector in DETECTORS.items():
        share = sum(1 for t in texts if detector(t)) / len(texts)
        if share >= min_share and share > best_share:
            best, best_share = kind, share
    return best


def detect_pii(
    data: Any, sample_size: int = SAMPLE_SIZE, min_share: float = MIN_SHARE
) -> dict[str, PiiKind]:
    """Columns whose sampled values look like personal data: ``{column: kind}``.

    ``data`` is anything ``compute_statistics`` takes. String columns are
    checked for every kind; integer columns for card numbers only.
    """
    frame = open_frame(data)
    try:
        return pii_columns(frame, sample_size, min_share)
    finally:
        frame.con.close()


def pii_columns(
    frame: Frame, sample_size: int = SAMPLE_SIZE, min_share: float = MIN_SHARE
) -> dict[str, PiiKind]:
    found: dict[str, PiiKind] = {}
    for name, ftype in frame.columns.items():
        if ftype not in ("string", "int"):
            continue
        values = sample_values(frame, name, sample_size)
        kind = classify_values(values, min_share)
        if kind is not None and (ftype == "string" or kind == "card_number"):
            found[name] = kind
    return found


def sample_values(frame: Frame, name: str, size: int) -> list[str]:
    """Up to ``size`` non-null values of a column, a reproducible random sample."""
    col = quote(name)
    inner = f"SELECT CAST({col} AS VARCHAR) AS v FROM {frame.table} WHERE {col} IS NOT NULL"  # noqa: S608
    sample = f" USING SAMPLE reservoir({int(size)} ROWS) REPEATABLE ({SEED})"
    rows = frame.sql(f"SELECT v FROM ({inner}) AS s{sample}")  # noqa: S608
    return [str(r[0]) for r in rows]
