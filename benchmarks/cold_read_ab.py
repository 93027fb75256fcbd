"""Requests and cold-read speed of two cloudfs builds, alternating.

Each round, for each build: a fresh filespace in a new bucket on a running radosgw, a
``dd`` write of ``--size-mib`` through the mount (``conv=fsync``, then unmount: drained),
``cloudfs cache clear`` and ``drop_caches``, then the cold read: with ``--how mount`` a
fresh mount and a ``dd`` read, with ``--how warmup`` a ``cloudfs warmup`` of the file
(timed as a user sees it, the command's start-up included). It prints the read's MB/s,
the CPU-seconds of the mount process (or the ``cloudfs warmup`` command) and of the
radosgw during the read, and — with ``--rgw-asok`` (the radosgw's admin socket) — how
many PUTs the write and GETs the read sent, from the radosgw's own ``perf dump`` counters.

The second build is another checkout's interpreter (say a clone of an older commit, after
``uv sync``), so a format change can be compared with what it replaced (ADR 20):

    uv run python benchmarks/cold_read_ab.py --endpoint http://127.0.0.1:7480 \\
        --rgw-asok /tmp/ceph1/run/client.rgw.a.asok \\
        --base-python /work/bench-old/.venv/bin/python --rounds 4 [--how warmup]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _procs import RADOSGW, cpu_seconds, pids
from mount_compare import S3, _run, _unmount, drop_kernel_caches, radosgw_arguments


def rgw_requests(asok: str) -> tuple[int, int]:
    """The radosgw's GET and PUT counts so far (0, 0 without an admin socket)."""
    if not asok:
        return 0, 0
    out = _run(["ceph", "--admin-daemon", asok, "perf", "dump"])
    rgw = json.loads(out)["rgw"]
    return int(rgw["get"]), int(rgw["put"])


def one_round(python: str, args: argparse.Namespace, s3: S3, work: Path) -> dict[str, float]:
    home, mnt = work / "home", work / "mnt"
    mnt.mkdir(parents=True)
    env = dict(os.environ, CLOUDFS_HOME=str(home), CLOUDFS_PASSPHRASE="ab passphrase")
    env.update(CLOUDFS_KDF_PROFILE="test", AWS_ACCESS_KEY_ID=args.access_key)
    env.update(AWS_SECRET_ACCESS_KEY=args.secret_key)

    def cli(*argv: str) -> str:
        return _run([python, "-m", "cloudfs.cli.main", *argv], env=env)

    bucket = s3.bucket(f"ab-{uuid.uuid4().hex[:12]}")
    cli("init", "--s3-bucket", bucket, "--s3-endpoint", args.endpoint)
    cli("mount", str(mnt))
    _, puts0 = rgw_requests(args.rgw_asok)
    _run(
        [
            "dd",
            "if=/dev/urandom",
            f"of={mnt}/f",
            "bs=1M",
            f"count={args.size_mib}",
            "conv=fsync",
            "status=none",
        ]
    )
    cli("umount", str(mnt))  # waits for the mount process: every upload committed
    gets1, puts1 = rgw_requests(args.rgw_asok)
    cli("cache", "clear")
    drop_kernel_caches()
    if args.how == "warmup":
        client0, rgw0 = _children_cpu(), cpu_seconds(pids(RADOSGW))
        started = time.monotonic()
        cli("warmup", "/f")
        seconds = time.monotonic() - started
        client1, rgw1 = _children_cpu(), cpu_seconds(pids(RADOSGW))
        gets2, _ = rgw_requests(args.rgw_asok)
    else:
        cli("mount", str(mnt))
        time.sleep(1)  # let the mount settle before its CPU is counted
        mount_pids = pids(f"mount --foreground --ready-fd 4 {mnt}")
        client0, rgw0 = cpu_seconds(mount_pids), cpu_seconds(pids(RADOSGW))
        started = time.monotonic()
        _run(["dd", f"if={mnt}/f", "of=/dev/null", "bs=1M", "status=none"])
        seconds = time.monotonic() - started
        client1, rgw1 = cpu_seconds(mount_pids), cpu_seconds(pids(RADOSGW))
        gets2, _ = rgw_requests(args.rgw_asok)
        cli("umount", str(mnt))
        _unmount(mnt)
    return {
        "mbps": args.size_mib * 1024 * 1024 / seconds / 1e6,
        "client_cpu": client1 - client0,
        "rgw_cpu": rgw1 - rgw0,
        "write_puts": puts1 - puts0,
        "read_gets": gets2 - gets1,
    }


def _children_cpu() -> float:
    """CPU-seconds of the commands this script has run and waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    radosgw_arguments(p)
    p.add_argument("--rgw-asok", default="", help="the radosgw's admin socket (request counts)")
    p.add_argument("--base-python", required=True, help="the other build's interpreter")
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument(
        "--how",
        choices=("mount", "warmup"),
        default="mount",
        help="read through a fresh mount, or with cloudfs warmup",
    )
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--json", type=Path, help="save every round here")
    args = p.parse_args()
    builds = {"this": sys.executable, "base": args.base_python}
    s3 = S3(args)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in builds}
    try:
        with tempfile.TemporaryDirectory(prefix="cold-read-ab-") as tmp:
            for n in range(args.rounds):
                order = list(builds) if n % 2 == 0 else list(reversed(builds))
                for name in order:
                    r = one_round(builds[name], args, s3, Path(tmp) / f"{name}-{n}")
                    results[name].append(r)
                    print(
                        f"round {n + 1} {name}: {r['mbps']:.1f} MB/s, client "
                        f"{r['client_cpu']:.2f} / radosgw {r['rgw_cpu']:.2f} CPU-s, "
                        f"{r['write_puts']} PUTs, {r['read_gets']} GETs",
                        flush=True,
                    )
    finally:
        s3.remove_buckets()
    for name, rounds in results.items():
        med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        print(
            f"{name}: median {med['mbps']:.1f} MB/s (range "
            f"{min(r['mbps'] for r in rounds):.1f}-{max(r['mbps'] for r in rounds):.1f}), "
            f"client {med['client_cpu']:.2f} / radosgw {med['rgw_cpu']:.2f} CPU-s, "
            f"{med['write_puts']:.0f} PUTs, {med['read_gets']:.0f} GETs"
        )
    ahead = sum(
        t["mbps"] > b["mbps"] for t, b in zip(results["this"], results["base"], strict=True)
    )
    print(f"this build ahead in {ahead} of {args.rounds} rounds")
    if args.json:
        args.json.write_text(json.dumps({"command": sys.argv, "rounds": results}, indent=1))


if __name__ == "__main__":
    main()
