"""Sizes and checks shared by every AEAD construction in this package."""

from __future__ import annotations

__all__ = ["NONCE_SIZE", "TAG_SIZE", "require_key"]

NONCE_SIZE = 12
"""AES-GCM nonce length in bytes (random per message)."""
TAG_SIZE = 16
"""AES-GCM and AES-SIV authentication tag length in bytes."""


def require_key(key: bytes, size: int, what: str) -> None:
    """``ValueError`` unless ``key`` is ``size`` bytes long."""
    if len(key) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(key)}")
