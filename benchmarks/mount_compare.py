"""The cloudfs mount beside s3fs-fuse and rclone mount, on the same Ceph radosgw, same run.

Needs root (it mounts and drops the kernel's caches) and Debian packages:

    apt-get install -y fio s3fs rclone

Every peer gets its own bucket on one radosgw and runs the same workloads, in this order:

* ``write``: ``benchmarks/fio/seq-write.fio`` (1 MiB calls, ``end_fsync``) timed until the
  file is *durable in the store*, which means, per peer:
  cloudfs — fio's fsync returned (it waits for the upload commit) and ``cloudfs status``
  shows no pending upload; s3fs — fio's close returned (s3fs uploads on flush);
  rclone ``off`` — close returned (the upload streams during the writes and completes at
  close); rclone ``full`` (``--vfs-write-back 0s``) — a HEAD of the object in the bucket
  answers the full size (polled every 0.2 s).  fio opens ``O_RDWR``, which rclone ``off``
  refuses: that peer is written by a small Python writer (``O_WRONLY``, 1 MiB, fsync).
* ``read-cold``: ``seq-read.fio`` on a fresh mount with an empty client cache (cloudfs
  ``cache clear``, rclone's cache folder removed; s3fs keeps none) and the kernel's caches
  dropped (``echo 3 > /proc/sys/vm/drop_caches``).
* ``read-warm``: the same read again on the same mount after dropping the kernel's page
  cache only, so what is measured is the peer's own cache (s3fs has none: cold again).
* ``random-sparse`` and ``random-cold``: ``rand-read.fio``, 4 KiB reads at one job on a
  cold mount, at most ``--sparse-ios`` (300) and ``--random-ios`` (2000) reads or
  ``--random-seconds``; IOPS and p50/p99 latency from fio's JSON.  Two, because the
  count decides what is measured: 2000 reads of a 1 GiB file touch ~86 % of its 1 MiB
  blocks and nearly every 10 MB piece, so a client that downloads large pieces around
  each miss (s3fs) is in effect downloading the whole file and then reading locally;
  300 reads measure the cost of a read that misses.
* ``create``: ``--files`` small files (4 KiB each) written one after another into one
  folder, timed until durable (cloudfs: status shows no pending upload; s3fs and rclone
  ``off``: the last close returned; rclone ``full``: the listing of the bucket shows every
  file, polled).
* ``ls-cold`` / ``ls-warm``: ``ls -l`` of that folder on a fresh mount (kernel caches
  dropped), then again at once.

``--rounds N`` runs, instead of that battery, only ``read-cold`` and the two random tests,
N times over: every peer writes its file once, then each round runs every cold workload
on every peer (each on a fresh cold mount), the peers taking every order in turn (with
three peers, a multiple of 6 rounds gives each order equally). One battery compares
peers measured minutes apart while the radosgw's speed drifts by more than their
differences; rounds report each peer's median and range and in how many rounds cloudfs
led each peer.

The raw obstore baseline (block-sized PUT/GET of the same number of bytes with
concurrency 8, and one-at-a-time 4 KiB ranged GETs) runs the phases of
``benchmarks/sdk_throughput.py`` in their own processes, on its own bucket.

Every workload also records the CPU-seconds the peer's processes (found by the mount
point in their command line) and Ceph (radosgw + OSD) used during it: on these 2-core
machines the store and the client share the CPUs, so a client that makes the store work
harder is slower.  Every workload starts once Ceph is quiet (under a tenth of a core for
half a second, at most a minute), so that none pays for work Ceph still does for the
previous one; the wait is recorded (``settle_seconds``).

Prints a table, saves JSON (``--json``) and, when matplotlib is importable, a chart
(``--chart``, default beside the JSON); ``--chart-only JSON`` redraws it from a saved run:

    uv run --with matplotlib python benchmarks/mount_compare.py --size-mib 1024   # starts Ceph
    uv run --with matplotlib python benchmarks/mount_compare.py --endpoint URL \\
        --access-key K --secret-key S --size-mib 256 --files 2000 --peers cloudfs,s3fs
    uv run --with matplotlib python benchmarks/mount_compare.py --endpoint URL \\
        --size-mib 1024 --rounds 6 --peers cloudfs,s3fs,rclone-full
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from _procs import OSD, RADOSGW, cpu_seconds, pids

from cloudfs.cli.common import parse_size

ROOT = Path(__file__).resolve().parent.parent
FIO = ROOT / "benchmarks" / "fio"
PEERS = ("cloudfs", "s3fs", "rclone-full", "rclone-off")
PASSPHRASE = "benchmark passphrase"
SMALL = 4096  # bytes per small file
MOUNT_SECONDS = 60
DURABLE_SECONDS = 1800


def _run(argv: list[str], env: dict[str, str] | None = None, **kw: Any) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, **kw)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def drop_kernel_caches() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def radosgw_arguments(p: argparse.ArgumentParser) -> None:
    """``--endpoint`` (a running radosgw, required) and its keys (those of
    ``scripts/ceph-rgw-up`` by default): for the scripts that measure against one."""
    p.add_argument("--endpoint", required=True, help="a running radosgw")
    p.add_argument("--access-key", default="cephak")
    p.add_argument("--secret-key", default="cephsecret")


def _wait_for(what: str, ready: Callable[[], bool], seconds: float, step: float = 0.2) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(step)


def _unmount(mnt: Path) -> None:
    if os.path.ismount(mnt):
        _run(["umount", str(mnt)])
    _wait_for(f"{mnt} to be unmounted", lambda: not os.path.ismount(mnt), MOUNT_SECONDS)


class S3:
    """The radosgw, through boto3 (bucket set-up and durability checks)."""

    def __init__(self, args: argparse.Namespace) -> None:
        import boto3

        self.client: Any = boto3.client(
            "s3",
            endpoint_url=args.endpoint,
            aws_access_key_id=args.access_key,
            aws_secret_access_key=args.secret_key,
            region_name="us-east-1",
        )
        self.buckets: list[str] = []

    def bucket(self, name: str) -> str:
        self.client.create_bucket(Bucket=name)
        self.buckets.append(name)
        return name

    def remove_buckets(self) -> None:
        """Delete every bucket this run made, with its objects (best effort)."""
        for name in self.buckets:
            with contextlib.suppress(Exception):
                pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=name)
                for page in pages:
                    keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                    if keys:
                        self.client.delete_objects(Bucket=name, Delete={"Objects": keys})
                self.client.delete_bucket(Bucket=name)

    def size(self, bucket: str, key: str) -> int:
        try:
            return int(self.client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except self.client.exceptions.ClientError:
            return -1

    def count(self, bucket: str, prefix: str) -> int:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sum(page.get("KeyCount", 0) for page in pages)


# -- peers ------------------------------------------------------------------------------
class Peer:
    """One way to mount the bucket: mount, unmount, forget caches, wait until durable."""

    name = ""
    write_only = False  # cannot open a file for reading and writing at once
    file_durable_at_close = False  # else durable_file() polls until it is
    files_durable_at_close = False  # else durable_files() polls until they are

    def __init__(self, args: argparse.Namespace, s3: S3, work: Path) -> None:
        self.args, self.s3, self.work = args, s3, work / self.name
        self.mnt = self.work / "mnt"
        self.mnt.mkdir(parents=True)
        self.bucket = s3.bucket(f"mc-{args.run_id}-{self.name}")

    def setup(self) -> None:
        """Once, before the first mount."""

    def mount(self) -> None:
        raise NotImplementedError

    def unmount(self) -> None:
        _unmount(self.mnt)

    def clear_cache(self) -> None:
        """Forget the client's own cache (called unmounted)."""

    def durable_file(self, name: str, size: int) -> None:
        """Return once ``name`` (written and closed) is durable in the store; when it is
        at close, check that it is."""

    def durable_files(self, folder: str, count: int) -> None:
        """The same for ``count`` files closed in ``folder``."""

    def remount_cold(self) -> None:
        self.unmount()
        self.clear_cache()
        drop_kernel_caches()
        self.mount()


class Cloudfs(Peer):
    name = "cloudfs"
    file_durable_at_close = True  # fio's end_fsync waits for the upload commit

    def setup(self) -> None:
        self.env = dict(os.environ)
        self.env.update(
            CLOUDFS_HOME=str(self.work / "home"),
            CLOUDFS_PASSPHRASE=PASSPHRASE,
            CLOUDFS_KDF_PROFILE="test",  # a fast passphrase KDF: mount start-up only
            AWS_ACCESS_KEY_ID=self.args.access_key,
            AWS_SECRET_ACCESS_KEY=self.args.secret_key,
        )
        self.env.pop("CLOUDFS_TOKEN", None)
        self.env.pop("CLOUDFS_FILESPACE", None)
        self.env.update(item.split("=", 1) for item in self.args.cloudfs_env)
        init = ["init", "--s3-bucket", self.bucket, "--s3-endpoint", self.args.endpoint]
        if self.args.cloudfs_block_size:
            init += ["--block-size", self.args.cloudfs_block_size]
        self._cli(*init)

    def _cli(self, *argv: str) -> str:
        return _run([sys.executable, "-m", "cloudfs.cli.main", *argv], env=self.env)

    def mount(self) -> None:
        self._cli("mount", str(self.mnt))

    def unmount(self) -> None:
        self._cli("umount", str(self.mnt))  # waits for the mount process (drained)

    def clear_cache(self) -> None:
        self._cli("cache", "clear")

    def _drained(self) -> bool:
        lines = self._cli("status").splitlines()
        uploading = next(x for x in lines if x.startswith("uploading"))
        return uploading.split()[1] == "0" and "(0 commits" in uploading

    def durable_file(self, name: str, size: int) -> None:
        assert self._drained(), "cloudfs: uploads pending after fsync"

    def durable_files(self, folder: str, count: int) -> None:
        _wait_for("cloudfs uploads", self._drained, DURABLE_SECONDS)


class S3fs(Peer):
    name = "s3fs"
    file_durable_at_close = files_durable_at_close = True  # close uploads

    def setup(self) -> None:
        self.passwd = self.work / "passwd"
        self.passwd.write_text(f"{self.args.access_key}:{self.args.secret_key}\n")
        self.passwd.chmod(0o600)

    def mount(self) -> None:
        opts = [f"url={self.args.endpoint}", "use_path_request_style"]
        opts += [f"passwd_file={self.passwd}"]
        _run(["s3fs", self.bucket, str(self.mnt), *(x for o in opts for x in ("-o", o))])
        _wait_for("s3fs mount", lambda: os.path.ismount(self.mnt), MOUNT_SECONDS)

    def durable_file(self, name: str, size: int) -> None:
        assert self.s3.size(self.bucket, name) == size, "s3fs: not in the store after close"

    def durable_files(self, folder: str, count: int) -> None:
        found = self.s3.count(self.bucket, folder + "/")
        assert found >= count, f"s3fs: {found} of {count} files in the store after close"


class Rclone(Peer):
    mode = ""

    def setup(self) -> None:
        self.cache = self.work / "cache"
        self.env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
        self.env.update(
            RCLONE_CONFIG_CEPH_TYPE="s3",
            RCLONE_CONFIG_CEPH_PROVIDER="Ceph",
            RCLONE_CONFIG_CEPH_ENDPOINT=self.args.endpoint,
            RCLONE_CONFIG_CEPH_ACCESS_KEY_ID=self.args.access_key,
            RCLONE_CONFIG_CEPH_SECRET_ACCESS_KEY=self.args.secret_key,
        )
        (self.work / "rclone.conf").touch()
        self.proc: subprocess.Popen[bytes] | None = None

    def mount(self) -> None:
        argv = ["rclone", "mount", f"ceph:{self.bucket}", str(self.mnt)]
        argv += ["--config", str(self.work / "rclone.conf"), "--vfs-cache-mode", self.mode]
        argv += ["--cache-dir", str(self.cache), "--vfs-write-back", "0s"]
        log = open(self.work / "rclone.log", "ab")  # noqa: SIM115 (the child owns it)
        self.proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=log)
        log.close()
        _wait_for("rclone mount", lambda: os.path.ismount(self.mnt), MOUNT_SECONDS)

    def unmount(self) -> None:
        _unmount(self.mnt)
        if self.proc is not None:
            self.proc.wait(timeout=MOUNT_SECONDS)
            self.proc = None

    def clear_cache(self) -> None:
        shutil.rmtree(self.cache, ignore_errors=True)

    def durable_file(self, name: str, size: int) -> None:
        _wait_for("rclone upload", lambda: self.s3.size(self.bucket, name) == size, DURABLE_SECONDS)

    def durable_files(self, folder: str, count: int) -> None:
        _wait_for(
            "rclone uploads",
            lambda: self.s3.count(self.bucket, folder + "/") >= count,
            DURABLE_SECONDS,
            step=0.5,
        )


class RcloneFull(Rclone):
    name, mode = "rclone-full", "full"


class RcloneOff(Rclone):
    name, mode = "rclone-off", "off"
    write_only = True
    file_durable_at_close = files_durable_at_close = True  # close completes the upload

    def durable_file(self, name: str, size: int) -> None:
        assert self.s3.size(self.bucket, name) == size, "rclone off: not in the store"

    def durable_files(self, folder: str, count: int) -> None:
        found = self.s3.count(self.bucket, folder + "/")
        assert found >= count, f"rclone off: {found} of {count} files in the store"


PEER_CLASSES: dict[str, type[Peer]] = {c.name: c for c in (Cloudfs, S3fs, RcloneFull, RcloneOff)}


# -- workloads --------------------------------------------------------------------------
def fio(job: str, env: dict[str, str]) -> dict[str, Any]:
    out = _run(["fio", "--output-format=json", str(FIO / job)], env={**os.environ, **env})
    result: dict[str, Any] = json.loads(out[out.index("{") :])["jobs"][0]
    return result


def _percentile(side: dict[str, Any], p: str) -> float:
    for key in ("lat_ns", "clat_ns"):
        found = side.get(key, {}).get("percentile", {}).get(p)
        if found:
            return float(found) / 1e9
    return float("nan")


def _io(job: dict[str, Any], side: str) -> dict[str, Any]:
    s = job[side]
    return {
        "bytes": s["io_bytes"],
        "fio_seconds": s["runtime"] / 1e3,
        "mbps": s["bw_bytes"] / 1e6,
        "iops": s["iops"],
        "ios": s["total_ios"],
        "p50": _percentile(s, "50.000000"),
        "p99": _percentile(s, "99.000000"),
    }


@contextlib.contextmanager
def _timer(out: dict[str, Any]) -> Iterator[None]:
    out["start"] = start = time.perf_counter()
    yield
    out["seconds"] = time.perf_counter() - start
    del out["start"]


def _file_env(peer: Peer, args: argparse.Namespace) -> dict[str, str]:
    return {"FILENAME": str(peer.mnt / "big.bin"), "SIZE": str(args.size)}


WRITE = """
import os, sys
path, size = sys.argv[1], int(sys.argv[2])
block = bytearray(os.urandom(1 << 20))
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for offset in range(0, size, len(block)):
    block[:8] = offset.to_bytes(8, "big")
    os.write(fd, block[: size - offset])
os.fsync(fd)
os.close(fd)
"""


def w_write(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    timed: dict[str, Any] = {}
    with _timer(timed):
        if peer.write_only:  # fio opens O_RDWR, which this peer refuses (EPERM)
            _run([sys.executable, "-c", WRITE, str(peer.mnt / "big.bin"), str(args.size)])
            out: dict[str, Any] = {"writer": "python O_WRONLY, 1 MiB writes, fsync"}
        else:
            out = _io(fio("seq-write.fio", _file_env(peer, args)), "write")
        out["closed_seconds"] = time.perf_counter() - timed["start"]
        peer.durable_file("big.bin", args.size)
    if peer.file_durable_at_close:  # the check above is not part of the time
        timed["seconds"] = out["closed_seconds"]
    return {**out, **timed, "mbps": args.size / timed["seconds"] / 1e6}


def w_read(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    return _io(fio("seq-read.fio", _file_env(peer, args)), "read")


def w_random(peer: Peer, args: argparse.Namespace, ios: int = 0) -> dict[str, Any]:
    env = {**_file_env(peer, args), "IOS": str(ios or args.random_ios)}
    env["RUNTIME"] = str(args.random_seconds)
    return _io(fio("rand-read.fio", env), "read")


def w_sparse(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    return w_random(peer, args, args.sparse_ios)


CREATE = """
import os, sys
folder, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.mkdir(folder)
payload = bytearray(os.urandom(size))
for i in range(count):
    payload[:8] = i.to_bytes(8, "big")
    with open(os.path.join(folder, f"f{i:06}"), "wb") as f:
        f.write(payload)
"""


def w_create(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    timed: dict[str, Any] = {}
    with _timer(timed):
        _run([sys.executable, "-c", CREATE, str(peer.mnt / "many"), str(args.files), str(SMALL)])
        closed = time.perf_counter() - timed["start"]
        peer.durable_files("many", args.files)
    if peer.files_durable_at_close:
        timed["seconds"] = closed
    rate = args.files / timed["seconds"]
    return {**timed, "closed_seconds": closed, "files": args.files, "files_per_s": rate}


def w_ls(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    timed: dict[str, Any] = {}
    with _timer(timed):
        out = _run(["ls", "-l", "--color=never", str(peer.mnt / "many")], env={"LC_ALL": "C"})
    entries = len(out.splitlines()) - 1  # the "total" line
    assert entries == args.files, f"{peer.name}: ls -l listed {entries} of {args.files}"
    return {**timed, "entries": entries}


Workload = Callable[[Peer, argparse.Namespace], dict[str, Any]]


def measure(peer: Peer, label: str, work: Workload, args: argparse.Namespace) -> dict[str, Any]:
    """Run one workload on a mounted peer, once Ceph is quiet, with the CPU it and Ceph
    used; print it."""
    client, rgw, osd = pids(str(peer.mnt)), pids(RADOSGW), pids(OSD)
    waited = settle(rgw + osd)
    before = [cpu_seconds(p) for p in (client, rgw, osd)]
    result = work(peer, args)
    result["settle_seconds"] = waited
    used = [cpu_seconds(p) - b for p, b in zip((client, rgw, osd), before, strict=True)]
    result["client_cpu"], result["rgw_cpu"], result["osd_cpu"] = used
    result["ceph_cpu"] = used[1] + used[2]
    print(f"  {peer.name} {label}: {_brief(result)}", flush=True)
    return result


def run_peer(peer: Peer, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}

    def step(label: str, work: Workload) -> None:
        results[label] = measure(peer, label, work, args)

    peer.setup()
    peer.clear_cache()
    drop_kernel_caches()
    peer.mount()
    try:
        step("write", w_write)
        peer.remount_cold()
        step("read-cold", w_read)
        drop_kernel_caches()
        step("read-warm", w_read)
        peer.remount_cold()
        step("random-sparse", w_sparse)
        peer.remount_cold()
        step("random-cold", w_random)
        step("create", w_create)
        peer.remount_cold()
        step("ls-cold", w_ls)
        step("ls-warm", w_ls)
    finally:
        peer.unmount()
    return results


COLD = (("read-cold", w_read), ("random-sparse", w_sparse), ("random-cold", w_random))


def run_rounds(peers: list[Peer], args: argparse.Namespace) -> dict[str, Any]:
    """Only the cold workloads, ``args.rounds`` times over, the peers taking turns.

    One run of the battery compares peers measured minutes apart, and the radosgw's speed
    drifts by more than the differences between them over minutes (see
    docs/benchmarks.md).  Here every peer writes its file once; then each round runs
    every cold workload on every peer, each on a fresh cold mount, in every order of the
    peers in turn (not a rotation: that keeps who follows whom), so that drift and what
    one peer leaves the radosgw doing fall on all of them alike.
    """
    results: dict[str, Any] = {p.name: {label: [] for label, _ in COLD} for p in peers}
    for peer in peers:
        peer.setup()
        peer.clear_cache()
        peer.mount()
        try:
            results[peer.name]["write"] = [measure(peer, "write", w_write, args)]
        finally:
            peer.unmount()
    orders = list(itertools.permutations(peers))
    for n in range(args.rounds):
        print(f"round {n + 1} of {args.rounds}", flush=True)
        for peer in orders[n % len(orders)]:
            for label, work in COLD:
                peer.clear_cache()
                drop_kernel_caches()
                peer.mount()
                try:
                    results[peer.name][label].append(measure(peer, label, work, args))
                finally:
                    peer.unmount()
    return results


def rounds_table(data: dict[str, Any]) -> str:
    """Median (min-max) of every peer's rounds, and how many rounds cloudfs led each peer."""
    runs = data["rounds"]
    peers = [p for p in PEERS if p in runs]
    others = [p for p in peers if p != "cloudfs"]
    head = ["workload", "unit", *peers, *(f"cloudfs ahead of {p}" for p in others)]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for key, label, unit in ROWS:
        if not all(runs[p].get(key) for p in peers):
            continue
        values = {p: [_value(r, unit) for r in runs[p][key]] for p in peers}
        d = {"MB/s": 1, "IOPS": 0, "s": 2}[unit]  # decimals
        cells = [
            f"{statistics.median(v):.{d}f} ({min(v):.{d}f}–{max(v):.{d}f})" for v in values.values()
        ]
        if "cloudfs" in values:
            for p in others:
                pairs = list(zip(values["cloudfs"], values[p], strict=False))
                ahead = sum(a < b if unit == "s" else a > b for a, b in pairs)
                ratio = statistics.median(a / b for a, b in pairs if b)
                cells.append(f"{ahead} of {len(pairs)} (median ratio {ratio:.2f})")
        lines.append(f"| {label} | {unit} | " + " | ".join(cells) + " |")
    return "\n".join(lines + _rounds_cpu(runs, peers))


def _rounds_cpu(runs: dict[str, Any], peers: list[str]) -> list[str]:
    """Median CPU-seconds of each workload: the peer's, the radosgw's, the OSD's (where the
    run recorded them apart: since the ninth session)."""
    lines = []
    for key, label, _ in ROWS:
        found = {p: runs[p].get(key) or [] for p in peers}
        if not all(found.values()) or not all("rgw_cpu" in r for v in found.values() for r in v):
            continue
        cells = [
            " / ".join(f"{statistics.median(r[k] for r in v):.2f}" for k in CPU_KEYS)
            for v in found.values()
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if not lines:
        return []
    title = "CPU-seconds, medians: the peer's processes / radosgw / OSD:"
    head = ["| workload | " + " | ".join(peers) + " |", "|---|" + "---:|" * len(peers)]
    return ["", title, "", *head, *lines]


CPU_KEYS = ("client_cpu", "rgw_cpu", "osd_cpu")


def settle(processes: list[str], busy: float = 0.1, seconds: float = 60.0) -> float:
    """Wait until ``processes`` use less than ``busy`` of a core over half a second (at most
    ``seconds``); the seconds waited.

    A guard: a workload that started while Ceph still worked for the previous one (or
    on its own) would pay for that work.
    """
    start = time.monotonic()
    used = cpu_seconds(processes)
    while time.monotonic() - start < seconds:
        time.sleep(0.5)
        now = cpu_seconds(processes)
        if now - used < busy * 0.5:
            break
        used = now
    return time.monotonic() - start


def _brief(r: dict[str, Any]) -> str:
    cpu = ""
    if "ceph_cpu" in r:
        cpu = f"  (CPU-s: client {r['client_cpu']:.2f}, Ceph {r['ceph_cpu']:.2f}"
        if "rgw_cpu" in r:  # runs before the ninth session recorded Ceph as one figure
            cpu += f" = radosgw {r['rgw_cpu']:.2f} + OSD {r['osd_cpu']:.2f}"
        cpu += ")"
    if "p50" in r and ("ios" not in r or r["bytes"] < 2**24):
        p50, p99 = r["p50"] * 1e3, r["p99"] * 1e3
        return f"{r['iops']:.0f} IOPS p50 {p50:.1f} ms p99 {p99:.1f} ms{cpu}"
    if "mbps" in r:
        return f"{r['mbps']:.1f} MB/s{cpu}"
    return f"{r['seconds']:.2f} s{cpu}"


# -- raw obstore baseline (the phases of sdk_throughput.py) -----------------------------
def run_raw(args: argparse.Namespace, s3: S3, work: Path) -> dict[str, Any]:
    bucket = s3.bucket(f"mc-{args.run_id}-raw")
    out: dict[str, Any] = {}
    for phase in ("raw-put", "raw-get", "raw-random"):
        argv = [sys.executable, str(ROOT / "benchmarks" / "sdk_throughput.py")]
        argv += ["--phase", phase, "--workdir", str(work), "--backend", "s3"]
        argv += ["--size-mib", str(args.size_mib), "--random-reads", str(args.raw_random)]
        if args.cloudfs_block_size:  # the raw objects are block-sized
            argv += ["--block-size", str(parse_size(args.cloudfs_block_size))]
        argv += ["--endpoint", args.endpoint, "--bucket", bucket]
        argv += ["--access-key", args.access_key, "--secret-key", args.secret_key]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        lines = done.stdout.strip().splitlines()
        if not lines or not lines[-1].startswith("{"):  # (a SIGABRT at exit after the
            raise RuntimeError(f"{phase} failed: {done.stderr[-2000:]}")  # result is known)
        r = json.loads(lines[-1])
        if "iops" not in r:
            r["mbps"] = args.size / r["seconds"] / 1e6
        out[phase] = r
        print(f"  raw {phase}: {_brief(r)}", flush=True)
    return out


# -- report -----------------------------------------------------------------------------
ROWS = (
    ("write", "write until durable", "MB/s"),
    ("read-cold", "cold sequential read", "MB/s"),
    ("read-warm", "warm re-read (page cache dropped)", "MB/s"),
    ("random-sparse", "cold random 4 KiB, one job, sparse", "IOPS"),
    ("random-cold", "cold random 4 KiB, one job, dense", "IOPS"),
    ("ls-cold", "ls -l, cold", "s"),
    ("ls-warm", "ls -l, warm", "s"),
    ("create", "create small files until durable", "s"),
)


def _cell(r: dict[str, Any] | None, unit: str) -> str:
    if r is None:
        return "—"
    if unit == "MB/s":
        return f"{r['mbps']:.1f}"
    if unit == "IOPS":
        return f"{r['iops']:.0f} ({r['p50'] * 1e3:.1f} / {r['p99'] * 1e3:.1f} ms)"
    return f"{r['seconds']:.2f}"


def _baseline(data: dict[str, Any]) -> dict[str, Any]:
    raw = data.get("raw", {})
    found = {"write": raw.get("raw-put"), "read-cold": raw.get("raw-get")}
    found["random-cold"] = found["random-sparse"] = raw.get("raw-random")
    return {k: v for k, v in found.items() if v is not None}


def table(data: dict[str, Any]) -> str:
    peers = [p for p in PEERS if p in data["peers"]]
    baseline = _baseline(data)
    head = ["workload", "unit", *peers, "raw obstore"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(peers) + 1)]
    for key, label, unit in ROWS:
        cells = [_cell(data["peers"][p].get(key), unit) for p in peers]
        base = baseline.get(key)
        lines.append(f"| {label} | {unit} | " + " | ".join(cells) + f" | {_cell(base, unit)} |")
    cpu = []
    for key, label, _ in ROWS:
        found = [data["peers"][p].get(key) or {} for p in peers]
        if any("ceph_cpu" in r for r in found):
            cpu.append(f"| {label} | " + " | ".join(_cpu_cell(r) for r in found) + " |")
    if cpu:
        lines += ["", "CPU-seconds of the peer's processes / of Ceph (radosgw + OSD):", ""]
        lines += ["| workload | " + " | ".join(peers) + " |", "|---|" + "---:|" * len(peers)]
    return "\n".join(lines + cpu)


def _cpu_cell(r: dict[str, Any]) -> str:
    return f"{r['client_cpu']:.2f} / {r['ceph_cpu']:.2f}" if "ceph_cpu" in r else "—"


COLOURS = {
    "cloudfs": "#1f77b4",
    "s3fs": "#ff7f0e",
    "rclone-full": "#2ca02c",
    "rclone-off": "#98df8a",
}


def _pyplot() -> Any:
    """matplotlib's pyplot, drawing to files only; None if matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def chart(data: dict[str, Any], path: Path) -> bool:
    plt = _pyplot()
    if plt is None:
        return False
    peers = [p for p in PEERS if p in data["peers"]]
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.5))
    for ax, (key, label, unit) in zip(axes.flat, ROWS, strict=False):
        values = [_value(data["peers"][p].get(key), unit) for p in peers]
        ax.bar(peers, values, color=[COLOURS[p] for p in peers])
        base = _baseline(data).get(key)
        if base is not None:
            ax.axhline(_value(base, unit), color="grey", ls="--", lw=1, label="raw obstore")
            ax.legend(fontsize=7, loc="upper right")
        better = "lower is better" if unit == "s" else "higher is better"
        ax.set_title(f"{label}\n{unit}, {better}", fontsize=9)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        for i, v in enumerate(values):
            ax.annotate(f"{v:.3g}", (i, v), ha="center", va="bottom", fontsize=7)
    for ax in axes.flat[len(ROWS) :]:
        ax.axis("off")
    size = data["size_mib"]
    fig.suptitle(f"Mounts on one Ceph radosgw: {size} MiB file, {data['files']:,} files")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return True


def rounds_chart(data: dict[str, Any], path: Path) -> bool:
    """Every round of every peer as a dot, the median as a bar, per cold workload."""
    plt = _pyplot()
    if plt is None:
        return False
    runs = data["rounds"]
    peers = [p for p in PEERS if p in runs]
    rows = [row for row in ROWS if all(runs[p].get(row[0]) for p in peers)]
    fig, axes = plt.subplots(1, len(rows), figsize=(4 * len(rows), 4.2))
    for ax, (key, label, unit) in zip(getattr(axes, "flat", [axes]), rows, strict=True):
        for i, p in enumerate(peers):
            values = [_value(r, unit) for r in runs[p][key]]
            median = statistics.median(values)
            ax.bar(i, median, color=COLOURS[p], alpha=0.5)
            ax.plot([i] * len(values), values, "o", color=COLOURS[p], ms=4)
            ax.annotate(f"{median:.3g}", (i, median), ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(peers)), peers, rotation=30, fontsize=8)
        better = "lower is better" if unit == "s" else "higher is better"
        ax.set_title(f"{label}\n{unit}, {better}", fontsize=9)
    count = len(next(iter(runs.values()))["read-cold"])
    fig.suptitle(f"Cold workloads, {count} rounds, peers taking turns ({data['size_mib']} MiB)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return True


def _value(r: dict[str, Any] | None, unit: str) -> float:
    if r is None:
        return 0.0
    return float(r["mbps"] if unit == "MB/s" else r["iops"] if unit == "IOPS" else r["seconds"])


# -- driver -----------------------------------------------------------------------------
def _start_ceph(args: argparse.Namespace) -> Path:
    base = Path(tempfile.mkdtemp(prefix="cfs-mount-ceph-"))
    gib = str(max(16, 8 * args.size_mib // 1024 + 8))
    out = _run([str(ROOT / "scripts" / "ceph-rgw-up"), str(base), "0", "0", gib])
    fields = dict(f.split("=", 1) for f in out.strip().splitlines()[-1].split())
    args.endpoint, args.access_key = fields["endpoint"], fields["access_key"]
    args.secret_key = fields["secret_key"]
    return base


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--files", type=int, default=10000)
    p.add_argument("--peers", default=",".join(PEERS))
    p.add_argument("--random-ios", type=int, default=2000, help="reads of the dense test")
    p.add_argument("--sparse-ios", type=int, default=300, help="reads of the sparse test")
    p.add_argument("--random-seconds", type=int, default=20)
    p.add_argument("--raw-random", type=int, default=300, help="raw 4 KiB ranged GETs")
    p.add_argument("--no-raw", action="store_true", help="skip the raw obstore baseline")
    p.add_argument(
        "--rounds",
        type=int,
        default=0,
        help="instead of the battery: the cold workloads this many times, peers taking turns",
    )
    p.add_argument("--cloudfs-block-size", default="", help="cloudfs init --block-size (4m)")
    p.add_argument(
        "--cloudfs-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment of cloudfs's commands and mount (repeatable), e.g. "
        "CLOUDFS_KEEP_FREED_MEMORY=0 to measure without docs/decisions/0017",
    )
    p.add_argument("--endpoint", default="", help="a running radosgw (else one is started)")
    p.add_argument("--access-key", default="cephak")
    p.add_argument("--secret-key", default="cephsecret")
    p.add_argument("--json", type=Path, default=Path("mount-compare.json"))
    p.add_argument("--chart", type=Path, help="PNG to draw (default: the JSON's name, .png)")
    p.add_argument("--chart-only", type=Path, help="redraw the chart from this JSON")
    args = p.parse_args()
    args.size = args.size_mib * 2**20
    args.chart = args.chart or (args.chart_only or args.json).with_suffix(".png")
    args.run_id = uuid.uuid4().hex[:6]
    return args


def main() -> None:
    args = _parse()
    if args.chart_only:
        data = json.loads(args.chart_only.read_text())
        sys.exit(0 if report(data, args.chart) else "matplotlib is not installed")
    peers = [p for p in args.peers.split(",") if p]
    if unknown := set(peers) - set(PEER_CLASSES):
        sys.exit(f"unknown peers: {', '.join(sorted(unknown))} (known: {', '.join(PEERS)})")
    ceph = None if args.endpoint else _start_ceph(args)
    work = Path(tempfile.mkdtemp(prefix="cfs-mount-compare-"))
    data: dict[str, Any] = {"size_mib": args.size_mib, "files": args.files, "peers": {}}
    data["random_ios"], data["sparse_ios"] = args.random_ios, args.sparse_ios
    data["cloudfs_block_size"] = args.cloudfs_block_size or "default"
    data["cloudfs_env"] = args.cloudfs_env
    data["started"] = time.strftime("%Y-%m-%d %H:%M:%S")
    data["command"] = " ".join(["python", "benchmarks/mount_compare.py", *sys.argv[1:]])
    s3 = S3(args)
    try:
        if not args.no_raw:
            data["raw"] = run_raw(args, s3, work)
        if args.rounds:
            data["rounds"] = run_rounds([PEER_CLASSES[n](args, s3, work) for n in peers], args)
            args.json.write_text(json.dumps(data, indent=1))
        for name in peers if not args.rounds else ():
            data["peers"][name] = run_peer(PEER_CLASSES[name](args, s3, work), args)
            args.json.write_text(json.dumps(data, indent=1))
    finally:
        for name in peers:
            with contextlib.suppress(Exception):
                _unmount(work / name / "mnt")
        if any(os.path.ismount(work / name / "mnt") for name in peers):
            print(f"left {work} in place: something is still mounted there", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
            if ceph is None:
                s3.remove_buckets()
        if ceph is not None:
            subprocess.run([str(ROOT / "scripts" / "ceph-rgw-down"), str(ceph), "--wipe"])
            shutil.rmtree(ceph, ignore_errors=True)
    print(f"\nsize={args.size_mib} MiB files={args.files} (JSON: {args.json})\n")
    report(data, args.chart)


def report(data: dict[str, Any], path: Path) -> bool:
    """Print the table and draw the chart (False if matplotlib is missing)."""
    if "rounds" in data:
        print(rounds_table(data))
        drawn = rounds_chart(data, path)
    else:
        print(table(data))
        drawn = chart(data, path)
    if drawn:
        print(f"chart: {path}")
    return drawn


if __name__ == "__main__":
    main()
