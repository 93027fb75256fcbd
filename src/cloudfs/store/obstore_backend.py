"""One :class:`~cloudfs.store.protocol.ObjectStore` over obstore for S3, a local folder and memory.

obstore's ``S3Store``, ``LocalStore`` and ``MemoryStore`` share one API (``put_async``,
``get_async``, ``get_range_async``, ``head_async``, ``delete_async``, ``list``), so a single
class serves all three; only construction differs (:meth:`ObstoreStore.s3`,
:meth:`~ObstoreStore.local`, :meth:`~ObstoreStore.memory`).  What this class adds on top:

**Prefix.**  Keys are stored as ``prefix/key``; :meth:`~ObstoreStore.list` strips the
prefix again.  It is applied here rather than by obstore so that it behaves the same on
every backend (``MemoryStore`` has no prefix of its own).

**Keys.**  ``/``-separated segments, none empty, ``.`` or ``..`` and none ending in
``#<digits>`` (``LocalStore`` names its temporary files that way), no control characters,
no leading or trailing ``/``.  obstore would otherwise silently normalise some keys
(``MemoryStore`` turns ``/a`` into ``a``) and reject others; a bad key is a caller bug and
raises ``ValueError`` before any I/O.

**Listing by string prefix.**  obstore lists by *path segment*: prefix ``a/b`` finds
``a/b/x`` but not ``a/bc``.  The protocol promises plain string prefixes, so we list the
enclosing "directory" (everything up to the last ``/``) and filter.  obstore pages
through ListObjectsV2 continuation tokens itself; we take its batches of up to 1,000.

**Ranges.**  obstore rejects an empty range and a range that starts at or past the end of
the object (HTTP 416, or ``StartTooLarge`` locally).  The protocol answers both with
``b""``: a zero length returns at once; a 416 is answered ``b""`` after a HEAD confirms
the object exists (so a missing object still raises ``ObjectNotFoundError``).

**Puts** are single requests (never multipart: blocks are at most 16 MiB and one PUT keeps
the ETag an MD5 and the write atomic).  ``if_absent`` is obstore's ``mode="create"``:
``If-None-Match: *`` on S3, a hard link that fails if the target exists on a local folder.
``LocalStore`` writes to a temporary file beside the target and renames it into place, so
readers never see a partial object.

**Two S3 clients.**  Reads and deletes go through a client with a read timeout (a server
that stalls fails in seconds); puts go through one without, because the HTTP client also
counts the read timeout while the request body is still being sent.  See
:mod:`cloudfs.store.config` for the timeout settings.  They bound one call (obstore's own
retries included: refused connections fail in well under a second, a stalled server after
about ``read_timeout``); riding out a longer outage is the caller's choice — reads wait
a bounded time (:mod:`cloudfs.vfs.fetch`), uploads retry until the store returns
(:mod:`cloudfs.cache.writeback`).

**Errors** are translated by the single table in :mod:`cloudfs.store.translate`.  State is
owned by whichever event loop calls in; obstore's stores are thread-safe and need no close.
"""

from __future__ import annotations

import atexit
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import obstore
from obstore.store import LocalStore, MemoryStore, S3Store

from cloudfs._buffers import Bytes
from cloudfs.errors import ConfigurationError, ObjectNotFoundError, StoreError
from cloudfs.store.config import LocalStoreConfig, S3StoreConfig, StoreConfig
from cloudfs.store.protocol import ObjectMeta, ObjectStore
from cloudfs.store.translate import is_unsatisfiable_range, translate

if TYPE_CHECKING:
    from obstore import ObjectMeta as NativeMeta
    from obstore.store import ClientConfig, RetryConfig, S3Config

    NativeStore = S3Store | LocalStore | MemoryStore

__all__ = ["ObstoreStore", "check_key", "open_store"]

_LIST_PAGE = 1000
_BAD_SEGMENT = re.compile(r"^(|\.|\.\.|.*#\d+)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_key(key: str) -> None:
    """Raise ``ValueError`` unless ``key`` is a key every backend stores unchanged."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"object key must be a non-empty string, not {key!r}")
    if _CONTROL.search(key) or any(_BAD_SEGMENT.match(s) for s in key.split("/")):
        raise ValueError(
            f"object key {key!r} is not allowed: use '/'-separated segments that are not "
            "empty, '.', '..' or end in '#<digits>', without control characters"
        )


def open_store(config: StoreConfig) -> ObjectStore:
    """Validate ``config`` and open the store it describes."""
    config.validate()
    if isinstance(config, S3StoreConfig):
        return ObstoreStore.s3(config)
    if isinstance(config, LocalStoreConfig):
        return ObstoreStore.local(config)
    return ObstoreStore.memory()


_EXIT_GRACE = 0.05  # seconds the interpreter waits at exit for obstore's threads
_exit_guard = threading.Lock()
_exit_registered = False


def _guard_exit() -> None:
    """Make the interpreter's exit wait a moment for obstore's runtime threads.

    obstore completes each Python future from one of its tokio threads by calling the
    event loop's ``call_soon_threadsafe``, which drops the GIL to write the loop's wake-up
    socket and takes it again.  If the program has already received its result and
    begun to exit meanwhile, CPython (before 3.14) makes a foreign thread that asks for
    the GIL during finalization call ``pthread_exit``, whose unwinding through Rust frames
    aborts the process: exit status 134 after the work was done (seen in ~8 % of
    short-lived processes on this 2-core machine; core dump: ``take_gil`` →
    ``PyThread_exit_thread`` under ``pyo3_async_runtimes::generic::set_result``).  An
    ``atexit`` handler runs before that point while other threads may still take the GIL;
    sleeping a moment there lets a thread in that window finish.
    """
    global _exit_registered
    with _exit_guard:
        if not _exit_registered:
            atexit.register(time.sleep, _EXIT_GRACE)
            _exit_registered = True


class ObstoreStore:
    """An :class:`~cloudfs.store.protocol.ObjectStore` backed by an obstore store."""

    def __init__(
        self,
        reader: NativeStore,
        *,
        writer: NativeStore | None = None,
        prefix: str = "",
        description: str,
    ) -> None:
        _guard_exit()
        self._reader = reader
        self._writer = writer if writer is not None else reader
        self._prefix = prefix.strip("/")
        self._description = description
        self._closed = False

    # -- construction ---------------------------------------------------------------

    @classmethod
    def memory(cls) -> ObstoreStore:
        """A store in process memory; its objects are gone with it."""
        return cls(MemoryStore(), description="memory://")

    @classmethod
    def local(cls, config: LocalStoreConfig) -> ObstoreStore:
        """A store in a local folder, created with its parents if missing."""
        root = Path(config.root).expanduser().resolve()
        description = _with_prefix(f"file://{root}", config.prefix)
        try:
            root.mkdir(parents=True, exist_ok=True)
            native = LocalStore(root)
        except Exception as e:
            raise translate(e, store=description, op="open", key="") from e
        return cls(native, prefix=config.prefix, description=description)

    @classmethod
    def s3(cls, config: S3StoreConfig) -> ObstoreStore:
        """A store in an S3 bucket.  Nothing is sent until the first operation."""
        where = f" at {config.endpoint}" if config.endpoint else ""
        description = _with_prefix(f"s3://{config.bucket}", config.prefix) + where
        try:
            reader = _native_s3(config, read_timeout=True)
            writer = _native_s3(config, read_timeout=False)
        except Exception as e:
            message = f"cannot open {description}: {str(e).splitlines()[0] if str(e) else e!r}"
            raise ConfigurationError(message) from e
        return cls(reader, writer=writer, prefix=config.prefix, description=description)

    # -- the ObjectStore interface ---------------------------------------------------

    @property
    def description(self) -> str:
        """Where this store lives, for messages (never includes a secret)."""
        return self._description

    async def put(self, key: str, data: Bytes, *, if_absent: bool = False) -> str | None:
        """Store ``data`` under ``key`` in one atomic request; return the ETag.

        Idempotent for the same bytes.  With ``if_absent`` the put fails with
        ``ObjectExistsError`` when the key exists, atomically on every backend.
        """
        path = self._path(key)
        body = memoryview(data).cast("B") if isinstance(data, memoryview) else data
        mode: Literal["create", "overwrite"] = "create" if if_absent else "overwrite"
        with self._errors("put", key):
            result = await obstore.put_async(
                self._writer, path, body, mode=mode, use_multipart=False
            )
        etag: str | None = result["e_tag"]
        return etag

    async def get(self, key: str) -> bytes:
        """The whole object.  ``ObjectNotFoundError`` if it does not exist."""
        path = self._path(key)
        with self._errors("get", key):
            result = await obstore.get_async(self._reader, path)
            return bytes(await result.bytes_async())

    async def get_sized(self, key: str, size: int, *, start: int = 0) -> memoryview:
        """The whole object of known ``size`` in one ranged request, without a copy.

        (:meth:`get` takes two round trips through obstore's runtime, a request then its
        body, and copies the body into ``bytes``: ~0.4 CPU-s per GiB more, measured.)
        """
        return await self._range_view("get", key, start, size)

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes from ``start``: fewer at the end, ``b""`` at or past it.

        ``ObjectNotFoundError`` if the object does not exist (even for a zero length).
        """
        return bytes(await self._range_view("get_range", key, start, length))

    async def _range_view(self, op: str, key: str, start: int, length: int) -> memoryview:
        path = self._path(key)
        if start < 0 or length < 0:
            raise ValueError(f"range start and length must be >= 0, not {start}, {length}")
        if length == 0:
            await self.head(key)
            return memoryview(b"")
        try:
            with self._errors(op, key):
                data = await obstore.get_range_async(self._reader, path, start=start, length=length)
                return memoryview(data)
        except StoreError as e:
            if not is_unsatisfiable_range(e.__cause__ or e):
                raise
        await self.head(key)
        return memoryview(b"")

    async def head(self, key: str) -> ObjectMeta:
        """Size and ETag without the data.  ``ObjectNotFoundError`` if missing."""
        path = self._path(key)
        with self._errors("head", key):
            native = await obstore.head_async(self._reader, path)
        return self._meta(native)

    async def delete(self, key: str) -> None:
        """Remove the object.  Idempotent: deleting a missing key succeeds."""
        path = self._path(key)
        try:
            with self._errors("delete", key):
                await obstore.delete_async(self._reader, path)
        except ObjectNotFoundError:
            pass  # LocalStore reports a missing file; S3 and memory do not.

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectMeta]:
        """Every object whose key starts with ``prefix``, in pages of up to 1,000."""
        self._check_open()
        wanted = self._full(prefix)
        directory = wanted.rpartition("/")[0] or None
        with self._errors("list", prefix):
            stream = obstore.list(self._reader, directory, chunk_size=_LIST_PAGE)
        while True:
            with self._errors("list", prefix):
                try:
                    batch = await stream.__anext__()
                except StopAsyncIteration:
                    return
            for native in batch:
                if native["path"].startswith(wanted):
                    yield self._meta(native)

    async def close(self) -> None:
        """Stop accepting calls.  Idempotent.  obstore frees its clients when dropped."""
        self._closed = True

    def __repr__(self) -> str:
        return f"ObstoreStore({self._description!r})"

    # -- helpers -------------------------------------------------------------------------

    def _full(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    def _path(self, key: str) -> str:
        self._check_open()
        check_key(key)
        return self._full(key)

    def _meta(self, native: NativeMeta) -> ObjectMeta:
        key = native["path"][len(self._prefix) + 1 :] if self._prefix else native["path"]
        return ObjectMeta(
            key=key,
            size=native["size"],
            etag=native["e_tag"],
            last_modified=native["last_modified"],
        )

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"{self._description}: the store is closed")

    @contextmanager
    def _errors(self, op: str, key: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except Exception as e:
            raise translate(e, store=self._description, op=op, key=key) from e


def _with_prefix(url: str, prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{url.rstrip('/')}/{prefix}" if prefix else url


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _native_s3(config: S3StoreConfig, *, read_timeout: bool) -> S3Store:
    client: ClientConfig = {
        "allow_http": config.http_allowed,
        "connect_timeout": _seconds(config.connect_timeout),
        "timeout": _seconds(config.request_timeout),
    }
    if read_timeout:
        client["read_timeout"] = _seconds(config.read_timeout)
    retry: RetryConfig = {
        "max_retries": config.max_retries,
        "retry_timeout": _seconds(config.retry_timeout),
        "backoff": {"init_backoff": _seconds(0.1), "max_backoff": _seconds(2), "base": 2},
    }
    return S3Store(
        config.bucket, config=_s3_settings(config), client_options=client, retry_config=retry
    )


def _s3_settings(config: S3StoreConfig) -> S3Config:
    settings: dict[str, Any] = {
        "region": config.region,
        "virtual_hosted_style_request": config.virtual_hosted_style,
        # Over TLS, sign requests without hashing their bodies (``UNSIGNED-PAYLOAD``, as
        # the AWS SDKs do over HTTPS): TLS already protects the bytes on the wire, every
        # block is AEAD-sealed and the descriptor signed, and SHA-256 of each body was 10 %
        # of the write path's CPU.  Over plain HTTP the hash is the only check the server
        # makes that the body arrived intact, so it stays.
        "unsigned_payload": not _plain_http(config),
    }
    if config.endpoint:
        settings["endpoint"] = _endpoint_url(config)
    if config.access_key:
        settings["access_key_id"] = config.access_key
        settings["secret_access_key"] = config.secret_key
    s3_config: S3Config = settings  # type: ignore[assignment]
    return s3_config


def _plain_http(config: S3StoreConfig) -> bool:
    return urlsplit(config.endpoint).scheme == "http" if config.endpoint else False


def _endpoint_url(config: S3StoreConfig) -> str:
    """The endpoint obstore wants: the bucket's own host for virtual-hosted style."""
    url = urlsplit(config.endpoint.rstrip("/"))
    if not config.virtual_hosted_style:
        return urlunsplit(url)
    return urlunsplit(url._replace(netloc=f"{config.bucket}.{url.netloc}"))
