"""Where a cold sequential read through a mount spends the machine, peer by peer.

Each peer (and each ``--variant``, a cloudfs mount with extra environment) writes one
file of ``--size-mib`` once; then every round reads it cold on a fresh mount (the peer's
cache cleared, the kernel's dropped) in 1 MiB ``read`` calls, the peers taking turns.
For each read it prints:

* MB/s, and each 1 MiB call's latency: median, p90, p99, and the time spent in calls
  slower than 20 ms (waiting for the store) against the time in the others;
* CPU-seconds of the mount process, the radosgw and the OSD (each read starts once Ceph
  is quiet, as in ``mount_compare.py``);
* how busy the machine was (user, system, soft-IRQ, I/O wait and idle, in cores, from
  ``/proc/stat``);
* the disks: MiB read and written and seconds busy (``/proc/diskstats``), which on a
  one-box set-up shows the client's cache and the OSD sharing a disk.

For instance (the radosgw from ``scripts/ceph-rgw-up``)::

    uv run python benchmarks/cold_read_anatomy.py --endpoint http://127.0.0.1:7480 \\
        --peers cloudfs,s3fs --rounds 4 --variant arena1=MALLOC_ARENA_MAX=1

A variant is ``NAME=VAR=VALUE[,VAR=VALUE...]``: the same cloudfs filespace, mounted with
those variables set (anything the mount process reads from its environment).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from mount_compare import (
    S3,
    Cloudfs,
    Peer,
    S3fs,
    _run,
    drop_kernel_caches,
    measure,
    radosgw_arguments,
)

STALL = 0.02  # a 1 MiB read slower than this waited for the store

READER = r"""
import json, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
took, start = [], time.perf_counter()
while True:
    t = time.perf_counter()
    if not os.read(fd, 1 << 20):
        break
    took.append(time.perf_counter() - t)
print(json.dumps({"seconds": time.perf_counter() - start, "took": took}))
"""

CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def machine() -> list[int]:
    """The machine's CPU ticks by kind since boot (``/proc/stat``)."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def disks() -> tuple[int, int, int]:
    """Bytes read and written and milliseconds busy, summed over whole disks."""
    total = [0, 0, 0]
    for line in Path("/proc/diskstats").read_text().splitlines():
        f = line.split()
        if Path(f"/sys/block/{f[2]}/device").exists():  # a disk, not a partition or loop
            for n, value in enumerate((int(f[5]) * 512, int(f[9]) * 512, int(f[12]))):
                total[n] += value
    return total[0], total[1], total[2]


def read_cold(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    """The read and what the machine did meanwhile (``measure`` adds the CPU-seconds)."""
    disk0, ticks0 = disks(), machine()
    out = json.loads(_run([sys.executable, "-c", READER, str(peer.mnt / "f")]))
    ticks1, disk1 = machine(), disks()
    seconds, took = out["seconds"], sorted(out["took"])
    per_core = os.sysconf("SC_CLK_TCK") * seconds
    cores = {k: (b - a) / per_core for k, a, b in zip(CPU_FIELDS, ticks0, ticks1, strict=True)}
    return {
        "mbps": args.size_mib * 2**20 / seconds / 1e6,
        "p50_ms": 1e3 * took[len(took) // 2],
        "p90_ms": 1e3 * took[int(0.9 * len(took))],
        "p99_ms": 1e3 * took[int(0.99 * len(took))],
        "stalled_s": sum(t for t in took if t > STALL),
        "served_s": sum(t for t in took if t <= STALL),
        "cores": {k: round(v, 2) for k, v in cores.items() if k not in ("nice", "irq", "steal")}
        | {"steal": round(cores["steal"], 2)},
        "disk_read_mib": (disk1[0] - disk0[0]) / 2**20,
        "disk_written_mib": (disk1[1] - disk0[1]) / 2**20,
        "disk_busy_s": (disk1[2] - disk0[2]) / 1e3,
    }


def brief(r: dict[str, Any]) -> str:
    c = r["cores"]
    return (
        f"{r['mbps']:.1f} MB/s; 1 MiB reads p50 {r['p50_ms']:.2f} p90 {r['p90_ms']:.2f} "
        f"p99 {r['p99_ms']:.1f} ms, stalled {r['stalled_s']:.2f} s, served {r['served_s']:.2f} s; "
        f"CPU-s client {r['client_cpu']:.2f} radosgw {r['rgw_cpu']:.2f} OSD {r['osd_cpu']:.2f}; "
        f"cores user {c['user']} system {c['system']} softirq {c['softirq']} "
        f"iowait {c['iowait']} idle {c['idle']}; disk read {r['disk_read_mib']:.0f} "
        f"written {r['disk_written_mib']:.0f} MiB, busy {r['disk_busy_s']:.2f} s"
    )


class Variant(Cloudfs):
    """The one cloudfs filespace, mounted with extra environment variables."""

    def __init__(self, base: Cloudfs, name: str, extra: dict[str, str]) -> None:
        self.__dict__.update(base.__dict__)
        self.name, self.extra, self.base = name, extra, base

    def mount(self) -> None:
        self.env = {**self.base.env, **self.extra}
        super().mount()


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, assignments = text.partition("=")
    extra = dict(item.split("=", 1) for item in assignments.split(",") if "=" in item)
    if not name or not extra:
        raise argparse.ArgumentTypeError(f"not NAME=VAR=VALUE[,VAR=VALUE...]: {text!r}")
    return name, extra


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    radosgw_arguments(p)
    p.add_argument("--peers", default="cloudfs,s3fs", help="cloudfs and/or s3fs")
    p.add_argument("--variant", action="append", type=parse_variant, default=[])
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", type=Path, help="save every read here")
    args = p.parse_args()
    args.run_id, args.cloudfs_env, args.cloudfs_block_size = uuid.uuid4().hex[:8], [], ""
    s3 = S3(args)
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="cold-read-anatomy-") as tmp:
            peers: list[Peer] = []
            for name in args.peers.split(","):
                kind = {"cloudfs": Cloudfs, "s3fs": S3fs}[name]
                peer = kind(args, s3, Path(tmp))
                peer.setup()
                peer.mount()
                _run(["dd", "if=/dev/urandom", f"of={peer.mnt}/f", "bs=1M",
                      f"count={args.size_mib}", "conv=fsync", "status=none"])  # fmt: skip
                peer.unmount()
                peers.append(peer)
                if isinstance(peer, Cloudfs):
                    peers += [Variant(peer, n, extra) for n, extra in args.variant]
            for n in range(args.rounds):
                for peer in peers if n % 2 == 0 else reversed(peers):
                    peer.clear_cache()
                    drop_kernel_caches()
                    peer.mount()
                    time.sleep(1)  # let the mount settle before its CPU is counted
                    try:
                        r = measure(peer, "read-cold", read_cold, args)
                    finally:
                        peer.unmount()
                    results.setdefault(peer.name, []).append(r)
                    print(f"round {n + 1} {peer.name}: {brief(r)}", flush=True)
    finally:
        s3.remove_buckets()
    print("medians:")
    for name, rs in results.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0] if k != "cores"}
        print(f"  {name}: {med['mbps']:.1f} MB/s (range {min(r['mbps'] for r in rs):.1f}-"
              f"{max(r['mbps'] for r in rs):.1f}); client {med['client_cpu']:.2f}, radosgw "
              f"{med['rgw_cpu']:.2f}, OSD {med['osd_cpu']:.2f} CPU-s; stalled "
              f"{med['stalled_s']:.2f} s; disk written {med['disk_written_mib']:.0f} MiB, "
              f"busy {med['disk_busy_s']:.2f} s")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
