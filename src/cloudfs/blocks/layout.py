"""Offset ↔ block arithmetic and object naming.

A file is a sequence of fixed-size blocks; block ``i`` covers bytes
``[i * block_size, (i + 1) * block_size)``.  Each stored block is an immutable object named
by a random 128-bit id, so names reveal nothing and are never reused — or, from filespace
format 4, one of a few neighbours written together as one *pack* object (ADR 20): blocks
``i`` with the same ``i // blocks_per_pack`` uploaded by one commit share a pack, each
sealed block starting on a 4 KiB boundary, the pack at most ``PACK_BYTES`` long and
``PACK_BLOCKS`` blocks.  A full uncompressed block of a size just under the radosgw's 4 MiB
stripe (the default 4,032 KiB, ADR 16) starts on a stripe, so it stays one rados read.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

from cloudfs.codec.envelope import framed_size

__all__ = [
    "BLOCK_ID_BYTES",
    "MAX_BLOCK_SIZE",
    "MIN_BLOCK_SIZE",
    "PACK_BLOCKS",
    "PACK_BYTES",
    "BlockSpan",
    "block_count",
    "blocks_per_pack",
    "new_block_id",
    "object_key",
    "pack_key",
    "pack_offsets",
    "round_up",
    "spans",
]

MIN_BLOCK_SIZE = 64 * 1024
MAX_BLOCK_SIZE = 16 * 1024 * 1024
BLOCK_ID_BYTES = 16
BLOCKS_PREFIX = "blocks/"
PACKS_PREFIX = "packs/"
PACK_BYTES = 16 * 1024 * 1024
PACK_BLOCKS = 16
_PAGE = 4096
_STRIPE = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BlockSpan:
    """The part of block ``index`` that a byte range covers: ``[start, end)`` in the block."""

    index: int
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def spans(offset: int, length: int, block_size: int) -> Iterator[BlockSpan]:
    """The block pieces that ``[offset, offset + length)`` covers, in order."""
    pos, stop = offset, offset + length
    while pos < stop:
        index, start = divmod(pos, block_size)
        end = min(block_size, start + (stop - pos))
        yield BlockSpan(index, start, end)
        pos += end - start


def block_count(size: int, block_size: int) -> int:
    """How many blocks a file of ``size`` bytes spans."""
    return -(-size // block_size)


def new_block_id() -> bytes:
    """A fresh, unguessable block id."""
    return secrets.token_bytes(BLOCK_ID_BYTES)


def object_key(block_id: bytes) -> str:
    """The object key of a block; two hex digits of fan-out keep listings shallow."""
    hex_id = block_id.hex()
    return f"{BLOCKS_PREFIX}{hex_id[:2]}/{hex_id}"


def pack_key(pack_id: bytes) -> str:
    """The object key of a pack (named by the id of its first block)."""
    hex_id = pack_id.hex()
    return f"{PACKS_PREFIX}{hex_id[:2]}/{hex_id}"


def round_up(n: int, unit: int) -> int:
    """``n`` rounded up to a multiple of ``unit``."""
    return -(-n // unit) * unit


def _raw_alignment(block_size: int) -> int:
    """Where a full uncompressed block starts in a pack: on a 4 MiB stripe if it fits one
    with at most 1/64 of it left over, else on a page."""
    raw = framed_size(block_size)
    return _STRIPE if _STRIPE - _STRIPE // 64 <= raw <= _STRIPE else _PAGE


def pack_offsets(stored: list[int], block_size: int) -> list[int]:
    """The offsets of sealed blocks of these sizes, in this order, in one pack."""
    raw, align = framed_size(block_size), _raw_alignment(block_size)
    offsets, end = [], 0
    for size in stored:
        offset = round_up(end, align if size == raw else _PAGE)
        offsets.append(offset)
        end = offset + size
    return offsets


def blocks_per_pack(block_size: int, pack_bytes: int = PACK_BYTES) -> int:
    """How many blocks of ``block_size`` one pack holds (1: blocks are not packed)."""
    slot = round_up(framed_size(block_size), _raw_alignment(block_size))
    return max(1, min(PACK_BLOCKS, pack_bytes // slot))
