"""status, cache, pin, unpin, warmup: the local side of a filespace through the CLI."""

from __future__ import annotations

import os
from pathlib import Path

from tests.unit.cli.conftest import Cloudfs

DATA = os.urandom(5 * 64 * 1024 + 99)  # six 64 KiB blocks


def _with_file(cli: Cloudfs, tmp_path: Path) -> None:
    local = tmp_path / "data.bin"
    local.write_bytes(DATA)
    cli.ok("mkdir", "/d")
    cli.ok("put", str(local), "/d/data.bin")


def test_status_shows_no_pending_uploads_after_put(initialized: Cloudfs, tmp_path: Path) -> None:
    _with_file(initialized, tmp_path)
    out = initialized.ok("status").stdout
    assert "0 files, 0 B (0 commits pending)" in out
    assert "hit ratio" in out


def test_pin_list_unpin(initialized: Cloudfs, tmp_path: Path) -> None:
    _with_file(initialized, tmp_path)
    assert "pinned /d (1 files" in initialized.ok("pin", "/d").stdout
    listing = initialized.ok("pin", "--list").stdout
    assert listing.split()[0] == "pinned"
    assert "/d" in listing
    info = initialized.ok("cache", "info").stdout.splitlines()
    pinned = next(line for line in info if line.startswith("pinned"))
    assert "(6 blocks)" in pinned
    initialized.ok("unpin", "/d")
    assert initialized.ok("pin", "--list").stdout == "no pins\n"
    assert "cloudfs: /nowhere is not pinned" in initialized.fails("unpin", "/nowhere")


def test_pin_that_exceeds_the_pin_limit_says_why(initialized: Cloudfs, tmp_path: Path) -> None:
    _with_file(initialized, tmp_path)
    initialized.ok("cache", "set-size", "256k")  # pins may take 80 %: less than the file
    line = initialized.fails("pin", "/d")
    assert "could not pin /d" in line
    assert "could not pin" in initialized.ok("pin", "--list").stdout


def test_warmup_fills_the_cache_and_clear_empties_it(initialized: Cloudfs, tmp_path: Path) -> None:
    _with_file(initialized, tmp_path)
    initialized.ok("cache", "clear")
    assert "0 B of" in initialized.ok("cache", "info").stdout
    assert "warmed up /" in initialized.ok("warmup", "/").stdout
    cache_line = initialized.ok("cache", "info").stdout.splitlines()[0]
    assert "(6 blocks)" in cache_line


def test_cache_set_size_is_kept_and_bad_sizes_refused(initialized: Cloudfs) -> None:
    initialized.ok("cache", "set-size", "100m")
    assert "of 100.0 MiB" in initialized.ok("cache", "info").stdout
    assert initialized("cache", "set-size", "lots").exit_code != 0
