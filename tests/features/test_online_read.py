"""The online read path: SQLite returns values in the order asked; columns decode like the codec."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pytest

from mlstage.features.codec import JsonCodec, StructCodec
from mlstage.features.online.columns import MAX_RECORDS, decoder_for
from mlstage.features.online.sqlite import SqliteOnlineStore

KEYS = ["1", "2", "007", 'quo"te', "back\\slash", "a\x1fb", "naïve ☃", "[]", "x" * 300]


@pytest.fixture
def sqlite_store(tmp_path: Path) -> SqliteOnlineStore:
    store = SqliteOnlineStore(tmp_path / "online.db")
    store.write("view@1", [(k, 10, f"v:{k}".encode()) for k in KEYS])
    store.write("view@2", [("1", 10, b"other layout")])
    return store


def test_sqlite_reads_every_key_in_the_order_asked(sqlite_store: SqliteOnlineStore) -> None:
    rng = random.Random(7)
    for size in (2, 3, 9, 40, 700):
        asked = [rng.choice([*KEYS, "missing", "", "1 "]) for _ in range(size)]
        expected = [f"v:{k}".encode() if k in KEYS else None for k in asked]
        assert sqlite_store.read([("view@1", asked)]) == [expected]
    assert sqlite_store.read([("view@1", ["1"]), ("view@2", ["1", "2"]), ("none", ["1", "1"])]) == [
        [b"v:1"],
        [b"other layout", None],
        [None, None],
    ]
    assert sqlite_store.read([("view@1", ("2", "1", "2"))]) == [[b"v:2", b"v:1", b"v:2"]]
    sqlite_store.close()


def test_sqlite_without_json_functions_reads_the_same(sqlite_store: SqliteOnlineStore) -> None:
    asked = [KEYS[i % len(KEYS)] for i in range(600)] + ["missing"]
    ordered = sqlite_store.read([("view@1", asked)])
    sqlite_store._ordered = False  # what an SQLite built without JSON functions takes
    assert sqlite_store.read([("view@1", asked)]) == ordered
    assert ordered[0][-1] is None and ordered[0][0] == b"v:1"
    sqlite_store.close()


def _packed(codec: StructCodec | JsonCodec, rows: int, seed: int) -> list[bytes | str]:
    rng = random.Random(seed)

    def value(kind: str) -> object:
        if rng.random() < 0.2:
            return None
        if kind == "bool":
            return rng.random() < 0.5
        if kind == "int64":
            return rng.randint(-(2**62), 2**62)
        return rng.choice([rng.uniform(-1e6, 1e6), float("inf"), -0.0])

    kinds = ["float64", "int64", "bool", "float64"]
    columns = [
        pa.array([value(k) for _ in range(rows)], {"float64": pa.float64()}.get(k)) for k in kinds
    ]
    return codec.encode(columns)


@pytest.mark.parametrize("rows", [1, 2, 5, 100, MAX_RECORDS, MAX_RECORDS + 1, 1_000])
def test_columns_decode_exactly_as_the_codec(rows: int) -> None:
    codec = StructCodec(["float64", "int64", "bool", "float64"])
    packed = _packed(codec, rows, seed=rows)
    rng = random.Random(rows)
    raws: list[str | bytes | None] = [None if rng.random() < 0.1 else p for p in packed]
    decode = decoder_for(codec)
    for positions in ([0, 1, 2, 3], [3, 1], [2], [0, 0]):
        assert decode(raws, positions) == codec.decode(raws, positions)
    assert decode([None] * rows, [1, 2]) == [[None] * rows, [None] * rows]


def test_json_views_decode_through_their_codec() -> None:
    codec = JsonCodec()
    raws: list[str | bytes | None] = ['["a",1]', None, b'["b",null]']
    assert decoder_for(codec)(raws, [1, 0]) == [[1, None, None], ["a", None, "b"]]
