"""BlockRef: how a block map names one stored block."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BlockRef"]


@dataclass(frozen=True, slots=True)
class BlockRef:
    """Where one block of a file lives.

    ``id`` names the immutable object; ``size`` is how many plaintext bytes of the block are
    valid (bytes past it read as zeros); ``stored`` is the object's size in the store.
    """

    id: bytes
    size: int
    stored: int
