"""Row checks in plain Python give the model what ``enforce`` would, with row-level messages."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mlstage.config import Settings
from mlstage.errors import InvalidInput
from mlstage.models.signature import ColumnSpec, Signature, enforce
from mlstage.serving.options import ServingOptions
from mlstage.serving.validation import InvalidRows, RowChecker

SIGNATURE = Signature(
    inputs=[
        ColumnSpec(name="plan", type="string", categories=["basic", "pro"]),
        ColumnSpec(name="note", type="string", nullable=True),
        ColumnSpec(name="seats", type="integer"),
        ColumnSpec(name="visits", type="integer", nullable=True),
        ColumnSpec(name="spend", type="float"),
        ColumnSpec(name="score", type="float", nullable=True),
        ColumnSpec(name="active", type="boolean"),
        ColumnSpec(name="since", type="datetime"),
    ]
)
RECORDS = [
    {
        "plan": "pro",
        "note": None,
        "seats": 3,
        "visits": None,
        "spend": 10,
        "score": None,
        "active": True,
        "since": "2024-05-01T12:00:00",
    },
    {
        "plan": "basic",
        "note": "vip",
        "seats": 4.0,
        "visits": 7,
        "spend": 2.5,
        "score": 0.5,
        "active": False,
        "since": "2024-06-02T00:00:00",
    },
]


def test_built_batches_equal_what_enforce_gives() -> None:
    checker = RowChecker(SIGNATURE)
    rows = checker.records(RECORDS)
    built = checker.build(rows)
    expected = enforce(SIGNATURE, pd.DataFrame.from_records(RECORDS))
    pd.testing.assert_frame_equal(built, expected, check_dtype=False)
    assert built["seats"].dtype == "int64" and built["spend"].dtype == "float64"
    assert built["visits"].dtype == "float64" and math.isnan(built["visits"][0])
    assert str(built["since"].dtype).startswith("datetime64")
    assert built["active"].dtype == bool
    mixed = [{**RECORDS[0], "since": "2024-06-02"}, RECORDS[0]]  # ISO forms may differ by row
    assert list(checker.build(checker.records(mixed))["since"].dt.day) == [2, 1]
    # CSV cells are text, read as each column's type.
    header = list(RECORDS[0])
    cells = [["pro", "", "3", "", "10", "", "true", "2024-05-01T12:00:00"]]
    assert checker.text_table(header, cells) == [rows[0]]  # nulls are the same math.nan


def test_array_signatures_get_an_array() -> None:
    signature = Signature(
        inputs=[ColumnSpec(name="0", type="float"), ColumnSpec(name="1", type="integer")],
        input_kind="array",
    )
    checker = RowChecker(signature)
    built = checker.build(checker.table(None, [[1.5, 2], [3, 4]]))
    assert built.tolist() == [[1.5, 2.0], [3.0, 4.0]] and built.dtype == "float64"


def test_messages_name_the_row_and_the_column() -> None:
    checker = RowChecker(SIGNATURE)
    good = RECORDS[0]
    cases = [
        ({**good, "since": "yesterday"}, "column 'since' must be a date-time in ISO 8601"),
        ({**good, "active": "yes"}, "column 'active' must be boolean, got str 'yes'"),
        ({**good, "seats": 2**70}, "column 'seats' must be a 64-bit integer"),
        ({**good, "spend": math.nan}, "column 'spend' has no value"),
        ({**good, "note": 5}, "column 'note' must be string, got int 5"),
        ({**good, "plan": "x" * 500}, "column 'plan' must be one of 'basic', 'pro'; got 'xxx"),
    ]
    for bad, message in cases:
        with pytest.raises(InvalidRows, match="^row 2: " + message.replace("(", r"\(")):
            checker.records([good, good, bad])
    assert checker.records([{**good, "score": math.nan}])[0][5] != 0  # NaN is null where allowed


def test_serving_options_come_from_settings_and_are_checked() -> None:
    settings = Settings(serving_max_batch_rows=8, serving_max_rows=50, deployment_poll_interval=0.5)
    options = ServingOptions.from_settings(settings, max_batch_wait_ms=2.0)
    assert (options.max_batch_rows, options.max_rows, options.poll_interval) == (8, 50, 0.5)
    assert options.max_batch_wait_ms == 2.0
    assert ServingOptions.from_json(options.to_json()) == options
    with pytest.raises(InvalidInput, match="max_batch_rows must be a positive integer, got 0"):
        ServingOptions(max_batch_rows=0)
    with pytest.raises(InvalidInput, match="max_batch_wait_ms must be from 0 to 1000"):
        ServingOptions(max_batch_wait_ms=-1)
