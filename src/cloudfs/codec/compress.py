"""Block compression: zstd, skipped when it does not pay, bounded on the way back.

Mechanism
---------
:func:`compress` runs zstd at :data:`ZSTD_LEVEL` and returns the frame only when it
saves at least :data:`MIN_SAVING` (1/8) of the input, as ZFS does; otherwise it returns
``None`` and the caller stores the block raw (the envelope's *compressed* flag records
which).  A block that barely compresses is better raw: it costs CPU to pack and unpack
for a few percent of bytes, and only raw blocks can be read in part (64 KiB frames).
Before a large block is compressed, three 16 KiB samples (start, middle, end) are, each
on its own: if they do not save 1/8 together, the block is stored raw without trying the
rest.  Truly random data is cheap to try either way (zstd emits raw blocks at several
GB/s), but data that is only slightly compressible is not: fio's default buffers, which
zstd shrinks by 4 %, cost 1.1 ms of CPU per MiB to compress in full, 0.05 ms to sample.

Frames always carry their content size, which :func:`decompress` reads from the frame
header *before* allocating anything.  A frame whose declared size is unknown, larger than
the caller's ``max_size`` (the filespace block size), or different from what it actually
decodes to is refused with :class:`~cloudfs.errors.IntegrityError`, so a decompression
bomb can never allocate more than one block.  (python-zstandard would otherwise trust the
header and allocate whatever it declares, ignoring ``max_output_size``.)

Level choice (measured on this 2-core machine, 4 MiB blocks, zstandard 0.25)::

    data               level  ratio  compress MB/s  decompress MB/s
    Python sources       1    0.262       265             885
                         2    0.253       230             752
                         3    0.238       191             808
    native .so           1    0.362       474            1318
                         3    0.342       288            1064
    random               1    1.000      4700               —

Level 3 saves 5–9 % more bytes for 40–65 % more CPU.  Compression is the most expensive
step of the write path and shares two cores with the uploads, so level 1 wins.

Threading: zstandard's compressor and decompressor objects are not thread-safe, so each
thread gets its own pair through a ``threading.local`` (created on first use and reused,
which avoids re-allocating zstd's context per block).  Both calls release the GIL.
"""

from __future__ import annotations

import threading

import zstandard

from cloudfs.errors import IntegrityError

__all__ = ["MIN_SAVING", "ZSTD_LEVEL", "compress", "decompress"]

ZSTD_LEVEL = 1
"""zstd level for blocks; see the module docstring for the measurement behind it."""

MIN_SAVING = 1 / 8
"""A block is stored compressed only if that saves at least this fraction of it."""

_SAMPLE = 16 * 1024  # bytes per sample; three of them decide whether a large block is tried


class _PerThread(threading.local):
    """One compressor and one decompressor per thread (zstd contexts are not shareable)."""

    def __init__(self) -> None:
        # No zstd checksum: the AEAD tag around every block already authenticates it.
        self.compressor = zstandard.ZstdCompressor(
            level=ZSTD_LEVEL, write_checksum=False, write_content_size=True, write_dict_id=False
        )
        self.decompressor = zstandard.ZstdDecompressor()


_local = _PerThread()


def compress(data: bytes | memoryview) -> bytes | None:
    """The zstd frame of ``data`` if it saves at least :data:`MIN_SAVING`, else ``None``."""
    size = len(data)
    if size >= 16 * _SAMPLE and not _worth_trying(memoryview(data).cast("B")):
        return None
    frame: bytes = _local.compressor.compress(data)
    return frame if len(frame) <= size - size * MIN_SAVING else None


def _worth_trying(view: memoryview) -> bool:
    """Whether samples from the start, middle and end of a large block save 1/8.

    Each sample is compressed on its own: compressed together, zstd would match one
    against another, and a block whose content repeats at a distance longer than zstd's
    window (fio rewriting one 1 MiB buffer into 4 MiB blocks) would pass, then fail to
    compress at all.
    """
    middle = (len(view) - _SAMPLE) // 2
    starts = (0, middle, len(view) - _SAMPLE)
    packed = sum(len(_local.compressor.compress(view[at : at + _SAMPLE])) for at in starts)
    return packed <= 3 * _SAMPLE * (1 - MIN_SAVING)


def decompress(frame: bytes | memoryview, max_size: int) -> bytes:
    """Decode one zstd frame that must expand to at most ``max_size`` bytes.

    Raises :class:`IntegrityError` for anything but a single well-formed frame whose
    declared content size is known, within ``max_size`` and matches its decoded length.
    """
    size = _declared_size(frame)
    if size > max_size:
        raise IntegrityError(
            f"compressed block declares {size} bytes, more than the {max_size}-byte limit"
        )
    try:
        out: bytes = _local.decompressor.decompress(
            frame, max_output_size=max(size, 1), allow_extra_data=False
        )
    except zstandard.ZstdError as e:
        raise IntegrityError(f"compressed block is corrupt: {e}") from e
    if len(out) != size:
        raise IntegrityError(f"compressed block decoded to {len(out)} bytes, declared {size}")
    return out


def _declared_size(frame: bytes | memoryview) -> int:
    """The content size in the frame header; refuses frames that do not declare one."""
    try:
        size: int = zstandard.frame_content_size(frame)
    except zstandard.ZstdError as e:
        raise IntegrityError(f"compressed block has no valid zstd frame header: {e}") from e
    if size < 0:
        raise IntegrityError("compressed block does not declare its size; refusing to inflate")
    return size
