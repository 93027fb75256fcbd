from __future__ import annotations

from cloudfs.cache import MemoryCache


def test_bounded_in_bytes_lru() -> None:
    m = MemoryCache(10)
    m.put(b"a", b"1234")
    m.put(b"b", b"1234")
    assert m.get(b"a") == b"1234"
    m.put(b"c", b"1234")  # evicts b, the least recently used
    assert b"b" not in m
    assert b"a" in m
    assert m.used_bytes == 8
    m.put(b"big", b"x" * 11)
    assert b"big" not in m
    assert m.get(b"zz") is None
    assert (m.hits, m.misses) == (1, 1)
    assert m.hit_ratio == 0.5


def test_resize_discard_clear() -> None:
    m = MemoryCache(10)
    for k in (b"a", b"b"):
        m.put(k, b"12345")
    m.put(b"a", b"12345")
    m.resize(5)
    assert len(m) == 1
    assert b"a" in m
    m.discard(b"a")
    m.discard(b"a")
    assert m.used_bytes == 0
    m.put(b"c", b"1")
    m.clear()
    assert len(m) == 0
    assert m.used_bytes == 0
