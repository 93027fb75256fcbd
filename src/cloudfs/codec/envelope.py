"""The block envelope: how one block of file data becomes one immutable stored object.

:class:`BlockCodec` ``seal`` compresses the block (:mod:`.compress`, kept only if it
shrinks) and encrypts it with AES-256-GCM under the filespace data key.  Two envelope
versions exist (``docs/format.md`` is the reference); every client opens both, and a
codec seals the version its filespace's format allows (``envelope_version``).

Version 2 (format 2 filespaces, the default) is *framed*, so a small read can fetch and
authenticate only the 64 KiB frames it touches::

    offset  size  field
         0     4  magic            b"CFSB"
         4     1  envelope version 0x02
         5     1  flags            bit 0 = payload is one zstd frame; bits 1-7 must be 0
         6     1  frame shift      log2 of the plaintext frame size (16: 64 KiB)
         7     1  reserved         0
         8     …  frames           each: nonce (12) || AES-256-GCM ciphertext || tag (16)

Every frame but the last holds exactly ``1 << shift`` plaintext bytes; the last holds the
rest (1 to ``1 << shift``; an empty block is one empty frame).  A compressed block is one
frame holding the whole zstd payload.  Frame ``i``'s nonce is the block's random 96-bit
nonce with ``i`` XORed into its last 4 bytes, and its associated data is::

    header (bytes 0-7) || len(filespace_id) (1 byte) || filespace_id || block_id
        || i (4 bytes, big-endian) || 1 if it is the last frame else 0 (1 byte)

so frames cannot be moved within a block, between blocks or filespaces, and a block cut
short after a frame boundary fails (its new last frame was sealed as not last).  A
partial read (:meth:`BlockCodec.open_frames`) needs no header: it assumes the only header
a version-2 writer produces for an uncompressed block, which the tag then confirms.

Version 1 (format 1 filespaces) is one unframed message::

    CFSB | 0x01 | flags | nonce (12) | ciphertext | tag (16)

with associated data ``header (bytes 0-5) || len(filespace_id) || filespace_id || block_id``.

:func:`parse_header` checks a header *before* decryption only to give a precise message
(not a cloudfs block, unknown version, unknown flags, truncated, larger than a block);
anything it lets through is still authenticated by the tags.  ``open`` never returns a
byte it has not authenticated; inflation is bounded by the block size.

Versions: the filespace descriptor gates the format — a client too old for a filespace
refuses it with ``UnsupportedFormatError`` before reading any block — so a block whose
version this client does not know is treated as corrupt (``IntegrityError``), with a
message that names the other possibility, a newer writer.

Nonces: one random 96-bit value per sealed block; with frame indexes XORed in, the nonce
ranges of two blocks overlap with probability about ``2 * frames / 2^96`` per pair,
which keeps the NIST SP 800-38D bound (2^-32 over 2^32 blocks) in reach of a filespace's
life at 1 MiB blocks (4 PiB).

Cost: AES-GCM and zstd release the GIL, so worker threads seal and open in parallel.
Frames are encrypted straight into one output buffer (``encrypt_into``), which ``seal``
returns as is, and decrypted straight into the ``bytes`` that ``open`` returns
(``decrypt_into`` through :func:`cloudfs._buffers.filled_bytes`): no copy of the
plaintext on either side.  A :class:`BlockCodec` holds only an
immutable key (zstd contexts are per thread), so one instance serves all threads.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloudfs._buffers import filled_bytes
from cloudfs.codec._aead import NONCE_SIZE, TAG_SIZE, require_key
from cloudfs.codec.compress import compress, decompress
from cloudfs.errors import IntegrityError

__all__ = [
    "BLOCK_MAGIC",
    "BLOCK_OVERHEAD",
    "BLOCK_VERSION",
    "ENVELOPE_VERSIONS",
    "FLAG_COMPRESSED",
    "FRAME_OVERHEAD",
    "FRAME_SHIFT",
    "HEADER_SIZE",
    "HEADER_V2_SIZE",
    "NONCE_SIZE",
    "PREFIX_SIZE",
    "TAG_SIZE",
    "BlockCodec",
    "FrameRange",
    "block_ad_prefix",
    "frame_range",
    "framed_size",
    "header",
    "parse_header",
    "show_id",
]

BLOCK_MAGIC = b"CFSB"
BLOCK_VERSION = 2
"""The envelope version new filespaces write."""
ENVELOPE_VERSIONS = (1, 2)
"""The envelope versions this client opens."""
FLAG_COMPRESSED = 0x01
_KNOWN_FLAGS = FLAG_COMPRESSED

HEADER_SIZE = len(BLOCK_MAGIC) + 2
"""Version 1: magic, version and flags, the authenticated, unencrypted header."""
PREFIX_SIZE = HEADER_SIZE + NONCE_SIZE
"""Version 1: where the ciphertext starts."""
BLOCK_OVERHEAD = PREFIX_SIZE + TAG_SIZE
"""Bytes a version-1 block adds to its payload: 6 header + 12 nonce + 16 tag = 34."""

HEADER_V2_SIZE = 8
"""Version 2: magic, version, flags, frame shift, reserved."""
FRAME_SHIFT = 16
"""Version 2 frames hold 64 KiB of plaintext (the unit of a partial read)."""
FRAME_OVERHEAD = NONCE_SIZE + TAG_SIZE
"""Bytes each version-2 frame adds: 12 nonce + 16 tag = 28."""
_MIN_SHIFT, _MAX_SHIFT = 12, 26
_INDEX = struct.Struct(">IB")

_HEADERS = {flag: BLOCK_MAGIC + bytes([1, flag]) for flag in (0, FLAG_COMPRESSED)}


def header(compressed: bool, version: int = BLOCK_VERSION, shift: int = FRAME_SHIFT) -> bytes:
    """The header bytes of a block of ``version`` (6 bytes for 1, 8 for 2)."""
    flags = FLAG_COMPRESSED if compressed else 0
    if version == 1:
        return _HEADERS[flags]
    return BLOCK_MAGIC + bytes([2, flags, shift, 0])


def block_ad_prefix(filespace_id: bytes) -> bytes:
    """The filespace part of the associated data: its length (1 byte), then the id."""
    if not 0 < len(filespace_id) < 256:
        raise ValueError("filespace id must be 1-255 bytes")
    return bytes([len(filespace_id)]) + filespace_id


def framed_size(size: int, shift: int = FRAME_SHIFT) -> int:
    """The stored size of an uncompressed version-2 block of ``size`` plaintext bytes."""
    frames = max(1, -(-size >> shift))
    return HEADER_V2_SIZE + frames * FRAME_OVERHEAD + size


def _frame_count(stored: int, shift: int) -> int:
    """How many frames an uncompressed version-2 block of ``stored`` bytes has."""
    return max(1, -(-(stored - HEADER_V2_SIZE) // ((1 << shift) + FRAME_OVERHEAD)))


class FrameRange:
    """The stored bytes holding plaintext ``[start, end)`` of an uncompressed v2 block."""

    __slots__ = ("first", "frames", "last_frame", "plain_offset", "stored_end", "stored_start")

    def __init__(self, size: int, start: int, end: int, shift: int = FRAME_SHIFT) -> None:
        frame = 1 << shift
        self.first = start >> shift
        self.frames = max(1, -(-size >> shift))
        self.last_frame = min(self.frames, -(-max(end, start + 1) >> shift)) - 1
        self.plain_offset = self.first << shift
        self.stored_start = HEADER_V2_SIZE + self.first * (frame + FRAME_OVERHEAD)
        self.stored_end = min(
            HEADER_V2_SIZE + (self.last_frame + 1) * (frame + FRAME_OVERHEAD),
            framed_size(size, shift),
        )


def frame_range(size: int, start: int, end: int) -> FrameRange:
    """Which frames (and stored bytes) a read of plaintext ``[start, end)`` needs."""
    return FrameRange(size, start, end)


def parse_header(sealed: memoryview, block_id: bytes, max_size: int) -> tuple[bytes, bool]:
    """The header bytes and the compressed flag, after checking size, magic, version, flags.

    ``max_size`` bounds the payload: a larger object cannot be a block of this filespace.
    """
    if len(sealed) < HEADER_SIZE:
        _truncated(len(sealed), block_id, HEADER_SIZE)
    if bytes(sealed[:4]) != BLOCK_MAGIC:
        raise IntegrityError(f"object {show_id(block_id)} is not a cloudfs block (bad magic)")
    version, flags = sealed[4], sealed[5]
    if version not in ENVELOPE_VERSIONS:
        raise IntegrityError(
            f"block {show_id(block_id)} has envelope version {version}, but this cloudfs "
            f"reads versions {ENVELOPE_VERSIONS[0]}-{ENVELOPE_VERSIONS[-1]}: the object is "
            "corrupt or from a newer cloudfs"
        )
    if flags & ~_KNOWN_FLAGS:
        raise IntegrityError(f"block {show_id(block_id)} has unknown flags {flags:#04x}")
    if version == 1:
        overhead = BLOCK_OVERHEAD
    else:
        if len(sealed) < HEADER_V2_SIZE + FRAME_OVERHEAD:
            _truncated(len(sealed), block_id, HEADER_V2_SIZE + FRAME_OVERHEAD)
        shift = sealed[6]
        if not _MIN_SHIFT <= shift <= _MAX_SHIFT or sealed[7]:
            raise IntegrityError(f"block {show_id(block_id)} has a bad frame header")
        frames = 1 if flags & FLAG_COMPRESSED else _frame_count(len(sealed), shift)
        overhead = HEADER_V2_SIZE + frames * FRAME_OVERHEAD
    if len(sealed) < overhead:
        _truncated(len(sealed), block_id, overhead)
    if len(sealed) - overhead > max_size:
        raise IntegrityError(
            f"block {show_id(block_id)} holds {len(sealed) - overhead} bytes, "
            f"more than the {max_size}-byte block size"
        )
    size = HEADER_SIZE if version == 1 else HEADER_V2_SIZE
    return bytes(sealed[:size]), bool(flags & FLAG_COMPRESSED)


def _truncated(size: int, block_id: bytes, minimum: int) -> None:
    raise IntegrityError(
        f"block {show_id(block_id)} is truncated: {size} bytes, "
        f"less than its {minimum}-byte envelope"
    )


def show_id(block_id: bytes) -> str:
    """A short printable form of a block id for messages."""
    text = block_id.hex()
    return text if len(text) <= 32 else text[:32] + "…"


def _failed(block_id: bytes) -> IntegrityError:
    return IntegrityError(
        f"block {show_id(block_id)} failed authentication: tampered, "
        "truncated, stored under another id, or from another filespace"
    )


def _frame_nonce(base: bytes, index: int) -> bytes:
    tail = int.from_bytes(base[8:], "big") ^ index
    return base[:8] + tail.to_bytes(4, "big")


class BlockCodec:
    """Seals and opens the blocks of one filespace under its data key.

    ``envelope_version`` is what :meth:`seal` writes (1 for format-1 filespaces, whose
    older clients read nothing else); :meth:`open` reads every known version.
    """

    __slots__ = ("_aead", "_filespace_ad", "envelope_version")

    def __init__(
        self, data_key: bytes, filespace_id: bytes, *, envelope_version: int = BLOCK_VERSION
    ) -> None:
        require_key(data_key, 32, "data key")
        if envelope_version not in ENVELOPE_VERSIONS:
            raise ValueError(f"unknown block envelope version {envelope_version}")
        self._aead = AESGCM(data_key)
        self._filespace_ad = block_ad_prefix(filespace_id)
        self.envelope_version = envelope_version

    # -- sealing ---------------------------------------------------------------------
    def seal(self, block_id: bytes, plaintext: bytes | memoryview) -> bytes | bytearray:
        """The stored form of ``plaintext`` under ``block_id``, compressed if it shrinks
        (a version-2 block comes back as the ``bytearray`` it was encrypted into, not
        copied again: callers only store it).

        Each call draws a fresh nonce, so sealing the same block twice gives different
        bytes that both open to the same plaintext.
        """
        packed = compress(plaintext)
        if self.envelope_version == 1:
            return self._seal_v1(block_id, plaintext if packed is None else packed, packed)
        if packed is not None:
            return self._seal_frames(block_id, memoryview(packed), True, len(packed))
        return self._seal_frames(block_id, memoryview(plaintext).cast("B"), False, 1 << FRAME_SHIFT)

    def _seal_v1(self, block_id: bytes, payload: bytes | memoryview, packed: bytes | None) -> bytes:
        head = header(compressed=packed is not None, version=1)
        nonce = os.urandom(NONCE_SIZE)
        sealed = self._aead.encrypt(nonce, payload, head + self._filespace_ad + block_id)
        return head + nonce + sealed

    def _seal_frames(
        self, block_id: bytes, payload: memoryview, compressed: bool, frame: int
    ) -> bytearray:
        head = header(compressed)
        ad = head + self._filespace_ad + block_id
        count = max(1, -(-len(payload) // frame)) if frame else 1
        out = bytearray(HEADER_V2_SIZE + count * FRAME_OVERHEAD + len(payload))
        out[:HEADER_V2_SIZE] = head
        view = memoryview(out)
        base = os.urandom(NONCE_SIZE)
        pos = HEADER_V2_SIZE
        for i in range(count):
            chunk = payload[i * frame : (i + 1) * frame]
            nonce = _frame_nonce(base, i)
            view[pos : pos + NONCE_SIZE] = nonce
            pos += NONCE_SIZE
            end = pos + len(chunk) + TAG_SIZE
            self._aead.encrypt_into(
                nonce, chunk, ad + _INDEX.pack(i, i == count - 1), view[pos:end]
            )
            pos = end
        return out

    # -- opening ---------------------------------------------------------------------
    def open(self, block_id: bytes, sealed: bytes | memoryview, *, max_size: int) -> bytes:
        """The plaintext of a block sealed under ``block_id`` in this filespace.

        ``max_size`` is the filespace block size: larger objects, and frames declaring a
        larger output, are refused before anything is allocated.
        """
        view = memoryview(sealed)
        head, compressed = parse_header(view, block_id, max_size)
        if head[4] == 1:
            payload = self._open_v1(block_id, view, head)
        else:
            shift = head[6]
            count = 1 if compressed else _frame_count(len(view), shift)
            payload = self._open_frames(block_id, view[HEADER_V2_SIZE:], head, 0, count, count)
        return decompress(payload, max_size) if compressed else payload

    def _open_v1(self, block_id: bytes, view: memoryview, head: bytes) -> bytes:
        try:
            return self._aead.decrypt(
                view[HEADER_SIZE:PREFIX_SIZE],
                view[PREFIX_SIZE:],
                head + self._filespace_ad + block_id,
            )
        except InvalidTag:
            raise _failed(block_id) from None

    def open_frames(self, block_id: bytes, stored: memoryview | bytes, frames: FrameRange) -> bytes:
        """The plaintext of the frames ``frames`` names, from exactly their stored bytes.

        Only for uncompressed version-2 blocks of the default frame size (the caller
        knows one from its stored size, :func:`framed_size`); anything else fails
        authentication, and the caller falls back to :meth:`open` on the whole block.
        """
        view = memoryview(stored)
        if len(view) != frames.stored_end - frames.stored_start:
            raise IntegrityError(f"block {show_id(block_id)}: short range read")
        count = frames.last_frame - frames.first + 1
        return self._open_frames(block_id, view, header(False), frames.first, count, frames.frames)

    def _open_frames(
        self, block_id: bytes, view: memoryview, head: bytes, first: int, count: int, total: int
    ) -> bytes:
        """Decrypt ``count`` consecutive frames, the first being frame ``first`` of ``total``,
        straight into the ``bytes`` returned (no copy of the plaintext)."""
        plain = len(view) - count * FRAME_OVERHEAD
        if plain < 0:
            raise _failed(block_id)
        ad = head + self._filespace_ad + block_id
        frame = (len(view) // count) if count == 1 else (1 << head[6]) + FRAME_OVERHEAD

        def decrypt(target: memoryview) -> None:
            pos = written = 0
            for i in range(first, first + count):
                end = min(pos + frame, len(view))
                size = end - pos - FRAME_OVERHEAD
                if size < 0 or (i < first + count - 1 and end == len(view)):
                    raise _failed(block_id)
                self._aead.decrypt_into(
                    view[pos : pos + NONCE_SIZE],
                    view[pos + NONCE_SIZE : end],
                    ad + _INDEX.pack(i, i == total - 1),
                    target[written : written + size],
                )
                pos, written = end, written + size
            if pos != len(view):
                raise _failed(block_id)

        try:
            return filled_bytes(plain, decrypt)
        except InvalidTag:
            raise _failed(block_id) from None
