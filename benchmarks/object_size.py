"""PUT and GET the same GiB as objects of different sizes: what each size costs the store.

Why (docs/decisions/0016): Ceph's radosgw keeps an object's first 4 MiB in one RADOS
object and the rest in 4 MiB stripes, so an object a few bytes over 4 MiB costs two RADOS
objects.  This writes then reads ``--size-mib`` MiB as objects of each size (sealed cloudfs
blocks of 2 MiB, 4 MiB, 4,032 KiB and 16,320 KiB, and exactly 4 MiB as the raw baselines
store), with ``--concurrency`` requests in flight through obstore, and prints MB/s and the
CPU of the Ceph processes on this machine (``ceph-*`` and ``radosgw``, from ``/proc``)
per GiB for each phase: PUT, GET, and the ranged GET cloudfs uses for a whole block.
Sizes alternate within each round, over ``--rounds`` rounds, since the radosgw's speed
drifts; objects are deleted after each size.

    uv run python benchmarks/object_size.py --endpoint http://127.0.0.1:7480 \\
        --access-key cephak --secret-key cephsecret --rounds 4
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import boto3
import obstore
from _procs import cpu_seconds, pids
from obstore.store import S3Store

from cloudfs.codec.envelope import framed_size

MiB = 1024 * 1024
SIZES = {
    "2 MiB block": framed_size(2 * MiB),
    "4 MiB block": framed_size(4 * MiB),
    "4,032 KiB block": framed_size(4032 * 1024),
    "exactly 4 MiB": 4 * MiB,
    "16,320 KiB block": framed_size(16320 * 1024),
}


def ceph_cpu() -> float:
    """CPU-seconds used so far by the Ceph daemons on this machine."""
    return cpu_seconds(pids("ceph-", "radosgw"))


async def one_size(
    store: S3Store, prefix: str, size: int, total: int, concurrency: int
) -> dict[str, tuple[float, float]]:
    """(MB/s, Ceph CPU-s) for the PUT, the GET and the ranged GET phase (the
    whole object as cloudfs fetches a block: one byte more than it holds, no copy)."""
    data, count = os.urandom(size), max(1, total // size)
    slots = asyncio.Semaphore(concurrency)

    async def put(i: int) -> None:
        async with slots:
            await obstore.put_async(store, f"{prefix}/{i}", data)

    async def get(i: int) -> None:
        async with slots:
            body = await (await obstore.get_async(store, f"{prefix}/{i}")).bytes_async()
            assert len(body) == size

    async def ranged(i: int) -> None:
        async with slots:
            body = await obstore.get_range_async(store, f"{prefix}/{i}", start=0, length=size + 1)
            assert len(body) == size

    out = {}
    for name, op in (("put", put), ("get", get), ("ranged", ranged)):
        ceph, start = ceph_cpu(), time.perf_counter()
        await asyncio.gather(*(op(i) for i in range(count)))
        seconds = time.perf_counter() - start
        out[name] = (size * count / seconds / 1e6, ceph_cpu() - ceph)
    await asyncio.gather(*(obstore.delete_async(store, f"{prefix}/{i}") for i in range(count)))
    return out


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--bucket", default="object-size")
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--concurrency", type=int, default=8)
    args = p.parse_args()
    keys = {"aws_access_key_id": args.access_key, "aws_secret_access_key": args.secret_key}
    s3 = boto3.client("s3", endpoint_url=args.endpoint, region_name="us-east-1", **keys)
    if args.bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=args.bucket)
    store = S3Store(
        args.bucket,
        endpoint=args.endpoint,
        access_key_id=args.access_key,
        secret_access_key=args.secret_key,
        region="us-east-1",
        client_options={"allow_http": True},
    )
    gib = args.size_mib / 1024
    head = ["PUT", "GET", "ranged GET"]
    print(
        f"{'round':<6} {'object':<17} {'bytes':>9}"
        + "".join(f"  {h:>10} MB/s Ceph CPU-s/GiB" for h in head)
    )
    for n in range(args.rounds):
        for label, size in SIZES.items():
            r = await one_size(store, f"r{n}-{size}", size, args.size_mib * MiB, args.concurrency)
            cells = "".join(
                f"  {r[k][0]:>15.0f} {r[k][1] / gib:>15.2f}" for k in ("put", "get", "ranged")
            )
            print(f"{n:<6} {label:<17} {size:>9}{cells}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
