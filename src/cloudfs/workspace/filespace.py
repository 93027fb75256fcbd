"""Creating and opening a filespace of the embedded workspace.

Opening assembles the layers in one place: the object store from the filespace's store
config, the SQLite metadata engine, the descriptor (unlocked with a passphrase or a
service-account token), the subkeys, the block codec and name cipher, and the VFS on top.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cloudfs.blocks.blockstore import BlockStore
from cloudfs.blocks.layout import PACK_BYTES
from cloudfs.cache.pins import PinStore
from cloudfs.codec.crypto import NameCipher, SecretBox
from cloudfs.codec.descriptor import (
    CONNECT_FEATURE,
    CONNECT_FORMAT_VERSION,
    MAX_FORMAT_VERSION,
    FilespaceDescriptor,
)
from cloudfs.codec.envelope import BlockCodec
from cloudfs.codec.keys import KdfParams, Subkeys, make_token_slot
from cloudfs.connect.objects import LinkedObjects
from cloudfs.errors import StoreError, UnsupportedFormatError
from cloudfs.meta.protocol import MetaStore
from cloudfs.meta.sqlite import SqliteMetaStore
from cloudfs.store.config import LocalStoreConfig, StoreConfig, store_config_from_dict
from cloudfs.store.obstore_backend import open_store
from cloudfs.store.protocol import ObjectStore
from cloudfs.vfs.core import Capacity, Vfs, VfsOptions, unbounded_capacity
from cloudfs.vfs.names import Cipher
from cloudfs.vfs.pinning import Pinner
from cloudfs.workspace.registry import FilespaceRecord, Registry, Token
from cloudfs.workspace.state import ClientState

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DESCRIPTOR_KEY",
    "OpenFilespace",
    "Secret",
    "add_token_slot",
    "create_filespace",
    "enable_connect",
    "open_filespace",
    "remove_token_slot",
    "upgrade_filespace",
]

DESCRIPTOR_KEY = "cloudfs-descriptor"
DEFAULT_BLOCK_SIZE = 63 * 64 * 1024
"""4,032 KiB: the most 64 KiB frames whose sealed object stays within 4 MiB, the chunk size
of Ceph's radosgw (chosen by measurement: docs/decisions/0015 and 0016)."""


@dataclass(frozen=True)
class Secret:
    """What unlocks a filespace: a passphrase or a service-account token."""

    passphrase: str | None = field(default=None, repr=False)
    token: Token | None = None

    def material(self) -> str | bytes:
        """The passphrase (text) or the token's secret (bytes): what unwraps a key slot."""
        if self.token is not None:
            return self.token.secret
        if self.passphrase is not None:
            return self.passphrase
        raise ValueError("no passphrase or token given")


@dataclass
class OpenFilespace:
    """The assembled layers of one open filespace."""

    record: FilespaceRecord
    descriptor: FilespaceDescriptor
    store: ObjectStore
    meta: MetaStore
    vfs: Vfs
    state: ClientState
    objects: LinkedObjects
    pinner: Pinner | None = None

    async def close(self, *, drain: bool = True) -> None:
        """Close the layers; with ``drain``, every pending write is committed first."""
        try:
            if self.pinner is not None:
                await self.pinner.close()
            await self.vfs.close(drain=drain)
        finally:
            try:
                await self.state.close()
            finally:
                await self.meta.close()
                await self.store.close()


def _store_config(registry: Registry, record: FilespaceRecord) -> StoreConfig:
    config = store_config_from_dict(record.store)
    if isinstance(config, LocalStoreConfig) and not config.root.is_absolute():
        return LocalStoreConfig(root=registry.home / config.root, prefix=config.prefix)
    return config


def _meta_path(registry: Registry, record: FilespaceRecord) -> Path:
    return registry.filespace_dir(record) / "meta.sqlite"


async def create_filespace(
    registry: Registry,
    name: str,
    passphrase: str,
    *,
    store: StoreConfig | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    kdf: KdfParams | None = None,
) -> FilespaceRecord:
    """Create a filespace: descriptor in the store and the engine, then register it."""
    if not name or "/" in name:
        raise ValueError(f"invalid filespace name {name!r}")
    descriptor, _master = FilespaceDescriptor.create(
        block_size, passphrase, kdf or KdfParams.default()
    )
    fs_id = uuid.UUID(bytes=descriptor.filespace_id).hex
    stored = (
        store.to_dict()
        if store is not None
        else LocalStoreConfig(root=Path("filespaces") / fs_id / "objects").to_dict()
    )
    record = FilespaceRecord(id=fs_id, name=name, created_ns=descriptor.created_ns, store=stored)
    folder = registry.filespace_dir(record)
    folder.mkdir(parents=True, exist_ok=False)
    try:
        object_store = open_store(_store_config(registry, record))
        try:
            await object_store.put(DESCRIPTOR_KEY, descriptor.to_bytes(), if_absent=True)
        finally:
            await object_store.close()
        meta = await SqliteMetaStore.open(_meta_path(registry, record))
        try:
            await meta.format(
                descriptor.to_bytes(),
                block_size=block_size,
                root_mode=0o755,
                uid=os.getuid(),
                gid=os.getgid(),
            )
        finally:
            await meta.close()
        return registry.add_filespace(name, stored, id=fs_id)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


async def open_filespace(
    registry: Registry,
    record: FilespaceRecord,
    secret: Secret,
    *,
    options: VfsOptions | None = None,
    state_root: Path | None = None,
    cache_bytes: int | None = None,
) -> OpenFilespace:
    """Open ``record``: check the store is reachable, unlock keys, build the VFS.

    ``state_root`` holds the disk cache and the write-back journal (see ``state``); without
    one the client writes through a private temporary cache.
    """
    store = open_store(_store_config(registry, record))
    meta: MetaStore | None = None
    state: ClientState | None = None
    try:
        await store.head(DESCRIPTOR_KEY)  # reachable, right credentials, right place
        meta = await SqliteMetaStore.open(_meta_path(registry, record))
        raw, _version = await meta.get_descriptor()
        descriptor = FilespaceDescriptor.from_bytes(raw)
        master = descriptor.unlock(secret.material())
        keys = Subkeys.derive(master, descriptor.filespace_id)
        blocks = BlockStore(
            store,
            BlockCodec(
                keys.data, descriptor.filespace_id, envelope_version=descriptor.envelope_version
            ),
            descriptor.block_size,
            pack_bytes=PACK_BYTES if descriptor.packs else 0,
        )
        cipher = Cipher(NameCipher(keys.names), SecretBox(keys.secrets))
        objects = LinkedObjects(meta, cipher)
        state = await ClientState.open(state_root, record.id, cache_bytes=cache_bytes)
        options = dataclasses.replace(options or VfsOptions(), write_through=state.write_through)
        vfs = Vfs(
            meta,
            blocks,
            cipher,
            disk=state.disk,
            journal=state.journal,
            options=options,
            capacity=_capacity(store, registry),
            external=objects,
        )
        await vfs.start()
        opened = OpenFilespace(record, descriptor, store, meta, vfs, state, objects)
        if not state.write_through:  # this process owns the cache: it keeps the pins
            opened.pinner = Pinner(vfs, state.disk, PinStore(state.pins_path))
            opened.pinner.start()
        return opened
    except BaseException:
        if state is not None:
            await state.close()
        if meta is not None:
            await meta.close()
        await store.close()
        raise


def _capacity(store: ObjectStore, registry: Registry) -> Capacity:
    """statfs sizes: the disk's for a local folder, 'used + 1 PiB' for an object store."""
    if not store.description.startswith("file://"):
        return unbounded_capacity

    def local(used: int) -> tuple[int, int]:
        st = os.statvfs(registry.home)
        return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize

    return local


async def _edit_descriptor(
    registry: Registry,
    record: FilespaceRecord,
    edit: Callable[[FilespaceDescriptor], FilespaceDescriptor],
) -> None:
    meta = await SqliteMetaStore.open(_meta_path(registry, record))
    try:
        raw, version = await meta.get_descriptor()
        descriptor = edit(FilespaceDescriptor.from_bytes(raw))
        await meta.put_descriptor(descriptor.to_bytes(), expected_version=version)
    finally:
        await meta.close()
    store = open_store(_store_config(registry, record))
    with contextlib.suppress(StoreError):
        await store.delete(DESCRIPTOR_KEY)
        await store.put(DESCRIPTOR_KEY, descriptor.to_bytes())
    await store.close()


async def add_token_slot(
    registry: Registry, record: FilespaceRecord, passphrase: str, token: Token
) -> None:
    """Let ``token`` open ``record`` (unlocking it with ``passphrase`` first)."""

    def edit(descriptor: FilespaceDescriptor) -> FilespaceDescriptor:
        master = descriptor.unlock(passphrase)
        slot = make_token_slot(master, token.secret, descriptor.filespace_id, token.slot_id)
        return descriptor.add_slot(slot)

    await _edit_descriptor(registry, record, edit)


async def remove_token_slot(registry: Registry, record: FilespaceRecord, key_id: str) -> None:
    await _edit_descriptor(registry, record, lambda d: d.remove_slot(Token(key_id, b"").slot_id))


async def upgrade_filespace(
    registry: Registry, record: FilespaceRecord, secret: Secret
) -> tuple[int, int]:
    """Move ``record`` forward to the newest format; the (old, new) format versions.

    Only the descriptor changes (re-MACed with the master key): blocks already written
    stay as they are and stay readable, new blocks use the new format's envelope.
    """
    versions: list[int] = []

    def edit(descriptor: FilespaceDescriptor) -> FilespaceDescriptor:
        master = descriptor.unlock(secret.material())
        versions[:] = [descriptor.format_version]
        if descriptor.format_version >= MAX_FORMAT_VERSION:
            return descriptor
        return descriptor.updated(master, format_version=MAX_FORMAT_VERSION)

    await _edit_descriptor(registry, record, edit)
    return versions[0], max(versions[0], MAX_FORMAT_VERSION)


async def enable_connect(registry: Registry, record: FilespaceRecord, secret: Secret) -> bool:
    """Turn on Connect (the ``connect`` feature); False if it was on already.

    ``UnsupportedFormatError`` when the format is too old: run ``cloudfs upgrade`` first.
    """
    changed: list[bool] = [False]

    def edit(descriptor: FilespaceDescriptor) -> FilespaceDescriptor:
        master = descriptor.unlock(secret.material())
        if descriptor.format_version < CONNECT_FORMAT_VERSION:
            raise UnsupportedFormatError(
                f"Connect needs filespace format {CONNECT_FORMAT_VERSION}; this filespace is "
                f"format {descriptor.format_version}: run `cloudfs upgrade` first"
            )
        if CONNECT_FEATURE in descriptor.features:
            return descriptor
        changed[0] = True
        return descriptor.updated(master, features=[*descriptor.features, CONNECT_FEATURE])

    await _edit_descriptor(registry, record, edit)
    return changed[0]
