from __future__ import annotations

import pytest

from cloudfs.cache.policy import EvictionPolicy, LruPolicy, S3FifoPolicy, make_policy
from cloudfs.errors import ConfigurationError


def ids(n: int, start: int = 0) -> list[bytes]:
    return [i.to_bytes(4) for i in range(start, start + n)]


def evict(policy: EvictionPolicy, n: int, keep: frozenset[bytes] = frozenset()) -> list[bytes]:
    out = []
    for victim in policy.victims(lambda i: i not in keep):
        out.append(victim)
        if len(out) == n:
            break
    return out


def test_lru_evicts_least_recently_used() -> None:
    p = LruPolicy(10)
    a, b, c = ids(3)
    for i in (a, b, c):
        p.insert(i, 1)
    p.access(a)
    assert evict(p, 2) == [b, c]
    assert a in p
    assert b not in p
    assert len(p) == 1


@pytest.mark.parametrize("cls", [LruPolicy, S3FifoPolicy])
def test_victims_skip_kept_ids_and_end(cls: type[LruPolicy]) -> None:
    p = cls(4)
    blocks = ids(4)
    for i in blocks:
        p.insert(i, 1)
    keep = set(blocks[:3])
    assert list(p.victims(lambda i: i not in keep)) == [blocks[3]]
    assert list(p.victims(lambda i: i not in keep)) == []
    assert len(p) == 3


@pytest.mark.parametrize("cls", [LruPolicy, S3FifoPolicy])
def test_remove_and_idempotent_calls(cls: type[LruPolicy]) -> None:
    p = cls(4)
    a, b = ids(2)
    p.insert(a, 1)
    p.insert(a, 1)
    p.remove(b)
    p.access(b)
    assert len(p) == 1
    p.remove(a)
    assert len(p) == 0
    assert list(p.victims(lambda i: True)) == []


def test_s3fifo_one_hit_blocks_leave_before_reread_ones() -> None:
    p = S3FifoPolicy(10)
    hot, cold = ids(5), ids(5, 100)
    for i in hot:
        p.insert(i, 1)
        p.access(i)
    for i in cold:
        p.insert(i, 1)
    assert evict(p, 5) == cold  # read once: straight out of the small queue
    assert all(i in p for i in hot)


def test_s3fifo_ghost_hit_goes_to_main() -> None:
    p = S3FifoPolicy(10)
    a, *rest = ids(10)
    p.insert(a, 1)
    assert evict(p, 1) == [a]  # remembered in the ghost
    p.insert(a, 1)
    for i in rest:
        p.insert(i, 1)
    # a is in main with freq 0, the others in small: small is above 10 % and goes first
    assert a not in evict(p, 9)


def test_s3fifo_scan_does_not_flush_working_set() -> None:
    p = S3FifoPolicy(100)
    cached: set[bytes] = set()
    hot = ids(50)

    def read(i: bytes) -> None:
        if i in cached:
            p.access(i)
            return
        if len(cached) >= 100:
            cached.discard(next(p.victims(lambda _: True)))
        p.insert(i, 1)
        cached.add(i)

    for _ in range(3):
        for i in hot:
            read(i)
    for i in ids(1000, 1000):
        read(i)
    assert set(hot) <= cached


def test_make_policy() -> None:
    assert isinstance(make_policy("lru", 1), LruPolicy)
    with pytest.raises(ConfigurationError):
        make_policy("mru", 1)
