"""Hit ratios of the disk cache's eviction policies on synthetic block-id traces.

Usage::

    uv run python benchmarks/cache_policy.py [--seed 1] [--requests 300000]
    uv run python benchmarks/cache_policy.py --latency [--dir /tmp]   # DiskCache put/get

Every block has the same size (one unit), so a cache of N holds N blocks.  Traces:

* ``hot+scan``: a hot working set of 2,000 blocks read over and over in random order:
  20,000 reads to warm up, then ONE sequential scan of 40,000 blocks (each read once,
  four scan blocks per hot read, as a streaming copy outpaces an interactive user), then
  20,000 more hot reads: the "one big scan must not flush the cache" case.  ``hot
  reads*`` is the hit ratio of the hot reads during and after the scan (what the user
  feels); ``all reads`` counts every request.
* ``zipf-a``: 100,000 blocks, popularity Zipf with exponent ``a`` (0.8 and 1.0), the usual
  model of a file-system working set.

``--latency`` measures :class:`~cloudfs.cache.DiskCache` put_clean / put_dirty / get of
1 MiB sealed blocks on this machine (median and p99, one coroutine at a time).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from cloudfs.cache import DiskCache
from cloudfs.cache.policy import POLICIES, EvictionPolicy

HOT_SET = 2_000
SCAN_BLOCKS = 40_000
SCAN_PER_HOT = 4
WARMUP_READS = 20_000
UNIVERSE = 100_000


def simulate(policy: EvictionPolicy, capacity: int, trace: Iterable[int]) -> list[bool]:
    """Replay ``trace`` through a cache of ``capacity`` blocks; one hit flag per request."""
    cached: set[int] = set()
    hits = []
    key = int.to_bytes
    for block in trace:
        block_id = key(block, 8)
        if block in cached:
            policy.access(block_id)
            hits.append(True)
            continue
        hits.append(False)
        if len(cached) >= capacity:
            victim = next(policy.victims(lambda _id: True))
            cached.discard(int.from_bytes(victim))
        policy.insert(block_id, 1)
        cached.add(block)
    return hits


def hot_and_scan(rng: random.Random) -> tuple[list[int], list[bool]]:
    """Warm-up on the hot set, then the scan through it, then the hot set alone again.

    The mask marks the hot reads after the warm-up: the ones a scan can hurt.
    """
    trace: list[int] = []
    counted: list[bool] = []

    def hot(n: int, count: bool) -> None:
        for _ in range(n):
            trace.append(rng.randrange(HOT_SET))
            counted.append(count)

    hot(WARMUP_READS, False)
    for start in range(UNIVERSE, UNIVERSE + SCAN_BLOCKS, SCAN_PER_HOT):
        hot(1, True)
        trace.extend(range(start, start + SCAN_PER_HOT))
        counted.extend([False] * SCAN_PER_HOT)
    hot(WARMUP_READS, True)
    return trace, counted


def zipf(rng: random.Random, requests: int, exponent: float) -> list[int]:
    weights = list(itertools.accumulate(1 / (rank**exponent) for rank in range(1, UNIVERSE + 1)))
    return rng.choices(range(UNIVERSE), cum_weights=weights, k=requests)


def ratio(hits: Sequence[bool], mask: Sequence[bool] | None = None) -> float:
    chosen = hits if mask is None else [h for h, m in zip(hits, mask, strict=True) if m]
    return sum(chosen) / len(chosen)


def row(name: str, capacity: int, figures: dict[str, float]) -> None:
    cells = "  ".join(f"{policy:>6} {value:6.1%}" for policy, value in figures.items())
    print(f"{name:<22} {capacity:>7}  {cells}")


def policy_table(seed: int, requests: int) -> None:
    print(f"{'trace':<22} {'cache':>7}  hit ratio per policy (blocks of equal size)")
    trace, hot = hot_and_scan(random.Random(seed))
    for capacity in (1_000, 2_500, 5_000, 10_000):
        runs = {name: simulate(make(capacity), capacity, trace) for name, make in POLICIES.items()}
        row("hot+scan: hot reads*", capacity, {n: ratio(h, hot) for n, h in runs.items()})
        row("hot+scan: all reads", capacity, {n: ratio(h) for n, h in runs.items()})
    for exponent in (0.8, 1.0):
        trace = zipf(random.Random(seed), requests, exponent)
        for capacity in (1_000, 5_000, 10_000):
            figures = {
                n: ratio(simulate(m(capacity), capacity, trace)) for n, m in POLICIES.items()
            }
            row(f"zipf-{exponent}", capacity, figures)


async def latency(directory: Path, count: int = 300) -> None:
    blocks = [(random.randbytes(16), random.randbytes(1 << 20)) for _ in range(count)]
    cache = await DiskCache.open(directory, capacity_bytes=(count // 2) << 20)
    try:
        for label, op in (
            ("put_clean", lambda i, d: cache.put_clean(i, d)),
            ("get (hit)", lambda i, d: cache.get(i)),
            ("put_dirty", lambda i, d: cache.put_dirty(random.randbytes(16), d)),
        ):
            times = []
            for block_id, data in blocks[count // 2 :] if label != "put_clean" else blocks:
                start = time.perf_counter()
                await op(block_id, data)
                times.append(time.perf_counter() - start)
                if label == "put_dirty":
                    await cache.mark_clean(await cache.dirty_ids())
            p99 = sorted(times)[int(len(times) * 0.99)]
            print(
                f"{label:<10} 1 MiB  p50 {statistics.median(times) * 1e3:6.2f} ms"
                f"  p99 {p99 * 1e3:6.2f} ms"
            )
    finally:
        await cache.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=300_000)
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    if args.latency:
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            asyncio.run(latency(Path(tmp)))
    else:
        policy_table(args.seed, args.requests)


if __name__ == "__main__":
    main()
