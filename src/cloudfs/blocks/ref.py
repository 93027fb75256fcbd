"""BlockRef: how a block map names one stored block."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BlockRef"]


@dataclass(frozen=True, slots=True)
class BlockRef:
    """Where one block of a file lives.

    ``id`` names the block (its envelope is bound to it); ``size`` is how many plaintext
    bytes of the block are valid (bytes past it read as zeros); ``stored`` is the sealed
    block's size in the store.  A block is its own object (``blocks/…``, named by ``id``)
    unless ``pack`` is set: then it is ``stored`` bytes at ``offset`` in the pack object
    of that id (``packs/…``), written with its neighbours in one request (ADR 20).
    """

    id: bytes
    size: int
    stored: int
    pack: bytes | None = None
    offset: int = 0
