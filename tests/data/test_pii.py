"""PII detectors: true and false cases, and columns flagged only when most values match."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlstage.data import detect_pii
from mlstage.data.pii import is_card_number, is_email, is_nric, is_phone, luhn_valid

pytestmark = pytest.mark.usefixtures("fresh_settings")


@pytest.mark.parametrize(
    "value", ["S1234567D", "T1234567J", "F1234567N", "G1234567X", "M1234567K", "s1234567d"]
)
def test_valid_nric_and_fin(value: str) -> None:
    assert is_nric(value)


@pytest.mark.parametrize(
    "value",
    [
        "S1234567A",
        "T1234567D",
        "F1234567X",
        "G1234567N",
        "M1234567X",
        "A1234567D",
        "S123456D",
        "S12345678D",
    ],
)
def test_invalid_nric_checksum_or_shape(value: str) -> None:
    assert not is_nric(value)


def test_luhn_card_numbers() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert is_card_number("4111111111111111")
    assert is_card_number("4111 1111 1111 1111") and is_card_number("5500-0000-0000-0004")
    assert not is_card_number("4111111111111112")  # Luhn fails
    assert not is_card_number("411111111111")  # too short
    assert not is_card_number("4111x1111x1111x1111")


def test_emails_and_phones() -> None:
    assert is_email("ana.lim+news@example.com.sg") and is_email("o'brien@mail.example.org")
    assert not is_email("ana.lim@") and not is_email("not an email") and not is_email("a@b")
    for phone in ("+65 6123 4567", "91234567", "+1 (555) 123-4567", "6123-4567", "+442071234567"):
        assert is_phone(phone), phone
    for other in ("2024-01-15", "12345678.90", "12345", "51234567", "4111111111111111", "abc"):
        assert not is_phone(other), other


def nrics(n: int, rng: np.random.Generator) -> list[str]:
    from mlstage.data.pii import _NRIC_LETTERS, _NRIC_OFFSET, _NRIC_WEIGHTS

    out = []
    for _ in range(n):
        prefix = str(rng.choice(list("STFGM")))
        digits = "".join(str(d) for d in rng.integers(0, 10, 7))
        total = (
            sum(int(d) * w for d, w in zip(digits, _NRIC_WEIGHTS, strict=True))
            + _NRIC_OFFSET[prefix]
        )
        out.append(prefix + digits + _NRIC_LETTERS[prefix][total % 11])
    return out


def luhn_complete(body: str) -> str:
    return next(body + str(d) for d in range(10) if luhn_valid(body + str(d)))


def test_detects_columns_of_personal_data() -> None:
    rng = np.random.default_rng(11)
    n = 300
    df = pd.DataFrame(
        {
            "email": [f"user{i}@example.com" for i in range(n)],
            "nric": nrics(n, rng),
            "card": [
                luhn_complete("4" + "".join(map(str, rng.integers(0, 10, 14)))) for _ in range(n)
            ],
            "card_int": [
                int(luhn_complete("5" + "".join(map(str, rng.integers(0, 10, 14)))))
                for _ in range(n)
            ],
            "phone": [f"+65 9{rng.integers(0, 10**7):07d}" for _ in range(n)],
            "name": [f"Person {i}" for i in range(n)],
            "random_ids": ["".join(map(str, rng.integers(1, 10, 16))) for _ in range(n)],
            "fake_nric": [s[:-1] + ("A" if s[-1] != "A" else "B") for s in nrics(n, rng)],
            "half_email": [f"user{i}@example.com" if i % 2 else "n/a" for i in range(n)],
            "amount": rng.normal(size=n),
        }
    )
    found = detect_pii(df)
    assert found == {
        "email": "email",
        "nric": "national_id",
        "card": "card_number",
        "card_int": "card_number",
        "phone": "phone",
    }


def test_min_share_decides() -> None:
    df = pd.DataFrame({"half_email": [f"u{i}@example.com" if i % 2 else None for i in range(100)]})
    assert detect_pii(df) == {"half_email": "email"}  # missing values are not counted
    mixed = pd.DataFrame({"c": [f"u{i}@example.com" if i % 2 else "n/a" for i in range(100)]})
    assert detect_pii(mixed) == {}
    assert detect_pii(mixed, min_share=0.5) == {"c": "email"}
