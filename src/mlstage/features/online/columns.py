"""Online lookups' decoding: packed values of many entities into feature columns, fast.

The view's codec (``mlstage.features.codec``) defines the bytes; this is the
read path's way through them. A fixed-width view's records for ``n``
entities are unpacked by one precompiled ``struct.Struct`` of ``n`` records
(one call, one tuple, no tuple per entity), and each column is a strided
slice of it: for 100 entities x 10 features about a third of the time of
unpacking record by record, and far fewer objects for the garbage collector
to track. JSON views go through their codec unchanged.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from mlstage.features.codec import Codec, StructCodec

Decoder = Callable[[Sequence[str | bytes | None], Sequence[int]], list[list[Any]]]

MAX_RECORDS = 256
"""Lookups of up to this many entities get a compiled ``Struct``; larger ones use the codec's."""
_MAX_CACHED = 64


class StructColumns:
    """``decoder(raws, positions)``: like ``StructCodec.decode``, in one ``unpack`` call."""

    def __init__(self, codec: StructCodec) -> None:
        self.codec = codec
        self.record = codec.format.removeprefix("<")
        self.width = len(codec.codes) + 1  # the null mask, then one value per feature
        self.empty = codec.empty
        self.one = struct.Struct(codec.format)
        self._many: dict[int, struct.Struct] = {}

    def _unpacker(self, n: int) -> struct.Struct:
        unpacker = self._many.get(n)
        if unpacker is None:
            unpacker = struct.Struct("<" + self.record * n)
            if len(self._many) < _MAX_CACHED:
                self._many[n] = unpacker
        return unpacker

    def __call__(
        self, raws: Sequence[str | bytes | None], positions: Sequence[int]
    ) -> list[list[Any]]:
        n = len(raws)
        if n == 1:
            raw = raws[0]
            one = self.one.unpack(self.empty if raw is None else raw)  # type: ignore[arg-type]
            mask = one[0]
            return [[None if mask >> p & 1 else one[p + 1]] for p in positions]
        if n == 0 or n > MAX_RECORDS:
            return self.codec.decode(raws, positions)
        empty = self.empty
        joined = b"".join(empty if r is None else r for r in raws)  # type: ignore[misc]
        values = self._unpacker(n).unpack(joined)
        width = self.width
        out = [list(values[p + 1 :: width]) for p in positions]
        masks = values[::width]
        if any(masks):
            for row, mask in enumerate(masks):
                if mask:
                    for column, p in zip(out, positions, strict=True):
                        if mask >> p & 1:
                            column[row] = None
        return out


def decoder_for(codec: Codec) -> Decoder:
    """The fastest way to read ``codec``'s values into columns."""
    if isinstance(codec, StructCodec):
        return StructColumns(codec)
    return codec.decode
