"""The benchmark scripts still run, and their reports still say what docs/benchmarks.md
quotes from the recorded results.

The figures are the scripts' job, not the tests': nothing here times anything.  What can
run without Ceph, s3fs or rclone runs at a tiny size (exit 0, the report's lines
printed); the rest must at least start and explain itself (``--help``), so a refactor of
the package cannot silently break a script nobody runs until the next measurement.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
RESULTS = BENCHMARKS / "results"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))


def run(script: str, *args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, f"{script} {args}: {done.returncode}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture
def scripts() -> Iterator[None]:
    """The scripts import each other as top-level modules (``from mount_compare import``)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield
    finally:
        sys.path.remove(str(BENCHMARKS))


def module(name: str) -> ModuleType:
    return importlib.import_module(name)


def test_the_list_of_scripts_is_what_this_file_covers() -> None:
    assert set(SCRIPTS) == set(HELP_ONLY) | {s for s, *_ in LOCAL}


HELP_ONLY = ("cold_read_ab.py", "cold_read_anatomy.py", "mount_compare.py", "object_size.py")


@pytest.mark.parametrize("script", HELP_ONLY)
def test_a_script_that_needs_a_radosgw_starts_and_explains_itself(script: str) -> None:
    out = run(script, "--help")
    assert out.startswith("usage:")
    assert "--endpoint" in out


LOCAL = [
    ("cache_policy.py", ["--requests", "3000"], "s3fifo"),
    (
        "codec_throughput.py",
        ["--block-mib", "1", "--seconds", "0.05", "--threads", "1"],
        "open MB/s",
    ),
    ("connect_bulk.py", ["--objects", "300", "--dirs", "3", "--batch", "100"], "links/s"),
    ("local_io.py", ["--count", "2"], "O_DIRECT slab slots"),
    ("small_files.py", ["--files", "3"], "thread:"),
    ("sdk_throughput.py", ["--backend", "local", "--size-mib", "4"], "sdk-read / raw-get"),
]


@pytest.mark.parametrize(("script", "args", "marker"), LOCAL, ids=[s for s, *_ in LOCAL])
def test_a_local_script_runs_at_a_small_size(
    script: str, args: list[str], marker: str, tmp_path: Path
) -> None:
    if script in ("cache_policy.py", "local_io.py"):
        args = [*args, "--dir", str(tmp_path)]
    if script == "sdk_throughput.py":
        args = [*args, "--workdir", str(tmp_path / "sdk")]
    assert marker in run(script, *args, cwd=tmp_path)


def test_the_rounds_table_gives_run_25_as_docs_quote_it(scripts: None) -> None:
    """docs/benchmarks.md: run 25, cold read 437.9 (362.0-446.5) against s3fs 410.7
    (396.8-416.8) MB/s, 3 of 4 rounds, median ratio 1.06; dense random 0.47x."""
    mount_compare = module("mount_compare")
    data = json.loads((RESULTS / "mount-rounds-1g-run25-idle-fills.json").read_text())
    rows: dict[str, str] = {}
    for line in mount_compare.rounds_table(data).splitlines():  # figures first, then CPU
        rows.setdefault(line.split(" | ")[0].strip("| "), line)
    read = rows["cold sequential read"]
    assert "437.9 (362.0–446.5)" in read
    assert "410.7 (396.8–416.8)" in read
    assert "3 of 4 (median ratio 1.06)" in read
    assert "(median ratio 0.47)" in rows["cold random 4 KiB, one job, dense"]
    assert "4 of 4" in rows["cold random 4 KiB, one job, sparse"]


def test_the_single_run_table_gives_every_peer_a_column(scripts: None) -> None:
    mount_compare = module("mount_compare")
    data: dict[str, Any] = json.loads((RESULTS / "mount-compare-1g-run15.json").read_text())
    table = mount_compare.table(data)
    header = table.splitlines()[0]
    for peer in ("cloudfs", "s3fs", "rclone-full", "rclone-off"):
        assert peer in header
    assert "cold sequential read" in table


def test_a_variant_is_a_name_and_environment(scripts: None) -> None:
    parse = module("cold_read_anatomy").parse_variant
    assert parse("thp=GLIBC_TUNABLES=glibc.malloc.hugetlb=1") == (
        "thp",
        {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"},
    )
    assert parse("two=A=1,B=2") == ("two", {"A": "1", "B": "2"})
    for bad in ("name", "=A=1", "name=A"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)
