"""Write a filespace fixture of the current format under tests/compat/fixtures/format-vN/.

Run once per released format version and commit the result; tests/compat/test_formats.py
checks that every fixture still opens and reads back byte for byte.

    CLOUDFS_KDF_PROFILE=test uv run python tests/compat/make_fixture.py
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
from pathlib import Path

from cloudfs.codec.descriptor import FORMAT_VERSION
from cloudfs.codec.keys import KdfParams
from cloudfs.meta.protocol import ROOT_INO
from cloudfs.workspace.filespace import Secret, create_filespace, open_filespace
from cloudfs.workspace.registry import Registry

PASSPHRASE = "fixture passphrase"
HERE = Path(__file__).parent / "fixtures"


def contents() -> dict[str, bytes]:
    """What every fixture holds: small, multi-block, sparse, compressible, unicode."""
    rng = hashlib.sha256(b"cloudfs fixture").digest() * 8192  # 256 KiB, deterministic
    return {
        "hello.txt": b"hello, cloudfs\n",
        "multi-block.bin": rng + rng[:1000],
        "compressible.txt": b"all work and no play " * 10_000,
        "unicode ü 日本.txt": "ünïcödé\n".encode(),
    }


async def make(target: Path) -> None:
    registry = Registry(target)
    record = await create_filespace(
        registry, "fixture", PASSPHRASE, block_size=64 * 1024, kdf=KdfParams.for_tests()
    )
    opened = await open_filespace(registry, record, Secret(passphrase=PASSPHRASE))
    vfs = opened.vfs
    try:
        folder = await vfs.mkdir(ROOT_INO, "folder", 0o755, 0, 0)
        for name, data in contents().items():
            handle, _ = await vfs.create(folder.ino, name, 0o644, os.O_WRONLY, 0, 0)
            await vfs.write(handle.fh, 0, data)
            await vfs.release(handle.fh)
        await vfs.symlink(ROOT_INO, "link", "folder/hello.txt", 0, 0)
        hello = await vfs.lookup(folder.ino, "hello.txt")
        await vfs.setxattr(hello.ino, "user.note", b"kept")
    finally:
        await opened.close()


def main() -> None:
    target = HERE / f"format-v{FORMAT_VERSION}"
    shutil.rmtree(target, ignore_errors=True)
    asyncio.run(make(target))
    for junk in target.rglob("*.lock"):
        junk.unlink()
    (target / "FIXTURE.json").write_text(
        json.dumps({"format_version": FORMAT_VERSION, "passphrase": PASSPHRASE}, indent=2) + "\n"
    )
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
