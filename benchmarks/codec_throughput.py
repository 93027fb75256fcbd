"""Seal/open throughput of cloudfs.codec on 4 MiB blocks, plus passphrase unlock time.

Usage::

    uv run python benchmarks/codec_throughput.py [--block-mib 4] [--seconds 2] [--threads 1 2]

Prints MB/s of *plaintext* (1 MB = 10^6 bytes) for each data kind, operation and thread
count, and the stored/plain size ratio.  Data kinds:

* ``random``: incompressible (zstd is tried, refused, the block is stored raw);
* ``text``: this interpreter's standard-library Python sources (compressible ~4x);
* ``zeros``: a sparse-file-like block (compresses to almost nothing);
* ``slight``: random bytes with every 25th 64-byte run zeroed, so zstd saves ~4 % (like
  fio's default write buffers): since ADR 14 three samples refuse it and it is stored raw.

With N threads, N workers share one BlockCodec (as the upload queue and read path do);
scaling with N shows that AES-GCM and zstd release the GIL.
"""

from __future__ import annotations

import argparse
import os
import sysconfig
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from cloudfs.codec import BlockCodec, KdfParams, make_passphrase_slot, unwrap_slot

MB = 1_000_000


def text_block(size: int) -> bytes:
    """``size`` bytes of real Python source from the standard library."""
    out = bytearray()
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        out += path.read_bytes()
        if len(out) >= size:
            return bytes(out[:size])
    raise RuntimeError("standard library too small for one block")


def slight_block(size: int) -> bytes:
    data = bytearray(os.urandom(size))
    for start in range(0, size, 64 * 25):
        data[start : start + 64] = bytes(64)
    return bytes(data)


def rate(fn: Callable[[], object], nbytes: int, seconds: float, threads: int) -> float:
    """Plaintext MB/s of ``fn`` run back to back by ``threads`` workers for ``seconds``."""

    def worker() -> int:
        fn()  # warm the thread's zstd context
        done, deadline = 0, time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            fn()
            done += 1
        return done

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: worker(), range(threads)))
    return total * nbytes / (time.perf_counter() - start) / MB


def bench_blocks(block: int, seconds: float, thread_counts: list[int]) -> None:
    codec = BlockCodec(os.urandom(32), os.urandom(16))
    kinds = {
        "random": os.urandom(block),
        "text": text_block(block),
        "zeros": bytes(block),
        "slight": slight_block(block),
    }
    print(f"block size {block // 1024} KiB, {os.cpu_count()} CPUs, {seconds:g} s per figure")
    print(f"{'data':8} {'stored/plain':>12} {'threads':>7} {'seal MB/s':>10} {'open MB/s':>10}")
    for name, data in kinds.items():
        sealed = codec.seal(b"block-id", data)
        assert codec.open(b"block-id", sealed, max_size=block) == data
        ratio = len(sealed) / len(data)
        do_seal = partial(codec.seal, b"block-id", data)
        do_open = partial(codec.open, b"block-id", sealed, max_size=block)
        for n in thread_counts:
            seal = rate(do_seal, block, seconds, n)
            opened = rate(do_open, block, seconds, n)
            print(f"{name:8} {ratio:12.3f} {n:7d} {seal:10.0f} {opened:10.0f}")


def bench_unlock() -> None:
    params = KdfParams.standard()
    master, fsid = os.urandom(32), os.urandom(16)
    slot = make_passphrase_slot(master, "benchmark passphrase", fsid, "bench", params)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        unwrap_slot(slot, "benchmark passphrase", fsid)
        times.append(time.perf_counter() - start)
    print(
        f"passphrase unlock, Argon2id {params.memory_kib // 1024} MiB / t={params.iterations}"
        f" / p={params.lanes}: min {min(times):.3f} s, max {max(times):.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--block-mib", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    bench_blocks(args.block_mib * 1024 * 1024, args.seconds, args.threads)
    bench_unlock()


if __name__ == "__main__":
    main()
