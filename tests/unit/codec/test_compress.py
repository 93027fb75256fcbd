"""zstd for blocks: skipped when it does not save an eighth, bounded when inflating."""

from __future__ import annotations

import os
import threading

import pytest
import zstandard

from cloudfs.codec.compress import MIN_SAVING, ZSTD_LEVEL, _worth_trying, compress, decompress
from cloudfs.errors import IntegrityError

TEXT = b"the quick brown fox jumps over the lazy dog\n" * 5000


def test_compressible_data_shrinks_and_round_trips() -> None:
    frame = compress(TEXT)
    assert frame is not None
    assert len(frame) < len(TEXT) // 10
    assert decompress(frame, len(TEXT)) == TEXT


@pytest.mark.parametrize("data", [b"", b"x", os.urandom(100_000)])
def test_data_that_does_not_shrink_is_left_alone(data: bytes) -> None:
    assert compress(data) is None


def test_memoryview_input() -> None:
    view = memoryview(bytearray(TEXT))[10:]
    frame = compress(view)
    assert frame is not None
    assert decompress(frame, len(TEXT)) == TEXT[10:]


def test_exactly_max_size_is_accepted() -> None:
    frame = compress(TEXT)
    assert frame is not None
    assert decompress(frame, len(TEXT)) == TEXT


def test_bomb_declaring_more_than_max_size_is_refused_before_inflating() -> None:
    bomb = zstandard.ZstdCompressor().compress(bytes(64 * 1024 * 1024))
    assert len(bomb) < 10_000
    with pytest.raises(IntegrityError, match="more than the 4194304-byte limit"):
        decompress(bomb, 4 * 1024 * 1024)


def test_frame_without_declared_size_is_refused() -> None:
    streamer = zstandard.ZstdCompressor().compressobj()
    frame = streamer.compress(TEXT) + streamer.flush()
    with pytest.raises(IntegrityError, match="does not declare its size"):
        decompress(frame, len(TEXT))


@pytest.mark.parametrize(
    "frame",
    [b"", b"not zstd at all", b"\x28\xb5\x2f\xfd"],
    ids=["empty", "garbage", "magic-only"],
)
def test_garbage_is_refused(frame: bytes) -> None:
    with pytest.raises(IntegrityError):
        decompress(frame, 1 << 20)


def test_corrupt_frame_body_never_exceeds_its_bound() -> None:
    # Frames carry no zstd checksum (the AEAD around them authenticates every byte), so a
    # corrupt body may decode to wrong bytes; what decompress guarantees is the bound.
    frame = compress(TEXT)
    assert frame is not None
    for i in range(20, len(frame), 7):
        corrupt = bytearray(frame)
        corrupt[i] ^= 0xFF
        try:
            out = decompress(bytes(corrupt), len(TEXT))
        except IntegrityError:
            continue
        assert len(out) == len(TEXT)


def test_trailing_data_after_the_frame_is_refused() -> None:
    frame = compress(TEXT)
    assert frame is not None
    with pytest.raises(IntegrityError):
        decompress(frame + frame, len(TEXT))


def test_threads_use_their_own_contexts() -> None:
    inputs = [bytes([i]) * 200_000 + os.urandom(1000) for i in range(8)]
    errors: list[BaseException] = []

    def work(data: bytes) -> None:
        try:
            for _ in range(20):
                frame = compress(data)
                assert frame is not None
                assert decompress(frame, len(data)) == data
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(d,)) for d in inputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def _partly_compressible(size: int, zero_every: int) -> bytes:
    """Random bytes with every ``zero_every``-th 64-byte run zeroed: saves ~1/zero_every."""
    data = bytearray(os.urandom(size))
    for start in range(0, size, 64 * zero_every):
        data[start : start + 64] = bytes(64)
    return bytes(data)


@pytest.mark.parametrize("size", [4096, 1 << 20])
def test_a_block_that_saves_less_than_an_eighth_is_stored_raw(size: int) -> None:
    assert compress(_partly_compressible(size, 25)) is None  # saves ~4 %: not worth it


@pytest.mark.parametrize("size", [4096, 1 << 20])
def test_a_block_that_saves_an_eighth_or_more_is_compressed(size: int) -> None:
    data = _partly_compressible(size, 4)  # saves ~25 %
    frame = compress(data)
    assert frame is not None
    assert len(frame) <= size * (1 - MIN_SAVING)
    assert decompress(frame, size) == data


def test_samples_decide_for_a_large_block() -> None:
    """Only start, middle and end are tried first: a block that is random there is stored
    raw even if the rest would compress (the price of not compressing every block)."""
    size = 1 << 20
    data = bytearray(bytes(size))
    for start in (0, (size - 16384) // 2, size - 16384):
        data[start : start + 16384] = os.urandom(16384)
    assert compress(bytes(data)) is None
    assert compress(bytes(data[: 16 * 16384 - 1])) is not None  # small: tried whole


def test_samples_are_judged_each_on_its_own() -> None:
    """A block repeating one random 1 MiB buffer (fio's writes) does not compress at zstd's
    window: its samples, compressed together, would match each other and say it does."""
    block = os.urandom(1 << 20) * 4
    assert not _worth_trying(memoryview(block))  # not even tried
    assert compress(block) is None
    z = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    assert len(z.compress(block)) > len(block) * (1 - MIN_SAVING)  # trying would be wasted
