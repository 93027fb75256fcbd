"""CPU time of other processes on this machine, from ``/proc`` (the benchmarks that share
the 2 cores with a Ceph radosgw measure what it spends too)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

__all__ = ["OSD", "RADOSGW", "cpu_seconds", "pids"]

RADOSGW, OSD = "radosgw", "ceph-osd"
"""Command-line patterns of the Ceph daemons that serve data (the radosgw and its OSD)."""


def pids(*patterns: str) -> list[str]:
    """Processes whose command line contains any of ``patterns``, this one excepted."""
    found: list[str] = []
    for pattern in patterns:
        done = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
        found += [p for p in done.stdout.split() if p != str(os.getpid()) and p not in found]
    return found


def cpu_seconds(processes: list[str]) -> float:
    """User + system CPU-seconds used so far by ``processes`` (those still running),
    their exited threads included."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in processes:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total
