"""The writing process of ``test_kill9``: writes files until it is killed.

Run as ``python -m tests.fault.kill9_child HOME STATE SEED``.  It links the filespace
``fs`` of the workspace in ``HOME`` with a persistent state folder ``STATE`` (write-back:
``close`` journals, uploads run in the background), prints ``READY``, then writes files
of random sizes with names unique to ``SEED`` and prints ``ACK <path> <sha256>`` after
each ``close`` (and after each ``fsync``, which every third file does), flushing stdout
each time.  ``$CLOUDFS_TEST_STORE_LATENCY`` seconds of latency on every store call keep
uploads in flight, so a kill lands in the middle of them.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
from pathlib import Path

import cloudfs
from cloudfs.store.faulty import FaultyStore
from cloudfs.store.protocol import ObjectStore
from cloudfs.workspace import filespace

BLOCK = 64 * 1024
PASSPHRASE = "kill nine, lose nothing"
LATENCY_ENV = "CLOUDFS_TEST_STORE_LATENCY"


def slow_store() -> None:
    """Wrap the filespace's object store in a FaultyStore with latency."""
    latency = float(os.environ.get(LATENCY_ENV, "0"))
    opener = filespace.open_store

    def open_store(config: object) -> ObjectStore:
        return FaultyStore(opener(config), latency=latency)  # type: ignore[arg-type]

    filespace.open_store = open_store  # type: ignore[assignment]


def size_of(rng: random.Random) -> int:
    kind = rng.random()
    if kind < 0.2:
        return rng.randrange(0, 100)
    if kind < 0.5:
        return rng.randrange(100, BLOCK)
    return rng.randrange(BLOCK, 5 * BLOCK)  # multi-block


def ack(path: str, data: bytes) -> None:
    print(f"ACK {path} {hashlib.sha256(data).hexdigest()}", flush=True)


def main(home: Path, state: Path, seed: int) -> None:
    slow_store()
    rng = random.Random(seed)
    client = cloudfs.Client(
        storage=cloudfs.StorageConfig(mode=cloudfs.StorageMode.PHYSICAL, root_path=state),
        config=cloudfs.ClientConfig(home=home, passphrase=PASSPHRASE, fs_cache_size_mb=8),
    )
    workspace = client.get_workspace(client.list_workspaces()[0].id)
    fs = workspace.link_filespace(name="fs").fs
    if not fs.dir_exists(f"/s{seed}"):
        fs.create_dir(f"/s{seed}")
    print("READY", flush=True)
    for k in range(100_000):
        path = f"/s{seed}/f{k}"
        data = rng.randbytes(size_of(rng))
        f = fs.open(path, "wb", buffering=0)
        f.write(data)
        if k % 3 == 0:
            f.fsync()
            ack(path, data)
        f.close()
        ack(path, data)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]))
