"""BlockFetcher: shared, bounded, de-duplicated block reads.

Every read of stored data goes through one fetcher per filespace:

* a small in-memory LRU of plaintext blocks, bounded in bytes, so a handle reading a block
  in pieces (the kernel and the SDK read 128 KiB–1 MiB at a time) fetches it once;
* partial reads (:meth:`BlockFetcher.get_range`): a small random read of a block that is
  not in memory reads and authenticates only the 64 KiB frames it touches, from the disk
  cache if the block is there (whole blocks only), else with one ranged GET; the frames
  are kept in the memory cache by frame;
* one in-flight future per block id, so concurrent readers of the same block (and the
  read-ahead that asked for it first) share a single download;
* a semaphore bounding concurrent downloads;
* below memory, the disk cache of sealed blocks: a hit is authenticated like a download,
  and a cached copy that fails authentication (a truncated or flipped file) is discarded
  and fetched again from the store, never returned.  Fetched blocks are verified before
  they are cached: a download is fetched whole (one ranged GET of its known stored size,
  kept as a view of obstore's buffer), a cache slot is reserved for it at once
  (``DiskCache.reserve_fill``), and one worker thread decrypts it, hands the plaintext
  to the reader and then writes the sealed bytes into the slot; the cache commits the
  rows of such fills in batches.  A block that fails authentication is not written.
  At most ``MAX_INSERTS`` fills (and :meth:`BlockFetcher.cache_later` inserts) run
  behind the reads; a faster reader waits for them.

Blocks are immutable and named by random ids, so a cached block can never be stale; the
cache needs no invalidation, only eviction.

**Store outages.**  Memory and disk hits never touch the object store (nor does anything
else a cached read needs: metadata is the local engine), so cached data keeps reading
while the store is away.  A download that fails with a transient error
(:class:`~cloudfs.errors.StoreUnavailableError`: unreachable, timed out, 5xx, 429) is
retried with capped exponential backoff (``BACKOFF_FIRST`` doubling to ``BACKOFF_MAX``)
until ``store_wait`` seconds (``VfsOptions.store_wait_seconds``, default
``DEFAULT_STORE_WAIT`` = 10 s, or ``$CLOUDFS_STORE_WAIT``) have passed since the fetch
started; then the read fails with ``StoreUnavailableError``, an ``OSError`` with errno
``EIO``.  Once a failure has been seen the retries run under that deadline, so an attempt
still in flight is abandoned when it passes; a first attempt that has not failed is left
to the store's own timeouts (S3: ``cloudfs.store.config``), so a slow but working
download is never cut off.  Readers of one block share the in-flight fetch, hence one
wait; a partial (frame) read that finds the store unreachable joins the whole-block fetch
for the same reason.  Nothing is remembered about a failure (no cache entry, no in-flight
future once it ends), so the first read after the store returns fetches normally.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any, Protocol, TypeVar

from cloudfs._buffers import Bytes
from cloudfs.blocks.blockstore import BlockStore
from cloudfs.cache.disk import Fill
from cloudfs.cache.memory import MemoryCache
from cloudfs.codec.envelope import FRAME_SHIFT, FrameRange
from cloudfs.errors import ConfigurationError, IntegrityError, StoreUnavailableError
from cloudfs.meta.protocol import BlockRef

__all__ = [
    "DEFAULT_STORE_WAIT",
    "STORE_WAIT_ENV",
    "BlockFetcher",
    "SealedCache",
    "default_store_wait",
    "ride_out",
]

T = TypeVar("T")

MAX_INSERTS = 16  # disk-cache inserts in flight; a faster reader waits for them
DEFAULT_STORE_WAIT = 10.0  # seconds a read waits for an unreachable store before EIO
STORE_WAIT_ENV = "CLOUDFS_STORE_WAIT"
BACKOFF_FIRST = 0.1  # seconds before the first retry of a failed download
BACKOFF_MAX = 2.0  # the backoff doubles up to this


def default_store_wait() -> float:
    """``$CLOUDFS_STORE_WAIT`` (seconds, > 0) if set, else :data:`DEFAULT_STORE_WAIT`."""
    text = os.environ.get(STORE_WAIT_ENV, "").strip()
    if not text:
        return DEFAULT_STORE_WAIT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise ConfigurationError(
            f"{STORE_WAIT_ENV}={text!r} is not a positive number of seconds (e.g. 10)"
        )
    return seconds


async def ride_out(attempt: Callable[[], Awaitable[T]], store_wait: float, what: str) -> T:
    """``attempt()``, retried through a store outage of up to ``store_wait`` seconds.

    The first attempt runs under the store's own timeouts only; after a transient failure
    (:class:`StoreUnavailableError`), retries and capped exponential backoff run under the
    deadline, which cancels an attempt still in flight.  Past it:
    ``StoreUnavailableError`` (EIO) from the last failure, naming ``what``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + store_wait
    try:
        return await attempt()
    except StoreUnavailableError as e:
        failure = e
    delay = BACKOFF_FIRST
    timeout = asyncio.timeout_at(deadline)
    try:
        async with timeout:
            while True:
                await asyncio.sleep(delay)
                delay = min(2 * delay, BACKOFF_MAX)
                try:
                    return await attempt()
                except StoreUnavailableError as e:
                    failure = e
    except TimeoutError:
        if not timeout.expired():
            raise  # not ours: a timeout from below
    raise StoreUnavailableError(
        f"{what}: the object store was unreachable for {store_wait:g} s: {failure}",
        key=failure.key,
    ) from failure


def _frame_key(block_id: bytes, index: int) -> bytes:
    """The memory-cache key of one frame (block ids are 16 bytes, so keys never collide)."""
    return block_id + index.to_bytes(4, "big")


class SealedCache(Protocol):
    """What the fetcher needs of the disk cache."""

    def __contains__(self, block_id: object) -> bool: ...

    async def get_with(
        self,
        block_id: bytes,
        use: Callable[[memoryview], bytes],
        *,
        count: bool = True,
        start: int = 0,
        length: int | None = None,
    ) -> bytes | None: ...

    async def put_clean(self, block_id: bytes, sealed: Bytes) -> bool: ...

    def reserve_fill(self, block_id: bytes, size: int) -> Fill | None: ...

    def write_fill(self, fill: Fill, sealed: Bytes) -> None: ...

    def end_fill(self, fill: Fill) -> None: ...

    async def settle_fills(self) -> None: ...

    async def discard(self, ids: Iterable[bytes]) -> None: ...


class BlockFetcher:
    """Owned by one event loop; not thread-safe."""

    def __init__(
        self,
        blocks: BlockStore,
        *,
        memory_bytes: int,
        concurrency: int = 8,
        disk: SealedCache | None = None,
        store_wait: float = DEFAULT_STORE_WAIT,
    ) -> None:
        if not store_wait > 0:
            raise ConfigurationError(
                f"store_wait must be a positive number of seconds, not {store_wait}"
            )
        self.blocks = blocks
        self.disk = disk
        self.store_wait = store_wait
        self.memory = MemoryCache(memory_bytes)
        self._inflight: dict[bytes, asyncio.Future[bytes]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._inserts: set[asyncio.Future[Any]] = set()
        self._insert_slots = asyncio.Semaphore(MAX_INSERTS)
        self.hits = 0
        self.misses = 0
        self.partial_misses = 0

    async def get(self, ref: BlockRef) -> bytes:
        """The block's plaintext, from memory, a fetch in flight, or the store."""
        cached = self.memory.get(ref.id)
        if cached is not None:
            self.hits += 1
            return cached[: ref.size]
        future = self._inflight.get(ref.id)
        if future is None:
            future = self._start(ref)
        return (await asyncio.shield(future))[: ref.size]

    async def get_range(self, ref: BlockRef, start: int, end: int) -> tuple[bytes, int]:
        """Plaintext covering ``[start, end)`` of the block, and the block offset it starts at.

        The whole block (offset 0) when it is in memory, in the disk cache or in flight,
        or cannot be read in part; otherwise only the frames the range touches.
        """
        cached = self.memory.get(ref.id)
        if cached is not None:
            self.hits += 1
            return cached[: ref.size], 0
        frames = self.blocks.frames_for(ref, start, end)
        if frames is None or ref.id in self._inflight:
            return await self.get(ref), 0
        keys = [_frame_key(ref.id, i) for i in range(frames.first, frames.last_frame + 1)]
        parts = [self.memory.get(key) for key in keys]
        if all(part is not None for part in parts):
            self.hits += 1
            return b"".join(parts), frames.plain_offset  # type: ignore[arg-type]
        if self.disk is not None and ref.id in self.disk:
            plain = await self._cached_frames(self.disk, ref, frames)
            if plain is None:  # gone, or corrupt (discarded): the whole block decides
                return await self.get(ref), 0
        else:
            self.partial_misses += 1
            try:
                async with self._slots:
                    plain = await self.blocks.get_frames(ref, frames)
            except IntegrityError:
                return await self.get(ref), 0  # the whole block decides: refetched, checked
            except StoreUnavailableError:
                return await self.get(ref), 0  # one shared, bounded wait for the store
        size = 1 << FRAME_SHIFT
        for n, key in enumerate(keys):
            self.memory.put(key, plain[n * size : (n + 1) * size])
        return plain, frames.plain_offset

    async def _cached_frames(
        self, disk: SealedCache, ref: BlockRef, frames: FrameRange
    ) -> bytes | None:
        """The frames' plaintext from the cached copy's bytes alone, or None if it is gone or
        fails authentication (then it is discarded, and the caller fetches the block)."""
        try:
            return await disk.get_with(
                ref.id,
                partial(self.blocks.open_frames, ref, frames),
                start=frames.stored_start,
                length=frames.stored_end - frames.stored_start,
            )
        except IntegrityError:
            await disk.discard([ref.id])
            return None

    def prefetch(self, ref: BlockRef) -> None:
        """Start fetching ``ref`` in the background unless it is cached or in flight."""
        if ref.id not in self.memory and ref.id not in self._inflight:
            self._start(ref)

    def prefetch_many(self, refs: Iterable[BlockRef]) -> None:
        """:meth:`prefetch` each of ``refs`` (in file order); neighbours in one pack that
        are in no cache come down together, by one request for the run of them."""
        packed: dict[bytes, BlockRef] = {}  # by id: a block named twice comes down once
        for ref in refs:
            if ref.id in self.memory or ref.id in self._inflight:
                continue
            if ref.pack is None or (self.disk is not None and ref.id in self.disk):
                self._start(ref)
            else:
                packed.setdefault(ref.id, ref)
        for run in self.blocks.pack_runs(packed.values()):
            self._start_run(run)

    def _start(self, ref: BlockRef) -> asyncio.Future[bytes]:
        return self._track(ref, asyncio.ensure_future(self._fetch(ref)))

    def _start_run(self, run: list[BlockRef]) -> None:
        if len(run) == 1:
            self._start(run[0])
            return
        download = asyncio.ensure_future(self._download_run(run))
        for n, ref in enumerate(run):
            self._track(ref, asyncio.ensure_future(self._fetch_part(ref, download, n)))

    def _track(self, ref: BlockRef, task: asyncio.Future[bytes]) -> asyncio.Future[bytes]:
        self.misses += 1
        self._inflight[ref.id] = task
        task.add_done_callback(lambda t: self._done(ref.id, t))
        return task

    async def _fetch(self, ref: BlockRef) -> bytes:
        if self.disk is not None and ref.id in self.disk:
            try:  # read and open in one worker thread, straight from the read buffer
                plain = await self.disk.get_with(ref.id, partial(self.blocks.open_sealed, ref))
            except IntegrityError:
                await self.disk.discard([ref.id])  # corrupt on disk: fetch it again
            else:
                if plain is not None:
                    return plain
        return await self._opened(ref, await self._download(ref))

    async def cache_fetched(self, ref: BlockRef, sealed: bytes | memoryview) -> None:
        """Authenticate a block fetched for the disk cache alone (warm-up) and cache it
        the way a read's fetch does (:meth:`_opened`): one worker hop, its row committed
        with others.  The plaintext is dropped.  :class:`IntegrityError` if it fails."""
        await self._opened(ref, sealed)

    async def _fetch_part(
        self, ref: BlockRef, download: asyncio.Future[list[memoryview]], n: int
    ) -> bytes:
        """Block ``n`` of a run being downloaded together."""
        return await self._opened(ref, (await asyncio.shield(download))[n])

    async def _opened(self, ref: BlockRef, sealed: bytes | memoryview) -> bytes:
        """The plaintext of a block just downloaded, written to the disk cache on the way."""
        if self.disk is None:
            return await self.blocks.unseal(ref, sealed)
        await self._insert_slots.acquire()  # bounds the fills behind the reads
        fill = self.disk.reserve_fill(ref.id, len(sealed))
        if fill is None:
            self._insert_slots.release()
            return await self.blocks.unseal(ref, sealed)
        return await self._open_and_fill(ref, sealed, self.disk, fill)

    async def _open_and_fill(
        self, ref: BlockRef, sealed: bytes | memoryview, disk: SealedCache, fill: Fill
    ) -> bytes:
        """Decrypt in a worker thread, hand the plaintext over, then (same thread, off
        the read path) write the sealed block into its cache slot: one hop for both.
        A block that fails authentication is not cached."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[bytes] = loop.create_future()

        def work() -> None:
            try:
                plain = self.blocks.open_sealed(ref, sealed)
            except BaseException as e:
                loop.call_soon_threadsafe(_resolve, ready, None, e)
                return
            loop.call_soon_threadsafe(_resolve, ready, plain, None)
            disk.write_fill(fill, sealed)

        job = loop.run_in_executor(None, work)
        self._inserts.add(job)
        job.add_done_callback(partial(self._filled, disk, fill))
        return await ready

    def _filled(self, disk: SealedCache, fill: Fill, job: asyncio.Future[None]) -> None:
        self._inserts.discard(job)
        self._insert_slots.release()
        if not job.cancelled():
            job.exception()  # a failed slot write only costs a later miss
        disk.end_fill(fill)

    async def _download(self, ref: BlockRef) -> bytes | memoryview:
        """The sealed block from the store, riding out an outage of up to ``store_wait``."""
        return await ride_out(partial(self._attempt, ref), self.store_wait, f"block {ref.id.hex()}")

    async def _attempt(self, ref: BlockRef) -> bytes | memoryview:
        async with self._slots:  # not held while backing off
            return await self.blocks.download(ref)

    async def _download_run(self, run: list[BlockRef]) -> list[memoryview]:
        """Neighbours in one pack, by one request, riding out an outage like one block."""

        async def attempt() -> list[memoryview]:
            async with self._slots:
                return await self.blocks.download_run(run)

        pack = run[0].pack.hex() if run[0].pack else ""
        return await ride_out(attempt, self.store_wait, f"pack {pack}")

    async def cache_later(self, block_id: bytes, sealed: Bytes | Callable[[], Bytes]) -> None:
        """Insert into the disk cache in the background, at most ``MAX_INSERTS`` at once
        (the caller waits only when that many are in flight).  ``sealed`` may be a function
        that seals the block, run in a worker thread by the background task."""
        assert self.disk is not None
        # A semaphore, not ``asyncio.wait`` on the set: that re-registers a callback on
        # every insert in flight each time, which cost a quarter of the event loop's
        # time on a cold read whose fill lagged behind (py-spy).
        await self._insert_slots.acquire()
        task = asyncio.ensure_future(self._insert(self.disk, block_id, sealed))
        self._inserts.add(task)
        task.add_done_callback(self._inserted)

    async def settle(self) -> None:
        """Wait for the disk-cache inserts in flight and the commit of their rows: what
        was fetched is then cached (unless the cache had no room)."""
        if self._inserts:
            await asyncio.wait(list(self._inserts))
        if self.disk is not None:
            await self.disk.settle_fills()

    @staticmethod
    async def _insert(
        disk: SealedCache, block_id: bytes, sealed: Bytes | Callable[[], Bytes]
    ) -> bool:
        if callable(sealed):
            sealed = await asyncio.to_thread(sealed)
        return await disk.put_clean(block_id, sealed)

    def _inserted(self, task: asyncio.Future[bool]) -> None:
        self._inserts.discard(task)
        self._insert_slots.release()
        if not task.cancelled():
            task.exception()  # a failed insert only costs a later miss

    def _done(self, block_id: bytes, task: asyncio.Future[bytes]) -> None:
        self._inflight.pop(block_id, None)
        if task.cancelled() or task.exception() is not None:
            return
        self.remember(block_id, task.result())

    def remember(self, block_id: bytes, data: bytes) -> None:
        """Keep a block just read, evicting the least recently used."""
        self.memory.put(block_id, data)

    def clear(self) -> None:
        self.memory.clear()


def _resolve(
    future: asyncio.Future[bytes], result: bytes | None, error: BaseException | None
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert result is not None
        future.set_result(result)
