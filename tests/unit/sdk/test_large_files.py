"""read_file/write_file of a large file through a multi-block filespace, in bounded memory."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import cloudfs
from tests.unit.sdk.conftest import PASSPHRASE

SIZE = 50 * 1024 * 1024


def _data() -> bytes:
    seed = hashlib.sha256(b"seed").digest()
    block = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(32768))
    return (block * (SIZE // len(block) + 1))[:SIZE]  # 1 MiB pattern, not compressible per block


def test_write_file_and_read_file_50mb(fs: cloudfs.Filesystem) -> None:
    data = _data()
    digest = hashlib.sha256(data).digest()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fs.write_file("/big.bin", data)
        write_peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert write_peak < SIZE, f"write_file peaked at {write_peak / SIZE:.2f}x the data"
    assert fs.get_entry("/big.bin").size == SIZE
    del data
    got = fs.read_file("/big.bin")
    assert len(got) == SIZE
    assert hashlib.sha256(got).digest() == digest
    stats = fs.get_statistics()
    assert stats.data_size == SIZE


def test_streamed_copy_50mb_in_bounded_memory(home: Path) -> None:
    config = cloudfs.ClientConfig(home=home, passphrase=PASSPHRASE, fs_cache_size_mb=8)
    with cloudfs.Client(config=config) as client:
        ws = client.get_workspace(client.list_workspaces()[0].id)
        with ws.link_filespace(name="other") as fsp:
            _streamed_copy(fsp.fs)


def _streamed_copy(fs: cloudfs.Filesystem) -> None:
    data = _data()
    fs.write_file("/src.bin", data)
    digest = hashlib.sha256(data).hexdigest()
    del data
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        hasher = hashlib.sha256()
        with fs.open("/src.bin", "rb") as src, fs.open("/dst.bin", "wb") as dst:
            while chunk := src.read(1 << 20):
                hasher.update(chunk)
                dst.write(chunk)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert hasher.hexdigest() == digest
    # the block cache (fs_cache_size_mb=8) and the write buffers bound it, not the file size
    assert peak < SIZE // 2, f"a streamed copy peaked at {peak / SIZE:.2f}x the file"
    assert fs.get_entry("/dst.bin").size == SIZE
