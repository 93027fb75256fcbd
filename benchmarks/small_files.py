"""Small files through the SDK: time, CPU, context switches and thread hand-offs per file.

Creates ``--files`` files of ``--size`` bytes one after another in one folder of a fresh
filespace on the embedded local store (``fs.open(path, "wb")``, write, close), then
``sync_all`` (every file uploaded and committed), and prints per file: wall time, CPU
time, voluntary and involuntary context switches (``getrusage``), and the hand-offs from
the event loop to another thread, counted by wrapping ``DedicatedThread.call`` (the
threads that own the metadata engine, the journal and the cache index) and
``run_in_executor`` (worker threads), by what was handed off.  On these 2-core machines
each hand-off costs futex wake-ups and GIL hand-overs both ways, which is where a small
file's CPU goes (docs/benchmarks.md).

    uv run python benchmarks/small_files.py --files 300
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cloudfs import _thread

PASSPHRASE = "benchmark passphrase"
_counts: collections.Counter[str] = collections.Counter()


def _name(fn: Callable[..., Any]) -> str:
    """What a hand-off runs: the function under any ``partial``, without addresses."""
    while isinstance(fn, functools.partial):  # partial(ctx.run, f) or partial(run, f): f
        fn = fn.args[0] if fn.args and callable(fn.args[0]) else fn.func
    return getattr(fn, "__qualname__", type(fn).__name__)


def _count_hand_offs() -> None:
    call = _thread.DedicatedThread.call
    run_in_executor = asyncio.BaseEventLoop.run_in_executor

    async def counted_call(self: _thread.DedicatedThread, fn: Callable[[], Any]) -> Any:
        _counts[f"thread: {_name(fn)}"] += 1
        return await call(self, fn)

    def counted_executor(self: Any, executor: Any, fn: Callable[..., Any], *args: Any) -> Any:
        _counts[f"worker: {_name(fn)}"] += 1
        return run_in_executor(self, executor, fn, *args)

    _thread.DedicatedThread.call = counted_call  # type: ignore[method-assign]
    asyncio.BaseEventLoop.run_in_executor = counted_executor  # type: ignore[method-assign]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=300)
    p.add_argument("--size", type=int, default=4096, help="bytes per file")
    args = p.parse_args()
    _count_hand_offs()
    with tempfile.TemporaryDirectory(prefix="cfs-small-") as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, work: Path) -> None:
    """The files in a fresh filespace under ``work``, and the report."""
    import cloudfs
    from cloudfs.codec.keys import KdfParams
    from cloudfs.workspace.filespace import create_filespace
    from cloudfs.workspace.registry import Registry

    registry = Registry(work / "home")
    asyncio.run(create_filespace(registry, "bench", PASSPHRASE, kdf=KdfParams.for_tests()))
    client = cloudfs.Client(
        storage=cloudfs.StorageConfig(mode=cloudfs.StorageMode.PHYSICAL, root_path=work / "st"),
        config=cloudfs.ClientConfig(home=work / "home", passphrase=PASSPHRASE),
    )
    with client:
        workspace = client.get_workspace(client.list_workspaces()[0].id)
        filespace = workspace.link_filespace(name="bench")
        fs = filespace.fs
        fs.create_dir("/many")
        payload = bytearray(os.urandom(args.size))
        _counts.clear()
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        for i in range(args.files):
            payload[:8] = i.to_bytes(8, "big")
            with fs.open(f"/many/f{i:06}", "wb") as f:
                f.write(payload)
        filespace.sync_all()
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
    n = args.files
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(f"{n} files of {args.size} bytes, until committed:")
    print(f"  wall {seconds / n * 1e3:.2f} ms/file, CPU {cpu / n * 1e3:.2f} ms/file")
    print(
        f"  context switches {(after.ru_nvcsw - before.ru_nvcsw) / n:.0f} voluntary, "
        f"{(after.ru_nivcsw - before.ru_nivcsw) / n:.0f} involuntary per file"
    )
    print(f"  hand-offs {sum(_counts.values()) / n:.1f} per file:")
    for what, count in _counts.most_common():
        if count >= n / 10:
            print(f"    {count / n:5.2f}  {what}")


if __name__ == "__main__":
    main()
