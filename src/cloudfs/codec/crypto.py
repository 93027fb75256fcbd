"""Encryption of everything a filespace stores: blocks, names and small secrets.

All three are built from audited primitives in ``cryptography``; nothing here is
hand-rolled beyond the byte layouts, which ``docs/format.md`` describes.  Every failure to
authenticate raises :class:`~cloudfs.errors.IntegrityError`; no unauthenticated byte is
ever returned.  Instances hold only immutable keys (and :mod:`.compress` keeps per-thread
zstd contexts), so one instance can be shared by all worker threads.

:class:`BlockCodec` — file data.  ``seal`` compresses the block (:mod:`.compress`, kept
only if it shrinks), encrypts it with AES-256-GCM under a fresh random nonce, and frames
it as :mod:`.envelope` describes, with the header, the filespace id and the block id as
associated data: a flipped bit, a block served under another id (swap or replay), a block
of another filespace or a truncated object all fail.  ``open`` checks the header and the
size bound first (cheap, clear messages), then the tag, then inflates within the block
size.  Random 96-bit nonces under one data key are good for 2^32 blocks (NIST SP
800-38D), i.e. 16 PiB of 4 MiB blocks per filespace.  Cost: AES-GCM and zstd release
the GIL; beyond the primitives the hot path makes one copy, prefixing the 18-byte header
to the ciphertext (~0.1 ms per 4 MiB, measured; ``benchmarks/codec_throughput.py``).

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

What deterministic encryption leaks, by design: whoever sees the blobs can tell that two
entries *in the same context* have the same name (never the case within one directory)
and can see the same directory entry persist across renames of its parent.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV

from cloudfs.codec import envelope
from cloudfs.codec.compress import compress, decompress
from cloudfs.codec.envelope import NONCE_SIZE, PREFIX_SIZE, TAG_SIZE
from cloudfs.errors import IntegrityError

__all__ = ["MAX_NAME_BYTES", "BlockCodec", "NameCipher", "SecretBox"]

MAX_NAME_BYTES = 255
"""Longest name accepted, in UTF-8 bytes (the POSIX ``NAME_MAX`` of Linux filesystems)."""

_SECRET_VERSION = b"\x01"
_SECRET_AD_PREFIX = b"cloudfs/v1/secret\x00"
_NAME_VERSION = b"\x01"
_NAME_AD_LABEL = b"cloudfs/v1/name"
_NAME_PAD = 16


def require_key(key: bytes, size: int, what: str) -> None:
    """Raise ``ValueError`` unless ``key`` is ``size`` bytes long."""
    if len(key) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(key)}")


class BlockCodec:
    """Seals and opens the blocks of one filespace under its data key."""

    __slots__ = ("_aead", "_filespace_ad")

    def __init__(self, data_key: bytes, filespace_id: bytes) -> None:
        require_key(data_key, 32, "data key")
        self._aead = AESGCM(data_key)
        self._filespace_ad = envelope.block_ad_prefix(filespace_id)

    def seal(self, block_id: bytes, plaintext: bytes | memoryview) -> bytes:
        """The stored form of ``plaintext`` under ``block_id``, compressed if it shrinks.

        Each call draws a fresh nonce, so sealing the same block twice gives different
        bytes that both open to the same plaintext.
        """
        frame = compress(plaintext)
        head = envelope.header(compressed=frame is not None)
        nonce = os.urandom(NONCE_SIZE)
        payload = plaintext if frame is None else frame
        sealed = self._aead.encrypt(nonce, payload, head + self._filespace_ad + block_id)
        return head + nonce + sealed

    def open(self, block_id: bytes, sealed: bytes | memoryview, *, max_size: int) -> bytes:
        """The plaintext of a block sealed under ``block_id`` in this filespace.

        ``max_size`` is the filespace block size: larger objects, and frames declaring a
        larger output, are refused before anything is allocated.
        """
        view = memoryview(sealed)
        head, compressed = envelope.parse_header(view, block_id, max_size)
        ad = head + self._filespace_ad + block_id
        try:
            payload = self._aead.decrypt(
                view[envelope.HEADER_SIZE : PREFIX_SIZE], view[PREFIX_SIZE:], ad
            )
        except InvalidTag:
            raise IntegrityError(
                f"block {envelope.show_id(block_id)} failed authentication: tampered, "
                "truncated, stored under another id, or from another filespace"
            ) from None
        return decompress(payload, max_size) if compressed else payload


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
