"""Connect's bulk path: links/s of an import, and count/list time at that many links.

Usage::

    uv run python benchmarks/connect_bulk.py [--objects 100000] [--dirs 100] [--batch 1000]

Creates a throw-away embedded workspace (local folder + SQLite) with Connect enabled,
registers a data store whose endpoint nothing listens on (so any S3 request would fail),
and feeds :class:`cloudfs.connect.importer.Importer` a synthetic listing of N objects in
pages of 1,000 (as ListObjectsV2 returns them) spread over ``--dirs`` directories: the
figure is what the metadata side sustains (name and key encryption, one transaction per
``--batch`` links), without the network.  It then times ``count_external_files`` (one
row read) and the first page of ``list_external_files`` (limit 100, with path
resolution), and a mirror re-run that finds nothing to change.

Target (issue 5): >= 5,000 links/s on the embedded engine; count fast at 1,000,000.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import cloudfs
from cloudfs.connect.importer import Importer
from cloudfs.connect.objects import ObjectInfo
from cloudfs.workspace.filespace import Secret, create_filespace, enable_connect
from cloudfs.workspace.registry import Registry

PASSPHRASE = "benchmark"
PAGE = 1000


async def listing(n: int, dirs: int) -> AsyncIterator[list[ObjectInfo]]:
    for start in range(0, n, PAGE):
        yield [
            ObjectInfo(f"data/d{i % dirs:04}/object-{i:08}.bin", 1_000 + i, f'"{i:032x}"')
            for i in range(start, min(n, start + PAGE))
        ]


def timed(label: str, fn: object) -> object:
    began = time.perf_counter()
    result = fn()  # type: ignore[operator]
    print(f"{label:<38} {1000 * (time.perf_counter() - began):10.1f} ms")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--dirs", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("CLOUDFS_KDF_PROFILE", "test")
    with tempfile.TemporaryDirectory(prefix="cloudfs-connect-bench-") as tmp:
        home = Path(tmp) / "home"
        registry = Registry(home)
        asyncio.run(create_filespace(registry, "bench", PASSPHRASE))
        record = registry.find(name="bench")
        asyncio.run(enable_connect(registry, record, Secret(passphrase=PASSPHRASE)))
        config = cloudfs.ClientConfig(home=home, passphrase=PASSPHRASE)
        storage = cloudfs.StorageConfig(root_path=Path(tmp) / "state")
        with cloudfs.Client(config=config, storage=storage) as client:
            workspace = client.get_workspace(client.list_workspaces()[0].id)
            filespace = workspace.link_filespace(name="bench")
            connect = filespace.connect
            connect.add_data_store(
                "bench",
                cloudfs.S3DataStoreConfig(
                    access_key="AK",
                    secret_key="SK",
                    bucket_name="bench-bucket",
                    region="us-east-1",
                    endpoint="http://127.0.0.1:9",
                ),
            )
            n = args.objects
            print(f"objects {n:,} in {args.dirs} directories, batch {args.batch}")
            began = time.perf_counter()
            report = Importer(connect, batch=args.batch).run(
                "bench", "data/", "/bench", listing=listing(n, args.dirs)
            )
            elapsed = time.perf_counter() - began
            assert report.linked == n, report
            print(f"{'import (first run)':<38} {elapsed:10.2f} s   {n / elapsed:10,.0f} links/s")
            count = timed("count_external_files", lambda: connect.count_external_files("bench"))
            assert count == n, count
            timed("list_external_files (first 100)", lambda: connect.list_external_files("bench"))
            began = time.perf_counter()
            again = Importer(connect, batch=args.batch).run(
                "bench", "data/", "/bench", listing=listing(n, args.dirs)
            )
            elapsed = time.perf_counter() - began
            assert again.unchanged == n, again
            print(f"{'import (mirror, nothing changed)':<38} {elapsed:10.2f} s")
            assert filespace._opened.objects.requests == 0  # nothing was sent to S3


if __name__ == "__main__":
    main()
