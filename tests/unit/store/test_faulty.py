"""FaultyStore and CountingStore: each fault does what it says, and only that."""

from __future__ import annotations

import time

import pytest

from cloudfs.errors import ObjectNotFoundError, StoreUnavailableError
from cloudfs.store.config import MemoryStoreConfig, open_store
from cloudfs.store.faulty import CountingStore, FaultyStore, StoreCall
from cloudfs.store.protocol import ObjectStore


@pytest.fixture
def inner() -> ObjectStore:
    return open_store(MemoryStoreConfig())


async def test_a_faultless_store_is_transparent(inner: ObjectStore) -> None:
    store = FaultyStore(inner)
    await store.put("k", b"v")
    assert await store.get("k") == b"v"
    assert await store.get_range("k", 0, 1) == b"v"
    assert (await store.head("k")).size == 1
    assert [m.key async for m in store.list()] == ["k"]
    await store.delete("k")
    assert store.injected == 0
    assert store.description == inner.description


async def test_errors_strike_before_the_store_is_touched(inner: ObjectStore) -> None:
    store = FaultyStore(inner, error_rate=1.0)
    with pytest.raises(StoreUnavailableError, match="injected error"):
        await store.put("k", b"v")
    with pytest.raises(ObjectNotFoundError):
        await inner.get("k")
    assert store.injected == 1


async def test_errors_only_hit_the_chosen_operations(inner: ObjectStore) -> None:
    store = FaultyStore(inner, error_rate=1.0, operations={"get"})
    await store.put("k", b"v")
    assert await store.get_range("k", 0, 1) == b"v"
    with pytest.raises(StoreUnavailableError):
        await store.get("k")


async def test_lost_replies_take_effect_then_fail(inner: ObjectStore) -> None:
    store = FaultyStore(inner, lost_replies=1.0, operations={"put"})
    with pytest.raises(StoreUnavailableError, match="lost reply"):
        await store.put("k", b"v")
    assert await inner.get("k") == b"v"


async def test_torn_writes_store_a_strict_prefix_then_fail(inner: ObjectStore) -> None:
    store = FaultyStore(inner, torn_writes=1.0, seed=3)
    data = bytes(range(200))
    for attempt in range(5):
        with pytest.raises(StoreUnavailableError, match="torn write"):
            await store.put(f"k{attempt}", data)
        stored = await inner.get(f"k{attempt}")
        assert len(stored) < len(data)
        assert data.startswith(stored)


async def test_an_outage_fails_every_call_until_up(inner: ObjectStore) -> None:
    store = FaultyStore(inner)
    await store.put("k", b"v")
    store.down()
    assert store.is_down
    for call in (store.get("k"), store.head("k"), store.delete("k"), store.put("j", b"")):
        with pytest.raises(StoreUnavailableError, match="outage"):
            await call
    with pytest.raises(StoreUnavailableError):
        _ = [m async for m in store.list()]
    store.up()
    assert await store.get("k") == b"v"


async def test_an_outage_interrupts_a_listing(inner: ObjectStore) -> None:
    store = FaultyStore(inner)
    for i in range(3):
        await store.put(f"k{i}", b"v")
    listing = store.list()
    await anext(listing)
    store.down()
    with pytest.raises(StoreUnavailableError):
        await anext(listing)


async def test_latency_delays_each_affected_call(inner: ObjectStore) -> None:
    store = FaultyStore(inner, latency=0.05, operations={"put"})
    started = time.monotonic()
    await store.put("k", b"v")
    await store.get("k")
    assert 0.05 <= time.monotonic() - started < 0.5


async def test_the_same_seed_gives_the_same_faults(inner: ObjectStore) -> None:
    async def pattern(seed: int) -> list[bool]:
        store = FaultyStore(inner, error_rate=0.5, seed=seed)
        outcomes = []
        for i in range(40):
            try:
                await store.put(f"k{i}", b"v")
                outcomes.append(True)
            except StoreUnavailableError:
                outcomes.append(False)
        return outcomes

    first = await pattern(11)
    assert first == await pattern(11)
    assert 5 < sum(first) < 35


@pytest.mark.parametrize(
    "kwargs",
    [{"error_rate": 1.5}, {"torn_writes": -0.1}, {"latency": -1}, {"operations": {"rename"}}],
)
def test_nonsense_settings_are_refused(inner: ObjectStore, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"must be|unknown operations"):
        FaultyStore(inner, **kwargs)  # type: ignore[arg-type]


async def test_counting_store_records_calls_and_bytes(inner: ObjectStore) -> None:
    store = CountingStore(inner)
    await store.put("a", b"12345")
    await store.get("a")
    await store.get_range("a", 1, 2)
    await store.head("a")
    _ = [m async for m in store.list("a")]
    await store.delete("a")
    with pytest.raises(ObjectNotFoundError):
        await store.get("a")
    assert store.calls == [
        StoreCall("put", "a", 5, True),
        StoreCall("get", "a", 5, True),
        StoreCall("get_range", "a", 2, True),
        StoreCall("head", "a", 0, True),
        StoreCall("list", "a", 0, True),
        StoreCall("delete", "a", 0, True),
        StoreCall("get", "a", 0, False),
    ]
    assert store.count("get") == 2
    assert store.count(key="a") == 7
    assert store.bytes_moved() == 12
    assert store.bytes_moved("get_range") == 2
    store.reset()
    assert store.calls == []


async def test_wrappers_compose(inner: ObjectStore) -> None:
    counting = CountingStore(FaultyStore(inner, error_rate=1.0, operations={"get"}))
    await counting.put("k", b"v")
    with pytest.raises(StoreUnavailableError):
        await counting.get("k")
    assert [(c.op, c.ok) for c in counting.calls] == [("put", True), ("get", False)]
    await counting.close()
