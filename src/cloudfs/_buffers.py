"""Buffer types shared by the layers that move block bytes without copying them."""

from __future__ import annotations

from typing import TypeAlias

__all__ = ["Bytes"]

Bytes: TypeAlias = bytes | bytearray | memoryview
"""Bytes handed down to be stored or written (a sealed block is the ``bytearray`` it was
encrypted into, a fetched one often a view): read, never modified, never kept."""
