"""What writing and reading 1 MiB cache files costs on this machine, in CPU and wall time.

The figures behind ADR 11 (cache files bypass the page cache) and the issue-3 notes in
docs/benchmarks.md.  Each case writes or reads ``--count`` files of 1 MiB in a scratch
folder (default: a temporary folder under the current directory, so on the disk the
cache would use) and prints CPU ms and wall ms per MiB:

* ``buffered, new memory``: plain writes that grow the page cache;
* ``buffered, reused memory``: the same right after deleting the first files, so the
  kernel hands back pages it freed moments ago;
* ``buffered, after IDLE s``: the same after ``--idle`` seconds (on VMs whose hypervisor
  takes idle guest memory back, the cost of new memory returns);
* ``O_DIRECT write`` / ``O_DIRECT read``: through a page-aligned buffer, as
  ``cloudfs.cache._files`` does;
* ``buffered read, cold``: after ``echo 1 > /proc/sys/vm/drop_caches`` (root only; skipped
  otherwise);
* ``O_DIRECT new files, after deletes`` / ``O_DIRECT slab slots``: the disk cache filling
  up after it was cleared (or while it evicts), one new file per block as block files do,
  against ``pwrite`` into slots of one open slab file as ``cloudfs.cache._slabs`` does
  (ADR 13: on ext4 without a journal, creating inodes near recently deleted ones is slow).

    uv run python benchmarks/local_io.py --count 300 --idle 45
"""

from __future__ import annotations

import argparse
import mmap
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

MIB = 1 << 20


def _case(name: str, count: int, work: Callable[[int], None]) -> None:
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(count):
        work(i)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{name:32s} cpu {1000 * cpu / count:6.2f} ms/MiB   wall {1000 * wall / count:6.2f}")


def _write_buffered(folder: Path, data: bytes) -> Callable[[int], None]:
    folder.mkdir()

    def work(i: int) -> None:
        with open(folder / str(i), "wb") as f:
            f.write(data)

    return work


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=300, help="files of 1 MiB per case")
    p.add_argument("--idle", type=float, default=0, help="also rewrite after this many s")
    p.add_argument("--dir", type=Path, default=Path.cwd(), help="where the scratch folder goes")
    args = p.parse_args()
    data = os.urandom(MIB)
    aligned = mmap.mmap(-1, MIB)
    aligned.write(data)
    root = Path(tempfile.mkdtemp(prefix="cfs-local-io-", dir=args.dir))
    try:
        _case("buffered, new memory", args.count, _write_buffered(root / "a", data))
        shutil.rmtree(root / "a")
        _case("buffered, reused memory", args.count, _write_buffered(root / "b", data))
        if args.idle:
            shutil.rmtree(root / "b")
            time.sleep(args.idle)
            _case(f"buffered, after {args.idle:g} s", args.count, _write_buffered(root / "c", data))
        direct = root / "d"
        direct.mkdir()

        def write_direct(i: int) -> None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_DIRECT
            fd = os.open(direct / str(i), flags, 0o600)
            try:
                os.write(fd, memoryview(aligned))
            finally:
                os.close(fd)

        def read_direct(i: int) -> None:
            fd = os.open(direct / str(i), os.O_RDONLY | os.O_DIRECT)
            try:
                os.preadv(fd, [memoryview(aligned)], 0)
            finally:
                os.close(fd)

        def read_buffered(i: int) -> None:
            with open(direct / str(i), "rb") as f:
                f.read()

        _case("O_DIRECT write", args.count, write_direct)
        _case("O_DIRECT read", args.count, read_direct)
        try:
            Path("/proc/sys/vm/drop_caches").write_text("1\n")
        except OSError:
            print("buffered read, cold               skipped (needs root)")
        else:
            _case("buffered read, cold", args.count, read_buffered)
        _case("buffered read, page cache", args.count, read_buffered)
        shutil.rmtree(direct)  # a cache cleared (or evicting): recently deleted inodes
        direct.mkdir()
        _case("O_DIRECT new files, after deletes", args.count, write_direct)
        slab = os.open(root / "slab", os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o600)
        try:
            _case(
                "O_DIRECT slab slots",
                args.count,
                lambda i: os.pwritev(slab, [memoryview(aligned)], i * MIB) and None,
            )
        finally:
            os.close(slab)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
