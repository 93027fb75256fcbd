"""The behaviour every :class:`~cloudfs.store.protocol.ObjectStore` must have.

Use it by subclassing :class:`StoreContract` in a ``test_*.py`` module and providing one
fixture, ``make_store``: a callable ``make_store(prefix) -> ObjectStore`` whose stores all
share one fresh, empty underlying space (bucket, folder, memory), so that prefixes can be
checked against each other.  The suite closes every store it makes.

Listing order is not part of the contract (a local folder lists in directory order), so
listings are compared as sets.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import ClassVar

import pytest

from cloudfs.errors import ObjectExistsError, ObjectNotFoundError
from cloudfs.store.protocol import ObjectMeta, ObjectStore

MakeStore = Callable[[str], ObjectStore]

PAYLOAD = bytes(range(256)) * 4 + b"\x00\xff\r\n\x1a"


async def keys_of(store: ObjectStore, prefix: str = "") -> set[str]:
    return {meta.key async for meta in store.list(prefix)}


async def put_many(store: ObjectStore, keys: list[str], data: bytes, limit: int = 32) -> None:
    slots = asyncio.Semaphore(limit)

    async def put(key: str) -> None:
        async with slots:
            await store.put(key, data)

    await asyncio.gather(*(put(k) for k in keys))


async def run_op(store: ObjectStore, op: str) -> None:
    """One call of ``op`` on key ``k`` (``list`` lists ``p/``), for error tests."""
    if op == "list":
        _ = [m async for m in store.list("p/")]
    elif op == "put":
        await store.put("k", b"data")
    else:
        await getattr(store, op)("k")


class StoreContract:
    """Inherit, provide ``make_store``; every test here then runs against that store."""

    #: Enough objects to cross S3's 1,000-key ListObjectsV2 page at least once.
    paging_objects: ClassVar[int] = 1100
    #: Whether ``k`` and ``k/child`` can both be objects (not on a local folder).
    keys_can_nest: ClassVar[bool] = True

    @pytest.fixture
    async def stores(self, make_store: MakeStore) -> AsyncIterator[list[ObjectStore]]:
        made: list[ObjectStore] = []
        yield made
        for store in made:
            await store.close()

    @pytest.fixture
    def store_at(self, make_store: MakeStore, stores: list[ObjectStore]) -> MakeStore:
        def make(prefix: str = "") -> ObjectStore:
            store = make_store(prefix)
            stores.append(store)
            return store

        return make

    @pytest.fixture
    def store(self, store_at: MakeStore) -> ObjectStore:
        return store_at("")

    # -- put / get -------------------------------------------------------------------

    async def test_put_then_get_returns_the_bytes(self, store: ObjectStore) -> None:
        await store.put("dir/obj", b"hello")
        assert await store.get("dir/obj") == b"hello"

    async def test_binary_data_round_trips(self, store: ObjectStore) -> None:
        data = PAYLOAD + os.urandom(256 * 1024)
        await store.put("bin", data)
        assert await store.get("bin") == data

    async def test_memoryview_is_accepted(self, store: ObjectStore) -> None:
        buffer = bytearray(b"0123456789")
        await store.put("mv", memoryview(buffer)[2:8])
        assert await store.get("mv") == b"234567"

    async def test_empty_object(self, store: ObjectStore) -> None:
        await store.put("empty", b"")
        assert await store.get("empty") == b""
        assert (await store.head("empty")).size == 0

    async def test_put_overwrites(self, store: ObjectStore) -> None:
        await store.put("k", b"first version")
        await store.put("k", b"second")
        assert await store.get("k") == b"second"

    async def test_put_is_idempotent_for_the_same_bytes(self, store: ObjectStore) -> None:
        await store.put("k", PAYLOAD)
        await store.put("k", PAYLOAD)
        assert await store.get("k") == PAYLOAD

    async def test_get_missing_is_object_not_found(self, store: ObjectStore) -> None:
        with pytest.raises(ObjectNotFoundError) as info:
            await store.get("no/such/key")
        assert isinstance(info.value, FileNotFoundError)
        assert info.value.key == "no/such/key"
        assert "no/such/key" in str(info.value)
        assert store.description in str(info.value)
        assert info.value.__cause__ is not None

    # -- ranges ----------------------------------------------------------------------

    async def test_get_range_inside(self, store: ObjectStore) -> None:
        await store.put("r", PAYLOAD)
        assert await store.get_range("r", 10, 100) == PAYLOAD[10:110]
        assert await store.get_range("r", 0, 1) == PAYLOAD[:1]

    async def test_get_range_running_past_the_end_is_short(self, store: ObjectStore) -> None:
        await store.put("r", PAYLOAD)
        assert await store.get_range("r", len(PAYLOAD) - 5, 100) == PAYLOAD[-5:]

    async def test_get_range_ending_exactly_at_the_end(self, store: ObjectStore) -> None:
        await store.put("r", PAYLOAD)
        assert await store.get_range("r", len(PAYLOAD) - 7, 7) == PAYLOAD[-7:]

    async def test_get_range_starting_at_or_past_the_end_is_empty(self, store: ObjectStore) -> None:
        await store.put("r", b"abc")
        assert await store.get_range("r", 3, 10) == b""
        assert await store.get_range("r", 1000, 10) == b""

    async def test_get_range_of_an_empty_object_is_empty(self, store: ObjectStore) -> None:
        await store.put("e", b"")
        assert await store.get_range("e", 0, 10) == b""

    async def test_get_range_of_zero_length_is_empty(self, store: ObjectStore) -> None:
        await store.put("r", b"abc")
        assert await store.get_range("r", 1, 0) == b""

    @pytest.mark.parametrize(("start", "length"), [(0, 4), (0, 0), (100, 4)])
    async def test_get_range_of_a_missing_object_is_not_found(
        self, store: ObjectStore, start: int, length: int
    ) -> None:
        with pytest.raises(ObjectNotFoundError):
            await store.get_range("missing", start, length)

    # -- sized gets (the block read path) -------------------------------------------

    async def test_get_sized_returns_the_whole_object_as_a_view(self, store: ObjectStore) -> None:
        await store.put("s", PAYLOAD)
        view = await store.get_sized("s", len(PAYLOAD))
        assert isinstance(view, memoryview)
        assert view.readonly
        assert bytes(view) == PAYLOAD

    async def test_get_sized_with_a_wrong_size_gives_what_is_there(
        self, store: ObjectStore
    ) -> None:
        await store.put("s", PAYLOAD)
        assert bytes(await store.get_sized("s", 10)) == PAYLOAD[:10]  # longer: a prefix
        shorter = await store.get_sized("s", len(PAYLOAD) + 100)  # shorter: what it holds
        assert bytes(shorter) == PAYLOAD

    async def test_get_sized_from_a_start_gives_that_part(self, store: ObjectStore) -> None:
        """A block inside a pack: its bytes only, or what the object holds past ``start``."""
        await store.put("s", PAYLOAD)
        view = await store.get_sized("s", 7, start=3)
        assert isinstance(view, memoryview)
        assert bytes(view) == PAYLOAD[3:10]
        tail = await store.get_sized("s", len(PAYLOAD), start=len(PAYLOAD) - 2)
        assert bytes(tail) == PAYLOAD[-2:]
        assert bytes(await store.get_sized("s", 5, start=len(PAYLOAD))) == b""

    async def test_get_sized_of_an_empty_object(self, store: ObjectStore) -> None:
        await store.put("e", b"")
        assert bytes(await store.get_sized("e", 0)) == b""

    @pytest.mark.parametrize("size", [0, 4])
    async def test_get_sized_of_a_missing_object_is_not_found(
        self, store: ObjectStore, size: int
    ) -> None:
        with pytest.raises(ObjectNotFoundError):
            await store.get_sized("missing", size)

    # -- head ------------------------------------------------------------------------

    async def test_head_gives_size_and_the_put_etag(self, store: ObjectStore) -> None:
        etag = await store.put("h/obj", PAYLOAD)
        meta = await store.head("h/obj")
        assert meta.key == "h/obj"
        assert meta.size == len(PAYLOAD)
        assert meta.etag
        assert meta.etag == etag
        assert meta.last_modified is not None

    async def test_head_missing_is_object_not_found(self, store: ObjectStore) -> None:
        with pytest.raises(ObjectNotFoundError):
            await store.head("missing")

    # -- if_absent -------------------------------------------------------------------

    async def test_if_absent_creates_a_new_object(self, store: ObjectStore) -> None:
        await store.put("new", b"x", if_absent=True)
        assert await store.get("new") == b"x"

    async def test_if_absent_refuses_an_existing_object(self, store: ObjectStore) -> None:
        await store.put("taken", b"original")
        with pytest.raises(ObjectExistsError) as info:
            await store.put("taken", b"intruder", if_absent=True)
        assert isinstance(info.value, FileExistsError)
        assert await store.get("taken") == b"original"

    async def test_concurrent_if_absent_puts_have_one_winner(self, store: ObjectStore) -> None:
        async def attempt(i: int) -> bool:
            try:
                await store.put("race", f"writer {i}".encode(), if_absent=True)
            except ObjectExistsError:
                return False
            return True

        wins = await asyncio.gather(*(attempt(i) for i in range(8)))
        assert sum(wins) == 1
        assert await store.get("race") == f"writer {wins.index(True)}".encode()

    # -- delete ----------------------------------------------------------------------

    async def test_delete_removes(self, store: ObjectStore) -> None:
        await store.put("d", b"x")
        await store.delete("d")
        with pytest.raises(ObjectNotFoundError):
            await store.get("d")

    async def test_delete_is_idempotent(self, store: ObjectStore) -> None:
        await store.put("d", b"x")
        await store.delete("d")
        await store.delete("d")
        await store.delete("never/existed")

    # -- list ------------------------------------------------------------------------

    async def test_list_of_an_empty_store(self, store: ObjectStore) -> None:
        assert await keys_of(store) == set()
        assert await keys_of(store, "nothing/") == set()

    async def test_list_by_string_prefix(self, store: ObjectStore) -> None:
        for key in ["a/b", "a/bc", "a/bd/c", "a/x", "ab", "b"]:
            await store.put(key, b"1")
        assert await keys_of(store) == {"a/b", "a/bc", "a/bd/c", "a/x", "ab", "b"}
        assert await keys_of(store, "a/b") == {"a/b", "a/bc", "a/bd/c"}
        assert await keys_of(store, "a/bd/") == {"a/bd/c"}
        assert await keys_of(store, "a/bd/c") == {"a/bd/c"}
        assert await keys_of(store, "a") == {"a/b", "a/bc", "a/bd/c", "a/x", "ab"}
        assert await keys_of(store, "a/") == {"a/b", "a/bc", "a/bd/c", "a/x"}
        assert await keys_of(store, "c") == set()

    async def test_a_key_can_also_be_a_folder_of_keys(self, store: ObjectStore) -> None:
        if not self.keys_can_nest:
            pytest.skip("a local folder cannot hold a file and a folder of the same name")
        await store.put("n/k", b"file")
        await store.put("n/k/child", b"child")
        assert await keys_of(store, "n/k") == {"n/k", "n/k/child"}
        assert await keys_of(store, "n/k/") == {"n/k/child"}

    async def test_list_gives_size_and_etag(self, store: ObjectStore) -> None:
        etag = await store.put("m/obj", PAYLOAD)
        listed = [meta async for meta in store.list("m/")]
        assert listed == [ObjectMeta("m/obj", len(PAYLOAD), etag, listed[0].last_modified)]

    async def test_list_pages_transparently(self, store: ObjectStore) -> None:
        keys = [f"many/{i:05d}" for i in range(self.paging_objects)]
        await put_many(store, keys, b"x")
        await store.put("other", b"x")
        assert await keys_of(store, "many/") == set(keys)

    # -- prefixes, concurrency, close -----------------------------------------------

    async def test_prefix_isolates_stores(self, store_at: MakeStore) -> None:
        root, tenant = store_at(""), store_at("tenant/one")
        await tenant.put("k", b"t")
        await root.put("k", b"r")
        assert await keys_of(tenant) == {"k"}
        assert await keys_of(root) == {"k", "tenant/one/k"}
        assert await root.get("tenant/one/k") == b"t"
        assert (await tenant.head("k")).key == "k"

    async def test_concurrent_puts_and_gets(self, store: ObjectStore) -> None:
        blobs = {f"c/{i}": os.urandom(1000 + i) for i in range(64)}
        await asyncio.gather(*(store.put(k, v) for k, v in blobs.items()))
        got = await asyncio.gather(*(store.get(k) for k in blobs))
        assert dict(zip(blobs, got, strict=True)) == blobs

    async def test_close_is_idempotent(self, store_at: MakeStore) -> None:
        store = store_at("")
        await store.close()
        await store.close()

    async def test_description_is_a_non_empty_string(self, store: ObjectStore) -> None:
        assert isinstance(store.description, str)
        assert store.description
