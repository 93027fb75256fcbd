"""Bulk import: mirror every object under an S3 prefix as external files.

``cloudfs connect import s3://BUCKET/PREFIX DEST --store NAME`` runs :class:`Importer`.
The mechanism:

1. Load the links this import made before: those of the store whose ``origin`` is the
   destination directory and whose key is under the prefix (one paged query, keys
   decrypted in memory).
2. Walk the bucket listing (ListObjectsV2 pages of up to 1,000; size and ETag come with
   the listing, so no object is HEADed).  A new key is linked at ``DEST/<key minus
   prefix>``, with its directories created as needed; a key whose ETag or size changed
   is relinked (the entry stays where it is, even if it was moved); an unchanged key is
   left alone.
3. What was linked before and is no longer listed is unlinked.

Links are written :data:`BATCH` at a time, one transaction each (one transaction per
link would cap the embedded engine at a few hundred a second), and the next batch is
prepared (names and keys encrypted) while the engine's thread writes the previous one.
Every batch commits on its own, so an interrupted import keeps what it did and a re-run
does only the rest: that is what makes it resumable.  A batch that fails because a name
is taken is retried link by link, and the names that are taken are counted as skipped.

Keys that cannot be file paths (a trailing ``/`` directory marker, empty, ``.`` or
``..`` segments, a segment longer than 255 bytes) are skipped and counted.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass

from cloudfs.connect.manager import ConnectManager
from cloudfs.connect.objects import ObjectInfo
from cloudfs.meta.connect import ExternalLink, LinkSpec, Relink
from cloudfs.vfs import paths
from cloudfs.vfs.core import NAME_MAX

__all__ = ["BATCH", "ImportReport", "Importer"]

BATCH = 1000


@dataclass
class ImportReport:
    listed: int = 0
    linked: int = 0
    relinked: int = 0
    unlinked: int = 0
    unchanged: int = 0
    skipped: int = 0


class Importer:
    """Mirrors a prefix of a data store into a directory.  Runs on the client's loop."""

    def __init__(self, manager: ConnectManager, *, batch: int = BATCH) -> None:
        self.manager = manager
        self.batch = batch
        self._dirs: dict[str, int] = {}
        self._writing: asyncio.Task[None] | None = None

    def run(
        self,
        store: str,
        prefix: str,
        dest: str,
        *,
        listing: AsyncIterable[list[ObjectInfo]] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Mirror ``prefix`` of ``store`` into ``dest``; ``listing`` replaces the bucket's."""
        self.manager._require()
        return self.manager._run(self._guarded(store, prefix, dest, listing, progress))

    async def _guarded(
        self,
        store: str,
        prefix: str,
        dest: str,
        listing: AsyncIterable[list[ObjectInfo]] | None,
        progress: Callable[[int], None] | None,
    ) -> ImportReport:
        """:meth:`_run`, never leaving a batch being written behind when it fails."""
        try:
            return await self._run(store, prefix, dest, listing, progress)
        finally:
            writing, self._writing = self._writing, None
            if writing is not None:
                await asyncio.wait([writing])
                if not writing.cancelled():
                    writing.exception()  # retrieved: the first error is the one raised

    async def _run(
        self,
        store: str,
        prefix: str,
        dest: str,
        listing: AsyncIterable[list[ObjectInfo]] | None,
        progress: Callable[[int], None] | None,
    ) -> ImportReport:
        m = self.manager
        record = await m._store(store)
        dest_full = m._full(dest)
        origin = await m._ensure_dir(dest_full)
        self._dirs = {paths.normalize(dest_full): origin}
        before = await self._previous(record.id, origin, prefix)
        report = ImportReport()
        pages = listing if listing is not None else m._objects.list(record.id, prefix)
        pending: list[tuple[LinkSpec, str]] = []
        relinks: list[Relink] = []
        async for page in _pages(pages):
            for obj in page:
                report.listed += 1
                old = before.pop(obj.key, None)
                if old is not None:
                    if old.etag == obj.etag and old.size == obj.size:
                        report.unchanged += 1
                    else:
                        relinks.append(Relink(old.ino, obj.etag, obj.size))
                    continue
                parts = _path_parts(obj.key[len(prefix) :])
                if parts is None:
                    report.skipped += 1
                    continue
                spec = await self._spec(record.id, dest_full, parts, obj, origin)
                pending.append((spec, "/".join(parts)))
            if len(pending) >= self.batch:
                await self._submit(pending, report)
                pending = []
            if len(relinks) >= self.batch:
                await m._meta.relink_external(relinks)
                report.relinked += len(relinks)
                relinks = []
            if progress is not None:
                progress(len(page))
        await self._submit(pending, report)
        await self._submit([], report)  # wait for the last batch
        if relinks:
            await m._meta.relink_external(relinks)
            report.relinked += len(relinks)
        gone = [link.ino for link in before.values()]
        for start in range(0, len(gone), self.batch):
            report.unlinked += await m._meta.unlink_external(gone[start : start + self.batch])
        return report

    async def _previous(self, store_id: int, origin: int, prefix: str) -> dict[str, ExternalLink]:
        m = self.manager
        found: dict[str, ExternalLink] = {}
        after = 0
        while page := await m._meta.external_page(store_id, after, 10_000, origin=origin):
            for link in page:
                key = m._objects.open_key(link)
                if key.startswith(prefix):
                    found[key] = link
            after = page[-1].id
        return found

    async def _spec(
        self, store_id: int, dest: str, parts: list[str], obj: ObjectInfo, origin: int
    ) -> LinkSpec:
        m = self.manager
        directory = "/".join([dest.rstrip("/"), *parts[:-1]]) or "/"
        parent = self._dirs.get(directory)
        if parent is None:
            parent = self._dirs[directory] = await m._ensure_dir(directory)
        name = m._vfs.cipher.seal_name(parent, parts[-1])
        key = m._objects.seal_key(store_id, obj.key)
        return LinkSpec(parent, name, store_id, key, obj.etag, obj.size, origin)

    async def _submit(self, pending: list[tuple[LinkSpec, str]], report: ImportReport) -> None:
        """Write a batch in the background while the next one is prepared (after the
        previous batch is written, so batches commit in order)."""
        writing, self._writing = self._writing, None
        if writing is not None:
            await writing
        if pending:
            self._writing = asyncio.ensure_future(self._flush(pending, report))

    async def _flush(self, pending: list[tuple[LinkSpec, str]], report: ImportReport) -> None:
        if not pending:
            return
        meta = self.manager._meta
        uid, gid = os.getuid(), os.getgid()
        try:
            await meta.link_external([spec for spec, _ in pending], uid, gid)
            report.linked += len(pending)
            return
        except FileExistsError:
            pass
        for spec, _ in pending:  # one by one: link what can be, count what is taken
            try:
                await meta.link_external([spec], uid, gid)
                report.linked += 1
            except FileExistsError:
                report.skipped += 1


async def _pages(pages: AsyncIterable[list[ObjectInfo]]) -> AsyncIterator[list[ObjectInfo]]:
    async for page in pages:
        yield page


def _path_parts(relative: str) -> list[str] | None:
    """The path components of a key below the prefix, or None if it cannot be a file."""
    parts = relative.lstrip("/").split("/")
    if not parts or any(p in ("", ".", "..") for p in parts) or "\0" in relative:
        return None
    if any(len(p.encode("utf-8", "surrogateescape")) > NAME_MAX for p in parts):
        return None
    return parts
