"""Write then read a large file through the SDK, beside raw obstore PUT/GET of the same bytes.

The SDK phases use a persistent client state folder (write-back cache): ``sdk-write`` is
timed until the data is durable in the store (``close`` then ``sync_all``); ``sdk-read``
and ``sdk-random`` start with an empty cache (cold); ``sdk-warm`` re-reads from the disk
cache a new process finds (memory cache empty), and ``sdk-cached`` makes the random reads
there (with ``--random-reads``).

Each phase runs in its own child process, so its peak RSS and CPU time are its own:

* ``raw-put`` / ``raw-get``: obstore puts (then gets) the same bytes as block-sized objects,
  with the same concurrency cloudfs uses: the ceiling for this store on this machine;
* ``sdk-write`` / ``sdk-read``: a filespace on the same store; ``write`` streams the file
  through ``fs.open(..., "wb")`` until ``close`` (committed: every block is in the store);
  ``read`` streams it back through a fresh client (no warm memory cache);
* ``raw-disk``: reads the files of the disk cache that ``sdk-warm`` read, in 4 MiB
  ``O_DIRECT`` requests with the same concurrency, without decrypting: the ceiling this
  machine's disk puts on a warm re-read.

Prints MB/s, CPU-seconds per GiB and peak RSS per phase, and the SDK/raw ratios.  MB/s
is over the operation alone (raw: the requests; SDK: open to close, plus ``sync_all`` for
the write), so opening the store or the client is not counted against either side; the
``setup s`` column shows what that took (client start and stop: opening the filespace,
the cache and the journal; closing waits for background cache inserts).  CPU-s/GiB
counts the whole child process, setup included.

    uv run python benchmarks/sdk_throughput.py --backend local --size-mib 1024
    uv run python benchmarks/sdk_throughput.py --backend ceph --size-mib 1024   # starts Ceph
    uv run python benchmarks/sdk_throughput.py --backend s3 --endpoint URL --bucket B \\
        --access-key K --secret-key S
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 4 * 1024 * 1024
PASSPHRASE = "benchmark passphrase"
PHASES = (
    "raw-put",
    "raw-get",
    "raw-random",
    "sdk-write",
    "sdk-read",
    "sdk-warm",
    "raw-disk",
    "sdk-cached",
    "sdk-random",
)


def _data_chunks(total: int, chunk: int = CHUNK):  # type: ignore[no-untyped-def]
    """Incompressible bytes, generated piecewise (no GiB-sized buffer in memory)."""
    base = bytearray(os.urandom(chunk))
    for offset in range(0, total, chunk):
        base[:8] = offset.to_bytes(8, "big")  # every chunk differs
        yield memoryview(base)[: min(chunk, total - offset)]


def _usage() -> tuple[float, int]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss * 1024


def _store_config(args: argparse.Namespace, prefix: str) -> Any:
    from cloudfs.store.config import LocalStoreConfig, S3StoreConfig

    if args.backend == "local":
        return LocalStoreConfig(root=Path(args.workdir) / "objects", prefix=prefix)
    return S3StoreConfig(
        bucket=args.bucket,
        endpoint=args.endpoint,
        region="us-east-1",
        access_key=args.access_key,
        secret_key=args.secret_key,
        prefix=prefix,
    )


# -- phases (run in child processes) ----------------------------------------------------
async def _raw(args: argparse.Namespace, op: str) -> None:
    from cloudfs.store.obstore_backend import open_store

    store = open_store(_store_config(args, "raw"))
    sem = asyncio.Semaphore(args.concurrency)
    _WINDOW.append(time.perf_counter())

    async def put(i: int, data: bytes) -> None:
        async with sem:
            await store.put(f"obj/{i:08}", data)

    async def get(i: int) -> None:
        async with sem:
            await store.get(f"obj/{i:08}")

    if op == "random":
        await _raw_random(args, store)
        await store.close()
        return
    tasks: set[asyncio.Task[None]] = set()
    for i, chunk in enumerate(_data_chunks(args.size, args.block_size)):
        if op == "put":
            data = bytes(chunk)
            tasks.add(asyncio.create_task(put(i, data)))
        else:
            tasks.add(asyncio.create_task(get(i)))
        if len(tasks) >= args.concurrency * 2:
            _done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in _done:
                t.result()
    for t in tasks:
        await t
    _WINDOW.append(time.perf_counter())
    await store.close()


def _raw_disk(args: argparse.Namespace) -> None:
    """Every file of the client's disk cache, read whole in 4 MiB requests by
    ``--concurrency`` threads, in file order (as the read-ahead of a warm re-read asks),
    through the cache's own ``DirectIO`` (``O_DIRECT`` where the file system takes it,
    a page-aligned buffer per thread)."""
    from concurrent.futures import ThreadPoolExecutor

    from cloudfs.cache._files import DirectIO

    caches = list((Path(args.workdir) / "state").glob("filespaces/*/cache"))
    paths = [p for c in caches for p in [*c.glob("slabs/*.slab"), *c.glob("blocks/*/*")]]
    direct = DirectIO()
    fds = [direct.open(path, os.O_RDONLY) for path in paths]
    jobs = [(fd, at) for fd in fds for at in range(0, os.fstat(fd).st_size, CHUNK)]

    def read(job: tuple[int, int]) -> int:
        return direct.read_with(job[0], job[1], CHUNK, len)

    try:
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(read, jobs[:1]))  # start the threads outside the window
            _WINDOW.append(time.perf_counter())
            done = sum(pool.map(read, jobs))
            _WINDOW.append(time.perf_counter())
    finally:
        for fd in fds:
            os.close(fd)
    if done < args.size:
        sys.exit(f"raw-disk: the disk cache holds {done} bytes, less than the file")


def _offsets(args: argparse.Namespace) -> list[int]:
    import random

    rng = random.Random(42)
    return [rng.randrange(0, args.size - 4096) for _ in range(args.random_reads)]


async def _raw_random(args: argparse.Namespace, store: Any) -> None:
    """4 KiB ranged GETs, one at a time: the latency floor of this store."""
    latencies = []
    for offset in _offsets(args):
        index, within = divmod(offset, args.block_size)
        start = time.perf_counter()
        await store.get_range(f"obj/{index:08}", within, 4096)
        latencies.append(time.perf_counter() - start)
    _LATENCIES.extend(latencies)


_LATENCIES: list[float] = []
_WINDOW: list[float] = []  # when the timed operation started and ended


def _client(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    import cloudfs

    config = cloudfs.ClientConfig(home=Path(args.workdir) / "home", passphrase=PASSPHRASE)
    storage = cloudfs.StorageConfig(
        mode=cloudfs.StorageMode.PHYSICAL, root_path=Path(args.workdir) / "state"
    )
    client = cloudfs.Client(storage=storage, config=config)
    workspace = client.get_workspace(client.list_workspaces()[0].id)
    return client, workspace.link_filespace(name="bench")


def _sdk(args: argparse.Namespace, op: str) -> None:
    client, filespace = _client(args)
    with client:
        fs = filespace.fs
        _WINDOW.append(time.perf_counter())
        if op == "write":  # until durable in the store: close journals, sync_all uploads
            with fs.open("/big.bin", "wb", buffering=0) as f:
                for chunk in _data_chunks(args.size):
                    f.write(chunk)
            filespace.sync_all()
        elif op in ("read", "warm"):
            buf = bytearray(CHUNK)
            with fs.open("/big.bin", "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass
        else:  # random 4 KiB reads, one job: from the disk cache (cached) or cold (random)
            with fs.open("/big.bin", "rb", buffering=0) as f:
                for offset in _offsets(args):
                    start = time.perf_counter()
                    f.pread(4096, offset)
                    _LATENCIES.append(time.perf_counter() - start)
        _WINDOW.append(time.perf_counter())


def _create_filespace(args: argparse.Namespace) -> None:
    from cloudfs.codec.keys import KdfParams
    from cloudfs.workspace.filespace import create_filespace
    from cloudfs.workspace.registry import Registry

    registry = Registry(Path(args.workdir) / "home")
    prefix = f"fs-{uuid.uuid4().hex[:8]}"
    (Path(args.workdir) / "prefix").write_text(prefix)
    store = _store_config(args, prefix)
    asyncio.run(
        create_filespace(
            registry,
            "bench",
            PASSPHRASE,
            store=store,
            block_size=args.block_size,
            kdf=KdfParams.for_tests(),
        )
    )


def run_phase(args: argparse.Namespace) -> None:
    if args.keep_freed_memory:
        from cloudfs.tuning import keep_freed_memory

        keep_freed_memory()
    if args.phase in ("sdk-read", "sdk-random"):  # cold: no local cache
        shutil.rmtree(Path(args.workdir) / "state", ignore_errors=True)
    cpu0, _ = _usage()
    start = time.perf_counter()
    kind, op = args.phase.split("-")
    if args.phase == "raw-disk":
        _raw_disk(args)
    elif kind == "raw":
        asyncio.run(_raw(args, op))
    else:
        _sdk(args, op)
    total = time.perf_counter() - start
    cpu1, rss = _usage()
    seconds = _WINDOW[1] - _WINDOW[0] if len(_WINDOW) == 2 else total
    result = {
        "phase": args.phase,
        "seconds": seconds,
        "setup": total - seconds,
        "cpu": cpu1 - cpu0,
        "rss": rss,
    }
    if _LATENCIES:
        ordered = sorted(_LATENCIES)
        result.update(
            iops=len(ordered) / sum(ordered),
            p50=ordered[len(ordered) // 2],
            p99=ordered[int(len(ordered) * 0.99)],
        )
    print(json.dumps(result))


# -- driver ----------------------------------------------------------------------------
def _child_argv(args: argparse.Namespace, phase: str) -> list[str]:
    argv = [
        sys.executable,
        __file__,
        "--phase",
        phase,
        "--workdir",
        args.workdir,
        "--size-mib",
        str(args.size // 2**20),
        "--block-size",
        str(args.block_size),
        "--backend",
        args.backend,
        "--concurrency",
        str(args.concurrency),
        "--random-reads",
        str(args.random_reads),
    ]
    if args.keep_freed_memory:
        argv.append("--keep-freed-memory")
    if args.backend != "local":
        argv += [
            "--endpoint",
            args.endpoint,
            "--bucket",
            args.bucket,
            "--access-key",
            args.access_key,
            "--secret-key",
            args.secret_key,
        ]
    return argv


def _child(args: argparse.Namespace, phase: str) -> dict[str, Any]:
    argv = _child_argv(args, phase)
    done = subprocess.run(argv, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"phase {phase} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    out = done.stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    gib = args.size / 2**30
    print(
        f"\nbackend={args.backend} size={args.size // 2**20} MiB "
        f"block={args.block_size // 1024} KiB concurrency={args.concurrency}"
        + (" keep-freed-memory" if args.keep_freed_memory else "")
    )
    print(f"{'phase':<10} {'MB/s':>8} {'CPU-s/GiB':>10} {'peak RSS MB':>12} {'setup s':>8}")
    for phase, r in results.items():
        if "iops" in r:
            where = "from the disk cache" if phase == "sdk-cached" else "cold"
            print(
                f"{phase:<10} {r['iops']:>8.0f} IOPS  p50 {r['p50'] * 1e3:.1f} ms  "
                f"p99 {r['p99'] * 1e3:.1f} ms  (4 KiB, one job, {where})"
            )
            continue
        mbps = args.size / r["seconds"] / 1e6
        print(
            f"{phase:<10} {mbps:>8.1f} {r['cpu'] / gib:>10.2f} {r['rss'] / 1e6:>12.1f}"
            f" {r['setup']:>8.2f}"
        )
    for sdk, raw in (
        ("sdk-write", "raw-put"),
        ("sdk-read", "raw-get"),
        ("sdk-warm", "sdk-read"),
        ("sdk-warm", "raw-disk"),
    ):
        ratio = results[raw]["seconds"] / results[sdk]["seconds"]
        print(f"{sdk} / {raw}: {ratio:.2f}x")
    # A warm re-read cannot beat the disk it reads, so "warm >= 3x cold" together with
    # "cold >= 0.8x raw GET" needs a disk at least 2.4x as fast as the store's raw GET.
    disk = results["raw-get"]["seconds"] / results["raw-disk"]["seconds"]
    print(
        f"raw-disk / raw-get: {disk:.2f}x (warm >= 3x cold with cold >= 0.8x raw GET "
        f"needs >= 2.4x: {'possible' if disk >= 2.4 else 'not possible'} on this machine)"
    )


def _start_ceph(args: argparse.Namespace) -> Path:
    base = Path(tempfile.mkdtemp(prefix="cfs-bench-ceph-"))
    out = subprocess.run(
        [str(ROOT / "scripts" / "ceph-rgw-up"), str(base), "0", "0", "12"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    fields = dict(f.split("=", 1) for f in out.strip().splitlines()[-1].split())
    args.endpoint, args.access_key = fields["endpoint"], fields["access_key"]
    args.secret_key, args.bucket = fields["secret_key"], "bench"
    import boto3

    boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        region_name="us-east-1",
    ).create_bucket(Bucket=args.bucket)
    return base


def _clean(args: argparse.Namespace) -> None:
    """Delete what the run stored (the filespace's objects and the raw ones), so repeated
    runs do not fill the store (a radosgw slows down long before its OSD is full)."""
    from cloudfs.store.obstore_backend import open_store

    marker = Path(args.workdir) / "prefix"
    prefixes = ["raw"] + ([marker.read_text()] if marker.exists() else [])

    async def clean(prefix: str) -> None:
        store = open_store(_store_config(args, prefix))
        keys = [meta.key async for meta in store.list()]
        sem = asyncio.Semaphore(16)

        async def delete(key: str) -> None:
            async with sem:
                await store.delete(key)

        await asyncio.gather(*(delete(key) for key in keys))
        await store.close()

    for prefix in prefixes:
        asyncio.run(clean(prefix))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["local", "s3", "ceph"], default="local")
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--block-size", type=int, default=0, help="bytes (default: cloudfs's)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument(
        "--random-reads", type=int, default=0, help="also time this many random 4 KiB reads (cold)"
    )
    p.add_argument("--endpoint", default="")
    p.add_argument("--bucket", default="")
    p.add_argument("--access-key", default="")
    p.add_argument("--secret-key", default="")
    p.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="call cloudfs.tuning.keep_freed_memory() in every phase, raw ones included (what the "
        "cloudfs command does)",
    )
    p.add_argument("--workdir", default="")
    p.add_argument("--phase", default="")
    args = p.parse_args()
    args.size = args.size_mib * 2**20
    if not args.block_size:
        from cloudfs.workspace.filespace import DEFAULT_BLOCK_SIZE

        args.block_size = DEFAULT_BLOCK_SIZE
    if args.phase:
        if args.phase == "create":
            _create_filespace(args)
        elif args.phase == "clean":
            _clean(args)
        else:
            run_phase(args)
        return
    ceph = _start_ceph(args) if args.backend == "ceph" else None
    if ceph is not None:
        args.backend = "s3"
    args.workdir = tempfile.mkdtemp(prefix="cfs-bench-")
    try:
        subprocess.run(_child_argv(args, "create"), check=True)
        results = {
            phase: _child(args, phase)
            for phase in PHASES
            if args.random_reads or phase not in ("raw-random", "sdk-random", "sdk-cached")
        }
        _report(args, results)
    finally:
        if args.backend == "s3" and ceph is None:  # a radosgw that outlives the run
            subprocess.run(_child_argv(args, "clean"), check=False)
        shutil.rmtree(args.workdir, ignore_errors=True)
        if ceph is not None:
            subprocess.run(
                [str(ROOT / "scripts" / "ceph-rgw-down"), str(ceph), "--wipe"], check=False
            )
            shutil.rmtree(ceph, ignore_errors=True)


if __name__ == "__main__":
    main()
