"""The block envelope: round trips, and every way a stored block can be wrong."""

from __future__ import annotations

import os
import threading

import pytest

from cloudfs.codec import BLOCK_OVERHEAD, BlockCodec, Subkeys
from cloudfs.codec.envelope import (
    BLOCK_MAGIC,
    FLAG_COMPRESSED,
    FRAME_OVERHEAD,
    HEADER_V2_SIZE,
    frame_range,
    framed_size,
)
from cloudfs.errors import IntegrityError

from .conftest import BLOCK

TEXT = b"all work and no play makes jack a dull boy. " * 100_000
BID = b"\x01" * 16


@pytest.mark.parametrize(
    "plaintext",
    [b"", b"a", os.urandom(BLOCK), TEXT[:BLOCK], bytes(BLOCK)],
    ids=["empty", "one-byte", "random-4MiB", "text-4MiB", "zeros-4MiB"],
)
def test_round_trip(codec: BlockCodec, plaintext: bytes) -> None:
    sealed = codec.seal(BID, plaintext)
    assert codec.open(BID, sealed, max_size=BLOCK) == plaintext


def test_memoryview_in_and_out(codec: BlockCodec) -> None:
    buf = bytearray(TEXT[:200_000])
    sealed = codec.seal(BID, memoryview(buf)[100:])
    assert codec.open(BID, memoryview(sealed), max_size=BLOCK) == bytes(buf[100:])


def test_layout_and_compression_flag(codec: BlockCodec) -> None:
    raw = os.urandom(1000)
    sealed_raw = codec.seal(BID, raw)
    sealed_text = codec.seal(BID, TEXT[:100_000])
    assert sealed_raw[:5] == BLOCK_MAGIC + bytes([codec.envelope_version])
    assert sealed_raw[5] == 0
    if codec.envelope_version == 1:
        assert len(sealed_raw) == len(raw) + BLOCK_OVERHEAD
    else:
        assert sealed_raw[6:8] == bytes([16, 0])  # 64 KiB frames, reserved byte
        assert len(sealed_raw) == len(raw) + HEADER_V2_SIZE + FRAME_OVERHEAD == framed_size(1000)
    assert sealed_text[5] == FLAG_COMPRESSED
    assert len(sealed_text) < 10_000


def test_empty_block_is_just_the_envelope(codec: BlockCodec) -> None:
    expected = BLOCK_OVERHEAD if codec.envelope_version == 1 else HEADER_V2_SIZE + FRAME_OVERHEAD
    assert len(codec.seal(BID, b"")) == expected == {1: 34, 2: 36}[codec.envelope_version]


def test_version_2_frames_cost_28_bytes_per_64_kib() -> None:
    codec = BlockCodec(os.urandom(32), b"fs")
    data = os.urandom(4 * 65536 + 1)  # four full frames and one of a byte
    sealed = codec.seal(BID, data)
    assert len(sealed) == HEADER_V2_SIZE + 5 * FRAME_OVERHEAD + len(data) == framed_size(len(data))
    assert codec.open(BID, sealed, max_size=BLOCK) == data


def test_a_default_block_seals_into_one_4_mib_chunk() -> None:
    """Ceph's radosgw keeps an object's first 4 MiB as one chunk; a sealed default block
    must fit it, and a frame more would not (docs/decisions/0016)."""
    from cloudfs.workspace.filespace import DEFAULT_BLOCK_SIZE

    codec = BlockCodec(os.urandom(32), b"fs")
    sealed = codec.seal(BID, os.urandom(DEFAULT_BLOCK_SIZE))  # incompressible: stored framed
    assert len(sealed) == framed_size(DEFAULT_BLOCK_SIZE) <= 4 * 1024 * 1024
    assert framed_size(DEFAULT_BLOCK_SIZE + 65536) > 4 * 1024 * 1024


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, 1), (5, 4101), (65535, 65537), (3 * 65536, 4 * 65536 + 1), (0, 4 * 65536 + 1)],
)
def test_partial_read_opens_only_the_frames_touched(start: int, end: int) -> None:
    codec = BlockCodec(os.urandom(32), b"fs")
    data = os.urandom(4 * 65536 + 1)
    sealed = codec.seal(BID, data)
    frames = frame_range(len(data), start, end)
    stored = sealed[frames.stored_start : frames.stored_end]
    assert len(stored) <= (end - start) + 2 * (65536 + FRAME_OVERHEAD)
    plain = codec.open_frames(BID, stored, frames)
    assert plain[start - frames.plain_offset : end - frames.plain_offset] == data[start:end]


def test_partial_read_refuses_tampered_moved_or_foreign_frames() -> None:
    codec = BlockCodec(os.urandom(32), b"fs")
    data = os.urandom(3 * 65536)
    sealed = codec.seal(BID, data)
    first, second = frame_range(len(data), 0, 1), frame_range(len(data), 65536, 65537)
    frame0 = sealed[first.stored_start : first.stored_end]
    frame1 = sealed[second.stored_start : second.stored_end]
    with pytest.raises(IntegrityError):
        codec.open_frames(BID, frame0, second)  # frame 0 served for frame 1
    with pytest.raises(IntegrityError):
        codec.open_frames(b"\x02" * 16, frame1, second)  # another block's id
    flipped = bytearray(frame1)
    flipped[40] ^= 1
    with pytest.raises(IntegrityError):
        codec.open_frames(BID, bytes(flipped), second)
    with pytest.raises(IntegrityError):
        codec.open_frames(BID, frame1[:-1], second)
    # A block cut after its second frame: its new last frame was sealed as "not last".
    cut = sealed[: second.stored_end]
    with pytest.raises(IntegrityError):
        codec.open(BID, cut, max_size=BLOCK)
    last = frame_range(2 * 65536, 65536, 65537)
    with pytest.raises(IntegrityError):
        codec.open_frames(BID, frame1, last)


def test_partial_read_of_a_compressed_block_fails_safely() -> None:
    codec = BlockCodec(os.urandom(32), b"fs")
    sealed = codec.seal(BID, TEXT[:200_000])
    frames = frame_range(200_000, 0, 10)
    with pytest.raises(IntegrityError):
        codec.open_frames(BID, sealed[frames.stored_start : frames.stored_end], frames)


def test_sealing_twice_uses_fresh_nonces(codec: BlockCodec) -> None:
    a, b = codec.seal(BID, b"same"), codec.seal(BID, b"same")
    assert a != b
    assert codec.open(BID, a, max_size=BLOCK) == codec.open(BID, b, max_size=BLOCK)


@pytest.mark.parametrize("plaintext", [b"", b"short block", TEXT[:3000]], ids=["empty", "raw", "z"])
def test_every_flipped_byte_is_refused(codec: BlockCodec, plaintext: bytes) -> None:
    sealed = codec.seal(BID, plaintext)
    for i in range(len(sealed)):
        for mask in (0x01, 0x80, 0xFF):
            tampered = bytearray(sealed)
            tampered[i] ^= mask
            with pytest.raises(IntegrityError):
                codec.open(BID, bytes(tampered), max_size=BLOCK)


def test_block_swapped_under_another_id_is_refused(codec: BlockCodec) -> None:
    a = codec.seal(b"block-a", b"contents of a")
    codec.seal(b"block-b", b"contents of b")
    with pytest.raises(IntegrityError, match="failed authentication"):
        codec.open(b"block-b", a, max_size=BLOCK)


def test_old_block_replayed_under_a_new_id_is_refused(codec: BlockCodec) -> None:
    old = codec.seal(b"v1-id", TEXT[:5000])
    new_id = b"v2-id"
    assert codec.open(new_id, codec.seal(new_id, TEXT[:6000]), max_size=BLOCK) == TEXT[:6000]
    with pytest.raises(IntegrityError):
        codec.open(new_id, old, max_size=BLOCK)


def test_block_from_another_filespace_is_refused(master: bytes, filespace_id: bytes) -> None:
    # Same master key, different filespace id: both the subkeys and the AD differ.
    other_id = os.urandom(16)
    ours = BlockCodec(Subkeys.derive(master, filespace_id).data, filespace_id)
    theirs = BlockCodec(Subkeys.derive(master, other_id).data, other_id)
    with pytest.raises(IntegrityError):
        ours.open(BID, theirs.seal(BID, b"data"), max_size=BLOCK)


def test_filespace_id_is_bound_even_under_one_data_key(subkeys: Subkeys) -> None:
    a = BlockCodec(subkeys.data, b"filespace-a")
    b = BlockCodec(subkeys.data, b"filespace-b")
    with pytest.raises(IntegrityError):
        b.open(BID, a.seal(BID, b"data"), max_size=BLOCK)


def test_wrong_key_is_refused(codec: BlockCodec, filespace_id: bytes) -> None:
    other = BlockCodec(os.urandom(32), filespace_id)
    with pytest.raises(IntegrityError):
        other.open(BID, codec.seal(BID, b"data"), max_size=BLOCK)


def test_truncated_anywhere_is_refused(codec: BlockCodec) -> None:
    sealed = codec.seal(BID, TEXT[:2000])
    for length in range(len(sealed)):
        with pytest.raises(IntegrityError):
            codec.open(BID, sealed[:length], max_size=BLOCK)


def test_extended_is_refused(codec: BlockCodec) -> None:
    sealed = codec.seal(BID, b"data")
    with pytest.raises(IntegrityError):
        codec.open(BID, sealed + b"\x00", max_size=BLOCK)


def test_bad_magic_says_so(codec: BlockCodec) -> None:
    sealed = b"XXXX" + codec.seal(BID, b"data")[4:]
    with pytest.raises(IntegrityError, match="not a cloudfs block"):
        codec.open(BID, sealed, max_size=BLOCK)


@pytest.mark.parametrize("version", [0, 3, 255])
def test_unknown_version_says_so(codec: BlockCodec, version: int) -> None:
    sealed = bytearray(codec.seal(BID, b"data"))
    sealed[4] = version
    with pytest.raises(IntegrityError, match=f"envelope version {version}.*newer cloudfs"):
        codec.open(BID, bytes(sealed), max_size=BLOCK)


def test_unknown_flags_say_so(codec: BlockCodec) -> None:
    sealed = bytearray(codec.seal(BID, b"data"))
    sealed[5] |= 0x40
    with pytest.raises(IntegrityError, match="unknown flags"):
        codec.open(BID, bytes(sealed), max_size=BLOCK)


def test_object_larger_than_a_block_is_refused_before_decrypting(codec: BlockCodec) -> None:
    sealed = codec.seal(BID, os.urandom(70_000))
    with pytest.raises(IntegrityError, match="more than the 65536-byte block size"):
        codec.open(BID, sealed, max_size=65_536)


def test_compressed_block_larger_than_max_size_is_refused(codec: BlockCodec) -> None:
    sealed = codec.seal(BID, bytes(1_000_000))  # compresses to a few hundred bytes
    with pytest.raises(IntegrityError, match="limit"):
        codec.open(BID, sealed, max_size=65_536)


def test_shared_between_threads(codec: BlockCodec) -> None:
    blocks = {bytes([i]) * 16: os.urandom(50_000) + TEXT[: 50_000 * i] for i in range(6)}
    errors: list[BaseException] = []

    def work(block_id: bytes, data: bytes) -> None:
        try:
            for _ in range(10):
                assert codec.open(block_id, codec.seal(block_id, data), max_size=BLOCK) == data
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=item) for item in blocks.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.parametrize(
    ("key", "filespace_id"),
    [(b"short", b"fs"), (bytes(32), b""), (bytes(32), bytes(256))],
    ids=["short-key", "empty-id", "long-id"],
)
def test_bad_construction(key: bytes, filespace_id: bytes) -> None:
    with pytest.raises(ValueError, match="must be"):
        BlockCodec(key, filespace_id)
