"""Offset ↔ block arithmetic and object naming.

A file is a sequence of fixed-size blocks; block ``i`` covers bytes
``[i * block_size, (i + 1) * block_size)``.  Each stored block is an immutable object named
by a random 128-bit id, so names reveal nothing and are never reused.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "BLOCK_ID_BYTES",
    "MAX_BLOCK_SIZE",
    "MIN_BLOCK_SIZE",
    "BlockSpan",
    "block_count",
    "new_block_id",
    "object_key",
    "spans",
]

MIN_BLOCK_SIZE = 64 * 1024
MAX_BLOCK_SIZE = 16 * 1024 * 1024
BLOCK_ID_BYTES = 16
BLOCKS_PREFIX = "blocks/"


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
