"""Hypothesis properties: whatever goes in comes back out, and nothing else opens."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudfs.codec import BlockCodec, NameCipher, SecretBox
from cloudfs.codec.compress import compress, decompress
from cloudfs.codec.envelope import frame_range, framed_size
from cloudfs.errors import IntegrityError

KEY = os.urandom(32)
FILESPACE = os.urandom(16)
CODEC = BlockCodec(KEY, FILESPACE)
NAMES = NameCipher(os.urandom(64))
BOX = SecretBox(os.urandom(32))
MAX = 1 << 20

# Mixes incompressible bytes with runs, so both branches (raw and zstd) get exercised.
blocks = st.one_of(
    st.binary(max_size=4096),
    st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=64), st.integers(1, 2000)),
)
block_ids = st.binary(min_size=1, max_size=64)
names = st.text(min_size=1, max_size=60).filter(lambda s: len(s.encode("utf-8", "ignore")) <= 255)
common = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(data=blocks)
def test_compress_round_trip(data: bytes) -> None:
    frame = compress(data)
    if frame is None:
        return
    assert len(frame) < len(data)
    assert decompress(frame, len(data)) == data


@common
@given(data=blocks, block_id=block_ids, as_view=st.booleans())
def test_seal_open_round_trip(data: bytes, block_id: bytes, as_view: bool) -> None:
    sealed = CODEC.seal(block_id, memoryview(data) if as_view else data)
    assert len(sealed) <= framed_size(len(data))
    assert CODEC.open(block_id, sealed, max_size=MAX) == data


@common
@given(
    data=st.binary(min_size=1, max_size=300_000).map(lambda b: b + os.urandom(len(b))),
    where=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_partial_reads_match_the_plaintext(data: bytes, where: tuple[float, float]) -> None:
    block_id = b"b" * 16
    sealed = CODEC.seal(block_id, data)
    if len(sealed) != framed_size(len(data)):
        return  # compressed after all: one frame, read whole
    a, b = sorted(int(f * len(data)) for f in where)
    b = max(b, a + 1)
    if b > len(data):
        return
    frames = frame_range(len(data), a, b)
    plain = CODEC.open_frames(block_id, sealed[frames.stored_start : frames.stored_end], frames)
    assert plain[a - frames.plain_offset : b - frames.plain_offset] == data[a:b]


@common
@given(data=blocks, block_id=block_ids, other=block_ids)
def test_open_under_another_id_fails(data: bytes, block_id: bytes, other: bytes) -> None:
    sealed = CODEC.seal(block_id, data)
    if other != block_id:
        try:
            CODEC.open(other, sealed, max_size=MAX)
        except IntegrityError:
            return
        raise AssertionError("opened under another block id")


@common
@given(data=blocks, position=st.integers(min_value=0), mask=st.integers(1, 255))
def test_any_single_byte_change_fails(data: bytes, position: int, mask: int) -> None:
    sealed = bytearray(CODEC.seal(b"id", data))
    sealed[position % len(sealed)] ^= mask
    try:
        CODEC.open(b"id", bytes(sealed), max_size=MAX)
    except IntegrityError:
        return
    raise AssertionError("a tampered block opened")


@common
@given(context=st.binary(max_size=16), name=names)
def test_name_round_trip(context: bytes, name: str) -> None:
    try:
        blob = NAMES.encrypt(context, name)
    except UnicodeEncodeError:
        return  # lone surrogates have no UTF-8 form
    assert NAMES.encrypt(context, name) == blob
    assert NAMES.decrypt(context, blob) == name


@common
@given(context=st.binary(max_size=32), value=st.binary(max_size=2048))
def test_secret_round_trip(context: bytes, value: bytes) -> None:
    assert BOX.open(context, BOX.seal(context, value)) == value
