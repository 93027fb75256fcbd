"""Zero knowledge: nothing a user writes reaches storage or the metadata engine in the clear.

A real filespace (create/open with a passphrase, local object store, SQLite engine, a
persistent client state folder) gets a file with a distinctive name and contents
(compressible and incompressible), a folder, a symlink and xattrs.  Then every byte under
the workspace folder — each stored object, the SQLite database and its write-ahead log —
and under the client's state folder — the disk cache's block files and index, the
write-back journal and their logs: data at rest on the client — is scanned for any of
them, while writes are only journaled, after they are committed, and after close.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from cloudfs.codec.keys import KdfParams
from cloudfs.workspace.filespace import OpenFilespace, Secret, create_filespace, open_filespace
from cloudfs.workspace.registry import Registry
from tests.contracts.vfs_contract import BS, VfsDriver

PASSPHRASE = "correct horse battery staple zk"
NAME = "Quarterly-Merger-Plan-ZQXJ"
DIR_NAME = "Project-Nightingale-ZQXJ"
LINK_NAME = "Shortcut-Orchid-ZQXJ"
LINK_TARGET = "../Secret-Destination-ZQXJ/inside"
XATTR_NAME = "user.Classification-ZQXJ"
XATTR_VALUE = b"Eyes-Only-Value-ZQXJ"
COMPRESSIBLE = b"The merger closes on Friday; tell no one. " * 20000  # ~840 KB, shrinks a lot
INCOMPRESSIBLE = random.Random(7).randbytes(3 * BS + 999)
WINDOW = 24  # an incompressible file leaks if any of its 24-byte windows appears


def needles() -> dict[str, bytes]:
    found = {
        "name": NAME.encode(),
        "dir name": DIR_NAME.encode(),
        "link name": LINK_NAME.encode(),
        "link target": b"Secret-Destination-ZQXJ",
        "xattr name": b"Classification-ZQXJ",
        "xattr value": XATTR_VALUE,
        "compressible content": COMPRESSIBLE[:WINDOW],
        "passphrase": PASSPHRASE.encode(),
    }
    for i in range(0, len(INCOMPRESSIBLE) - WINDOW, len(INCOMPRESSIBLE) // 40):
        found[f"incompressible content @{i}"] = INCOMPRESSIBLE[i : i + WINDOW]
    for label, needle in list(found.items()):
        if label.endswith("name") or label == "link target":
            found[f"{label} (utf-16)"] = needle.decode().encode("utf-16-le")
            found[f"{label} (hex)"] = needle.hex().encode()
    return found


def scan(home: Path) -> list[str]:
    """Every (file, secret) pair where a secret shows up in a file under ``home``."""
    leaks = []
    secrets = needles()
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".sqlite") for p in files)
    data_files = [p for p in files if {"blocks", "packs"} & set(p.parts)]  # packs: format 4
    assert sum(p.stat().st_size for p in data_files) >= len(INCOMPRESSIBLE)  # the data is here
    for path in files:
        data = path.read_bytes()
        leaks += [
            f"{path.relative_to(home)}: {label}"
            for label, needle in secrets.items()
            if needle in data
        ]
    return leaks


def scan_state(state: Path) -> list[str]:
    """:func:`scan` of a client state folder, which must hold a cache and a journal."""
    files = [p for p in state.rglob("*") if p.is_file()]
    assert any(p.name == "journal.sqlite" for p in files)
    assert any(p.name.startswith("index.sqlite") for p in files)
    return scan(state)


async def fill(opened: OpenFilespace, state: Path) -> list[str]:
    """Write everything; return the leaks found in ``state`` while writes were pending."""
    fs = VfsDriver(opened.vfs, uid=os.getuid(), gid=os.getgid())
    await fs.mkdir(f"/{DIR_NAME}")
    await fs.write_bytes(f"/{DIR_NAME}/{NAME}", COMPRESSIBLE)
    await fs.write_bytes(f"/{DIR_NAME}/{NAME}-raw", INCOMPRESSIBLE)
    await fs.symlink(LINK_TARGET, f"/{LINK_NAME}")
    await fs.setxattr(f"/{DIR_NAME}/{NAME}", XATTR_NAME, XATTR_VALUE)
    await fs.setxattr(f"/{DIR_NAME}", XATTR_NAME, XATTR_VALUE)
    leaks_while_pending = scan_state(state)  # journaled, maybe not uploaded yet
    await opened.vfs.sync_all()
    assert await fs.read_bytes(f"/{DIR_NAME}/{NAME}") == COMPRESSIBLE
    assert await fs.readlink(f"/{LINK_NAME}") == LINK_TARGET
    return leaks_while_pending


async def test_nothing_readable_in_store_or_metadata(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "home")
    record = await create_filespace(
        registry, "zk", PASSPHRASE, block_size=BS, kdf=KdfParams.for_tests()
    )
    state = tmp_path / "state"
    opened = await open_filespace(registry, record, Secret(passphrase=PASSPHRASE), state_root=state)
    try:
        assert not opened.state.write_through  # write-back: the journal and dirty blocks
        leaks_while_pending = await fill(opened, state)
        db = registry.filespace_dir(record) / "meta.sqlite"
        assert db.exists()
        assert db.with_name("meta.sqlite-wal").exists()  # WAL mode: scanned too
        assert (opened.state.folder / "journal.sqlite-wal").exists()  # the journal's too
        leaks_while_open = scan(registry.home)  # the WAL holds the fresh rows now
        leaks_while_open += scan_state(state)  # the cache holds every block now
    finally:
        await opened.close()
    assert leaks_while_pending == []
    assert leaks_while_open == []
    assert scan(registry.home) == []
    assert scan_state(state) == []


def test_the_scan_finds_plaintext(tmp_path: Path) -> None:
    """The scanner itself works: plaintext dropped among the objects is reported."""
    home = tmp_path / "home"
    (home / "objects" / "blocks").mkdir(parents=True)
    for i in range(4):
        (home / "objects" / "blocks" / f"b{i}").write_bytes(os.urandom(len(INCOMPRESSIBLE)))
    (home / "meta.sqlite").write_bytes(b"xx" + NAME.encode() + INCOMPRESSIBLE[:100])
    leaks = scan(home)
    assert any("name" in leak for leak in leaks)
    assert any("incompressible" in leak for leak in leaks)
