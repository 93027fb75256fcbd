"""Strict typed readers for the JSON structures in this package (descriptor, key slots).

Each reader raises ``TypeError`` or ``ValueError`` naming what it expected; callers turn
those into the error their layer owes (``IntegrityError`` for a stored descriptor).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

__all__ = ["b64decode", "b64encode", "req_bytes", "req_int", "req_list", "req_str"]


def b64encode(raw: bytes) -> str:
    """Standard base64 (RFC 4648 §4) with padding, as text."""
    return base64.b64encode(raw).decode("ascii")


def b64decode(text: object) -> bytes:
    """Strict inverse of :func:`b64encode`."""
    if not isinstance(text, str):
        raise TypeError(f"expected a base64 string, got {text!r}")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as e:
        raise ValueError(f"bad base64: {e}") from e


def req_int(obj: Mapping[str, Any], key: str) -> int:
    """``obj[key]`` as an integer (``bool`` is refused)."""
    value = obj[key]
    if type(value) is not int:
        raise TypeError(f"{key}: expected an integer, got {value!r}")
    return value


def req_str(obj: Mapping[str, Any], key: str) -> str:
    """``obj[key]`` as a string."""
    value = obj[key]
    if not isinstance(value, str):
        raise TypeError(f"{key}: expected a string, got {value!r}")
    return value


def req_bytes(obj: Mapping[str, Any], key: str) -> bytes:
    """``obj[key]`` decoded from base64."""
    return b64decode(obj[key])


def req_list(obj: Mapping[str, Any], key: str) -> list[Any]:
    """``obj[key]`` as a list."""
    value = obj[key]
    if not isinstance(value, list):
        raise TypeError(f"{key}: expected a list, got {value!r}")
    return value
