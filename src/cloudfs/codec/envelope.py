"""The block envelope: how one block of file data becomes one immutable stored object.

:class:`BlockCodec` ``seal`` compresses the block (:mod:`.compress`, kept only if it
shrinks), encrypts it with AES-256-GCM under the filespace data key and a fresh random
nonce, and frames it as below (``docs/format.md`` is the reference)::

    offset  size  field
         0     4  magic            b"CFSB"
         4     1  format version   0x01
         5     1  flags            bit 0 = payload is a zstd frame; bits 1-7 must be 0
         6    12  nonce            random per seal (os.urandom)
        18     n  ciphertext       AES-256-GCM of the payload (the raw or compressed block)
      18+n    16  tag              GCM authentication tag

and the AEAD associated data is::

    header (bytes 0-5) || len(filespace_id) (1 byte) || filespace_id || block_id

so every header bit, the filespace and the block id are authenticated with the payload.
:func:`parse_header` checks the header *before* decryption only to give a precise message
(not a cloudfs block, unknown version, unknown flags, truncated, larger than a block);
anything it lets through is still authenticated by the tag.

``open`` runs the same steps backwards: size bound and header (cheap, precise messages),
then the tag, then bounded inflation.  It never returns a byte it has not authenticated.

Versions: the filespace descriptor gates the format — a client too old for a filespace
refuses it with ``UnsupportedFormatError`` before reading any block — so a block whose
version this client does not know is treated as corrupt (``IntegrityError``), with a
message that names the other possibility, a newer writer.

Nonces are 96-bit random values under one data key per filespace; NIST SP 800-38D caps
that at 2^32 seals per key, i.e. 16 PiB of 4 MiB blocks over a filespace's life.

Cost: AES-GCM and zstd release the GIL, so worker threads seal and open in parallel.
Beyond the primitives the hot path makes one copy, prefixing the 18-byte header to the
ciphertext (~0.1 ms per 4 MiB, measured; ``benchmarks/codec_throughput.py``).  A
:class:`BlockCodec` holds only an immutable key (zstd contexts are per thread), so one
instance serves all threads.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloudfs.codec._aead import NONCE_SIZE, TAG_SIZE, require_key
from cloudfs.codec.compress import compress, decompress
from cloudfs.errors import IntegrityError

__all__ = [
    "BLOCK_MAGIC",
    "BLOCK_OVERHEAD",
    "BLOCK_VERSION",
    "FLAG_COMPRESSED",
    "HEADER_SIZE",
    "NONCE_SIZE",
    "PREFIX_SIZE",
    "TAG_SIZE",
    "BlockCodec",
    "block_ad_prefix",
    "header",
    "parse_header",
    "show_id",
]

BLOCK_MAGIC = b"CFSB"
BLOCK_VERSION = 1
FLAG_COMPRESSED = 0x01
_KNOWN_FLAGS = FLAG_COMPRESSED

HEADER_SIZE = len(BLOCK_MAGIC) + 2
"""Magic, version and flags: the authenticated, unencrypted header."""
PREFIX_SIZE = HEADER_SIZE + NONCE_SIZE
"""Where the ciphertext starts."""
BLOCK_OVERHEAD = PREFIX_SIZE + TAG_SIZE
"""Bytes a sealed block adds to its payload: 6 header + 12 nonce + 16 tag = 34."""

_HEADERS = {flag: BLOCK_MAGIC + bytes([BLOCK_VERSION, flag]) for flag in (0, FLAG_COMPRESSED)}


def header(compressed: bool) -> bytes:
    """The 6 header bytes of a version-1 block."""
    return _HEADERS[FLAG_COMPRESSED if compressed else 0]


def block_ad_prefix(filespace_id: bytes) -> bytes:
    """The filespace part of the associated data: its length (1 byte), then the id."""
    if not 0 < len(filespace_id) < 256:
        raise ValueError("filespace id must be 1-255 bytes")
    return bytes([len(filespace_id)]) + filespace_id


def parse_header(sealed: memoryview, block_id: bytes, max_size: int) -> tuple[bytes, bool]:
    """The header bytes and the compressed flag, after checking size, magic, version, flags.

    ``max_size`` bounds the payload: a larger object cannot be a block of this filespace.
    """
    _check_size(len(sealed), block_id, max_size)
    head = bytes(sealed[:HEADER_SIZE])
    if head[:4] != BLOCK_MAGIC:
        raise IntegrityError(f"object {show_id(block_id)} is not a cloudfs block (bad magic)")
    if head[4] != BLOCK_VERSION:
        raise IntegrityError(
            f"block {show_id(block_id)} has envelope version {head[4]}, but this cloudfs "
            f"reads version {BLOCK_VERSION}: the object is corrupt or from a newer cloudfs"
        )
    if head[5] & ~_KNOWN_FLAGS:
        raise IntegrityError(f"block {show_id(block_id)} has unknown flags {head[5]:#04x}")
    return head, bool(head[5] & FLAG_COMPRESSED)


def _check_size(size: int, block_id: bytes, max_size: int) -> None:
    if size < BLOCK_OVERHEAD:
        raise IntegrityError(
            f"block {show_id(block_id)} is truncated: {size} bytes, "
            f"less than the {BLOCK_OVERHEAD}-byte envelope"
        )
    if size - BLOCK_OVERHEAD > max_size:
        raise IntegrityError(
            f"block {show_id(block_id)} holds {size - BLOCK_OVERHEAD} bytes, "
            f"more than the {max_size}-byte block size"
        )


def show_id(block_id: bytes) -> str:
    """A short printable form of a block id for messages."""
    text = block_id.hex()
    return text if len(text) <= 32 else text[:32] + "…"


class BlockCodec:
    """Seals and opens the blocks of one filespace under its data key."""

    __slots__ = ("_aead", "_filespace_ad")

    def __init__(self, data_key: bytes, filespace_id: bytes) -> None:
        require_key(data_key, 32, "data key")
        self._aead = AESGCM(data_key)
        self._filespace_ad = block_ad_prefix(filespace_id)

    def seal(self, block_id: bytes, plaintext: bytes | memoryview) -> bytes:
        """The stored form of ``plaintext`` under ``block_id``, compressed if it shrinks.

        Each call draws a fresh nonce, so sealing the same block twice gives different
        bytes that both open to the same plaintext.
        """
        frame = compress(plaintext)
        head = header(compressed=frame is not None)
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
        head, compressed = parse_header(view, block_id, max_size)
        ad = head + self._filespace_ad + block_id
        try:
            payload = self._aead.decrypt(view[HEADER_SIZE:PREFIX_SIZE], view[PREFIX_SIZE:], ad)
        except InvalidTag:
            raise IntegrityError(
                f"block {show_id(block_id)} failed authentication: tampered, "
                "truncated, stored under another id, or from another filespace"
            ) from None
        return decompress(payload, max_size) if compressed else payload
