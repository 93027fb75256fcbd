"""kill -9 the writing process at random moments; nothing it acknowledged may be lost.

A child process (:mod:`tests.fault.kill9_child`) writes files through the SDK with a
persistent state folder, so ``close`` returns once the write is journaled and uploads run
in the background over a slow store.  It prints an acknowledgement (path and SHA-256)
after each ``close`` and ``fsync``.  The parent sends SIGKILL after a random delay — during
sealing, staging, journaling, uploading or committing — then opens the filespace again
in-process on the same state folder and checks, at once and after ``sync_all``:

* the metadata never names a block the store does not hold (whole);
* every acknowledged file exists with exactly the acknowledged bytes.

The kill points are random (seeded delays, but a process's progress is not), the
assertion is universal.  Iterations run on one filespace, so journals left by one crash
are replayed under the next child too (it replays them on its own start).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cloudfs
from cloudfs.codec.keys import KdfParams
from cloudfs.workspace.filespace import create_filespace
from cloudfs.workspace.registry import Registry
from tests.fault import kill9_child
from tests.fault.faultutil import all_refs_exist

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A workspace with filespace ``fs`` (64 KiB blocks, local folder store) and a state
    folder for the client."""
    monkeypatch.setenv("CLOUDFS_KDF_PROFILE", "test")
    monkeypatch.delenv("CLOUDFS_PASSPHRASE", raising=False)
    home, state = tmp_path / "home", tmp_path / "state"
    asyncio.run(
        create_filespace(
            Registry(home),
            "fs",
            kill9_child.PASSPHRASE,
            block_size=kill9_child.BLOCK,
            kdf=KdfParams.for_tests(),
        )
    )
    return home, state


def run_and_kill(home: Path, state: Path, seed: int, delay: float) -> dict[str, str]:
    """Start a writer, SIGKILL it ``delay`` seconds after it is ready; its acks."""
    env = dict(os.environ, CLOUDFS_KDF_PROFILE="test", PYTHONPATH=str(ROOT))
    env[kill9_child.LATENCY_ENV] = "0.01"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.fault.kill9_child", str(home), str(state), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert child.stdout is not None
    assert child.stderr is not None
    try:
        ready = child.stdout.readline()
        assert ready == b"READY\n", ready + child.stderr.read()
        time.sleep(delay)
    finally:
        child.send_signal(signal.SIGKILL)
        out = child.stdout.read()
        err = child.stderr.read()
        child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL, err.decode()[-2000:]
    acks: dict[str, str] = {}
    for line in out.decode().splitlines():
        if line.startswith("ACK ") and line.count(" ") == 2:  # the last one may be cut
            _, path, digest = line.split(" ")
            if len(digest) == 64:
                acks[path] = digest
    return acks


def verify(home: Path, state: Path, acks: dict[str, str]) -> None:
    """Reopen on the same state folder (the journal replays); check what was promised."""
    client = cloudfs.Client(
        storage=cloudfs.StorageConfig(mode=cloudfs.StorageMode.PHYSICAL, root_path=state),
        config=cloudfs.ClientConfig(home=home, passphrase=kill9_child.PASSPHRASE),
    )
    try:
        workspace = client.get_workspace(client.list_workspaces()[0].id)
        filespace = workspace.link_filespace(name="fs")
        opened = filespace._opened
        assert not opened.state.write_through  # we own the state folder: replay ran
        run = client._loop.run
        run(all_refs_exist(opened.vfs, opened.store))  # at once, while the replay runs
        filespace.sync_all()
        run(all_refs_exist(opened.vfs, opened.store))
        lost = {}
        for path, digest in acks.items():
            if not filespace.fs.file_exists(path):
                lost[path] = "missing"
            elif hashlib.sha256(filespace.fs.read_file(path)).hexdigest() != digest:
                lost[path] = "wrong content"
        assert not lost, f"{len(lost)} of {len(acks)} acknowledged files: {lost}"
    finally:
        client.close()


def kill_loop(home: Path, state: Path, iterations: int, seed: int) -> int:
    rng = random.Random(seed)
    acks: dict[str, str] = {}
    for i in range(iterations):
        delay = rng.uniform(0.05, 2.0) if i % 4 == 0 else rng.uniform(0.05, 0.6)
        new = run_and_kill(home, state, seed * 1000 + i, delay)
        acks.update(new)
        verify(home, state, new)
    verify(home, state, acks)  # and nothing acknowledged earlier went missing later
    return len(acks)


def test_kill9_during_uploads_loses_no_acknowledged_write(world: tuple[Path, Path]) -> None:
    home, state = world
    assert kill_loop(home, state, iterations=25, seed=1) > 25


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_kill9_many_times(world: tuple[Path, Path]) -> None:
    home, state = world
    assert kill_loop(home, state, iterations=100, seed=2) > 100
