"""ObstoreStore details beyond the contract: keys, closing, local atomicity, endpoints."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cloudfs.errors import StoreError
from cloudfs.store.config import LocalStoreConfig, MemoryStoreConfig, S3StoreConfig, open_store
from cloudfs.store.obstore_backend import ObstoreStore, _endpoint_url, _s3_settings, check_key


@pytest.mark.parametrize("key", ["a", "a/b", "blocks/00/ff", "a b", "ä/ö", ".hidden", "x#y"])
def test_good_keys(key: str) -> None:
    check_key(key)


@pytest.mark.parametrize(
    "key", ["", "/a", "a/", "a//b", ".", "a/./b", "a/../b", "a\nb", "a\x00", "x#1", "a/b#12/c"]
)
async def test_bad_keys_are_refused_before_any_io(key: str) -> None:
    store = open_store(MemoryStoreConfig())
    with pytest.raises(ValueError, match="key"):
        await store.put(key, b"x")
    with pytest.raises(ValueError, match="key"):
        await store.get(key)


async def test_negative_ranges_are_refused() -> None:
    store = open_store(MemoryStoreConfig())
    await store.put("k", b"abc")
    with pytest.raises(ValueError, match="range"):
        await store.get_range("k", -1, 2)
    with pytest.raises(ValueError, match="range"):
        await store.get_range("k", 0, -2)


async def test_a_closed_store_refuses_calls() -> None:
    store = open_store(MemoryStoreConfig())
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.get("k")
    with pytest.raises(StoreError, match="closed"):
        _ = [m async for m in store.list()]


async def test_local_puts_are_atomic_for_concurrent_readers(tmp_path: Path) -> None:
    store = open_store(LocalStoreConfig(tmp_path))
    size = 2 * 1024 * 1024
    versions = [bytes([v]) * size for v in b"ab"]
    await store.put("obj", versions[0])

    async def write() -> None:
        for i in range(30):
            await store.put("obj", versions[i % 2])

    async def read() -> list[bytes]:
        return [await store.get("obj") for _ in range(30)]

    _, *reads = await asyncio.gather(write(), read(), read())
    assert all(data in versions for batch in reads for data in batch)


async def test_local_puts_leave_no_temporary_files(tmp_path: Path) -> None:
    store = open_store(LocalStoreConfig(tmp_path))
    await asyncio.gather(*(store.put(f"d/{i}", b"x" * 1000) for i in range(20)))
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == sorted(map(str, range(20)))


async def test_local_if_absent_is_atomic(tmp_path: Path) -> None:
    store = open_store(LocalStoreConfig(tmp_path))
    results = await asyncio.gather(
        *(store.put("once", bytes([i]) * 100_000, if_absent=True) for i in range(16)),
        return_exceptions=True,
    )
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 1
    assert len(set(await store.get("once"))) == 1


def test_virtual_hosted_style_puts_the_bucket_in_the_host() -> None:
    config = S3StoreConfig("bkt", "https://s3.example.com:8443/", virtual_hosted_style=True)
    assert _endpoint_url(config) == "https://bkt.s3.example.com:8443"
    assert _endpoint_url(S3StoreConfig("bkt", "http://h:1/")) == "http://h:1"


def test_repr_is_the_description() -> None:
    assert repr(ObstoreStore.memory()) == "ObstoreStore('memory://')"


@pytest.mark.parametrize(
    ("endpoint", "unsigned"),
    [("", True), ("https://s3.example.com", True), ("http://127.0.0.1:7480", False)],
)
def test_bodies_are_hashed_for_signing_only_over_plain_http(endpoint: str, unsigned: bool) -> None:
    """Over TLS the payload hash adds nothing (TLS and the AEAD protect the bytes) and
    costs a SHA-256 of every block; over plain HTTP it is the server's only check."""
    config = S3StoreConfig(bucket="b", endpoint=endpoint, region="us-east-1")
    assert _s3_settings(config)["unsigned_payload"] is unsigned
