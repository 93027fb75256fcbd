"""Encryption of small values: names (deterministic AES-SIV) and secrets (AES-GCM).

Both are built from audited primitives in ``cryptography``; nothing here is
hand-rolled beyond the byte layouts, which ``docs/format.md`` describes.  Every failure to
authenticate raises :class:`~cloudfs.errors.IntegrityError`; no unauthenticated byte is
ever returned.  Instances hold only immutable keys and can be shared between threads.

:class:`BlockCodec` lives in :mod:`.envelope` (re-exported here): the block format and
its sealing belong together.

:class:`SecretBox` — symlink targets, xattr values, data-store credentials.  Each value gets
a fresh random 96-bit nonce, so equal plaintexts give unrelated ciphertexts.  The caller's
*context* (e.g. which inode and attribute the value belongs to) is authenticated as
associated data, so a value copied to another place fails to open::

    blob = version (0x01) || nonce (12) || AES-256-GCM(key, nonce, plaintext, AD) (len + 16)
    AD   = b"cloudfs/v1/secret\\0" || context

:class:`NameCipher` — file names and xattr names.  Lookups by name need equal names to
encrypt to equal bytes, so this is *deterministic* authenticated encryption (AES-SIV,
RFC 5297, 512-bit key = AES-256-SIV).  The context (the VFS passes the parent directory's
inode number, 8 bytes big-endian, or a distinct context for xattr names) is one of the
SIV associated-data components, so the same name in two directories encrypts differently
and a name moved under another parent fails to decrypt.  Names are padded to a multiple
of 16 bytes before encryption (PKCS#7 style, 1–16 bytes), so the metadata engine learns a
name's length only to within 16 bytes::

    blob = version (0x01) || SIV tag (16) || ciphertext (padded length: 16, 32, ... 256)
    AD   = [b"cloudfs/v1/name", context]

What deterministic encryption leaks, by design: equality within one context.  No two live
entries of a directory share a name, so this shows only across time — a name deleted
and later re-created in the same directory gives the same blob again.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV

from cloudfs.codec._aead import NONCE_SIZE, TAG_SIZE, require_key
from cloudfs.codec.envelope import BlockCodec
from cloudfs.errors import IntegrityError

# BlockCodec is re-exported: its home is .envelope, with the block format.
__all__ = ["MAX_NAME_BYTES", "BlockCodec", "NameCipher", "SecretBox"]

MAX_NAME_BYTES = 255
"""Longest name accepted, in UTF-8 bytes (the POSIX ``NAME_MAX`` of Linux filesystems)."""

_SECRET_VERSION = b"\x01"
_SECRET_AD_PREFIX = b"cloudfs/v1/secret\x00"
_NAME_VERSION = b"\x01"
_NAME_AD_LABEL = b"cloudfs/v1/name"
_NAME_PAD = 16


class SecretBox:
    """Random-nonce AES-256-GCM for small secrets, bound to a caller-chosen context."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        require_key(key, 32, "secret key")
        self._aead = AESGCM(key)

    def seal(self, context: bytes, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext`` for ``context``; a fresh nonce each call."""
        nonce = os.urandom(NONCE_SIZE)
        sealed = self._aead.encrypt(nonce, plaintext, _SECRET_AD_PREFIX + context)
        return _SECRET_VERSION + nonce + sealed

    def open(self, context: bytes, blob: bytes) -> bytes:
        """Decrypt a :meth:`seal` result; ``IntegrityError`` if altered or out of context."""
        if len(blob) < 1 + NONCE_SIZE + TAG_SIZE:
            raise IntegrityError(f"sealed secret is truncated ({len(blob)} bytes)")
        if blob[:1] != _SECRET_VERSION:
            raise IntegrityError(f"sealed secret has unknown version {blob[0]}")
        view = memoryview(blob)
        try:
            return self._aead.decrypt(
                view[1 : 1 + NONCE_SIZE], view[1 + NONCE_SIZE :], _SECRET_AD_PREFIX + context
            )
        except InvalidTag:
            raise IntegrityError("sealed secret failed authentication") from None


class NameCipher:
    """Deterministic AES-SIV encryption of names (UTF-8, 1–255 bytes) within a context."""

    __slots__ = ("_siv",)

    def __init__(self, key: bytes) -> None:
        require_key(key, 64, "name key")
        self._siv = AESSIV(key)

    def encrypt(self, context: bytes, name: str) -> bytes:
        """The blob for ``name`` in ``context``: equal inputs give equal blobs.

        ``ValueError`` for an empty name or one longer than 255 UTF-8 bytes (and, as
        ``UnicodeEncodeError``, for lone surrogates that have no UTF-8 form).
        """
        raw = name.encode("utf-8")
        if not raw:
            raise ValueError("a name cannot be empty")
        if len(raw) > MAX_NAME_BYTES:
            raise ValueError(f"name is {len(raw)} bytes in UTF-8; the limit is {MAX_NAME_BYTES}")
        return _NAME_VERSION + self._siv.encrypt(_pad(raw), [_NAME_AD_LABEL, context])

    def decrypt(self, context: bytes, blob: bytes) -> str:
        """The name in ``blob``; ``IntegrityError`` if altered or from another context."""
        if len(blob) < 1 + TAG_SIZE + _NAME_PAD or blob[:1] != _NAME_VERSION:
            raise IntegrityError("encrypted name is truncated or has an unknown version")
        try:
            padded = self._siv.decrypt(blob[1:], [_NAME_AD_LABEL, context])
        except InvalidTag:
            raise IntegrityError("encrypted name failed authentication") from None
        try:
            return _unpad(padded).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as e:
            raise IntegrityError(f"encrypted name is malformed: {e}") from e


def _pad(raw: bytes) -> bytes:
    """PKCS#7-style padding to a multiple of 16 bytes (always 1–16 bytes added)."""
    n = _NAME_PAD - len(raw) % _NAME_PAD
    return raw + bytes([n]) * n


def _unpad(padded: bytes) -> bytes:
    n = padded[-1]
    if not 1 <= n <= _NAME_PAD or n >= len(padded) or padded[-n:] != bytes([n]) * n:
        raise ValueError("bad padding")
    return padded[:-n]
