"""keep_freed_memory: glibc's malloc keeps freed block buffers for reuse."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cloudfs import tuning


def test_it_applies_on_glibc_and_is_idempotent() -> None:
    assert tuning.keep_freed_memory() is True  # these machines run glibc
    assert tuning.keep_freed_memory() is True


def test_freed_block_buffers_are_reused_without_new_page_faults() -> None:
    """Eight block-sized buffers at a time (blocks in flight), freed and allocated again
    50 times: with the tuning their pages are faulted in once; without it, each time."""
    program = """
import resource, sys
import pytest

from cloudfs import tuning
if sys.argv[1] == "tuned":
    assert tuning.keep_freed_memory()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
before = faults()
for _ in range(50):
    held = [bytearray((4 << 20) + 1800 * (i % 2)) for i in range(8)]
    del held
print(faults() - before)
"""
    counts = {
        how: int(subprocess.check_output([sys.executable, "-c", program, how], text=True))
        for how in ("tuned", "default")
    }
    pages = 8 * 1025  # what the first eight buffers cost
    assert counts["tuned"] < 2 * pages  # then reused
    assert counts["default"] > 20 * pages  # faulted in anew, batch after batch
    assert tuning.TRIM_THRESHOLD > tuning.MMAP_THRESHOLD


def test_it_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tuning.OFF_VARIABLE, "0")
    assert tuning.keep_freed_memory() is False
