"""The filespace descriptor: format version, block size, algorithms and key slots.

The descriptor is the one structure a client reads before anything else.  It is stored
by the metadata engine (and mirrored in the object store) as an opaque blob: canonical
JSON, UTF-8, keys sorted, no whitespace, bytes as base64 and the filespace id as hex
(``docs/format.md`` lists every field).

Reading it takes three steps, each with its own error:

1. :meth:`FilespaceDescriptor.from_bytes` parses.  Not a descriptor at all, a format
   version outside ``MIN_FORMAT_VERSION..MAX_FORMAT_VERSION``, or an algorithm or
   feature this client does not implement → ``UnsupportedFormatError`` (the message says
   to upgrade cloudfs when the filespace is newer).  A descriptor of a known version with
   missing, extra or ill-typed fields → ``IntegrityError``.
2. :meth:`~FilespaceDescriptor.unlock` opens a key slot with a passphrase or token →
   the master key, or ``WrongPassphraseError``.
3. It then checks the MAC: HMAC-SHA256 under the ``descriptor_mac`` subkey over the
   canonical JSON of every field except ``key_slots`` and ``mac``.  Changing any of them
   (block size, algorithms, features, version, id, creation time) without the key →
   ``IntegrityError``.

``key_slots`` are outside the MAC because each slot authenticates itself (its wrapped key
is AES-GCM with the filespace id, slot id and kind as associated data), and so that slots
can be added and removed as principals come and go without touching anything else: the
MAC stays valid across :meth:`~FilespaceDescriptor.add_slot` and
:meth:`~FilespaceDescriptor.remove_slot`.  Changing a passphrase re-wraps one slot; the
master key, and therefore every block and name, stays as it is.

Limitation: whoever can write the descriptor (the metadata engine or hub) can remove slots
(denial of service) or substitute a whole descriptor with a different master key.  A
client that pins :func:`~cloudfs.codec.keys.key_fingerprint` detects the substitution.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloudfs.codec._fields import b64encode, req_bytes, req_int, req_list, req_str
from cloudfs.codec.envelope import FRAME_SHIFT
from cloudfs.codec.keys import (
    KdfParams,
    KeySlot,
    Subkeys,
    make_passphrase_slot,
    new_master_key,
    open_with,
)
from cloudfs.errors import ConfigurationError, IntegrityError, UnsupportedFormatError

__all__ = [
    "CONNECT_FEATURE",
    "CONNECT_FORMAT_VERSION",
    "DESCRIPTOR_MAGIC",
    "FORMAT_VERSION",
    "KNOWN_FEATURES",
    "MAX_BLOCK_SIZE",
    "MAX_FORMAT_VERSION",
    "MIN_BLOCK_SIZE",
    "MIN_FORMAT_VERSION",
    "PACKS_FORMAT_VERSION",
    "FilespaceDescriptor",
    "validate_block_size",
]

FORMAT_VERSION = 4
"""The format this cloudfs writes for new filespaces.

1. blocks are version-1 envelopes (one AEAD message per block);
2. new blocks are version-2 envelopes (64 KiB frames, so small reads fetch only the
   frames they touch); version-1 blocks written before an upgrade stay readable;
3. format 2 plus external (Connect) files: entries mapped 1:1 to objects in a customer's
   bucket.  Linking them also needs the ``connect`` feature (``cloudfs connect enable``);
4. format 3 plus packs: neighbouring blocks of one commit are uploaded as one object
   (docs/decisions/0020); blocks written before an upgrade stay where they are.
"""
MIN_FORMAT_VERSION = 1
"""The oldest format this cloudfs opens."""
MAX_FORMAT_VERSION = 4
"""The newest format this cloudfs opens; newer ones need a newer cloudfs."""
MIN_BLOCK_SIZE = 64 * 1024
MAX_BLOCK_SIZE = 16 * 1024 * 1024
DESCRIPTOR_MAGIC = "cloudfs-filespace"
CONNECT_FORMAT_VERSION = 3
"""The first format that may hold external (Connect) files."""
PACKS_FORMAT_VERSION = 4
"""The first format whose writers pack neighbouring blocks (older clients cannot read them)."""
CONNECT_FEATURE = "connect"
"""The feature ``cloudfs connect enable`` sets: data stores and external files in use."""
KNOWN_FEATURES: frozenset[str] = frozenset({CONNECT_FEATURE})
"""Optional format features this cloudfs implements."""

_ALGORITHMS = {"compression": "zstd", "cipher": "aes-256-gcm", "name_cipher": "aes-siv"}
_FIELDS = frozenset({"magic", "format_version", "filespace_id", "block_size", "created_ns"})
_ALL_FIELDS = _FIELDS | _ALGORITHMS.keys() | {"features", "key_slots", "mac"}
_MAC_LABEL = b"cloudfs/v1/descriptor-mac\n"
_FILESPACE_ID_SIZE = 16


def validate_block_size(block_size: int) -> None:
    """``ConfigurationError`` unless ``block_size`` is a whole number of 64 KiB frames in
    64 KiB-16 MiB (frames: :mod:`cloudfs.codec.envelope`; why not only powers of two:
    docs/decisions/0016)."""
    frame = 1 << FRAME_SHIFT
    if not MIN_BLOCK_SIZE <= block_size <= MAX_BLOCK_SIZE or block_size % frame:
        raise ConfigurationError(
            f"block size must be a multiple of 64 KiB from 64 KiB to 16 MiB, got {block_size}"
        )


@dataclass(frozen=True)
class FilespaceDescriptor:
    """What a client must know to read a filespace; immutable, edits return a copy."""

    format_version: int
    filespace_id: bytes
    block_size: int
    created_ns: int
    compression: str
    cipher: str
    name_cipher: str
    key_slots: list[KeySlot]
    features: list[str]
    mac: bytes

    def __post_init__(self) -> None:
        validate_block_size(self.block_size)
        if len(self.filespace_id) != _FILESPACE_ID_SIZE:
            raise ValueError(f"filespace id must be {_FILESPACE_ID_SIZE} bytes")
        ids = [slot.slot_id for slot in self.key_slots]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate key slot ids in {ids}")

    @property
    def envelope_version(self) -> int:
        """The block envelope version writers of this filespace use (readers take both)."""
        return 1 if self.format_version < 2 else 2

    @property
    def packs(self) -> bool:
        """Whether writers of this filespace pack neighbouring blocks into one object."""
        return self.format_version >= PACKS_FORMAT_VERSION

    @property
    def supports_connect(self) -> bool:
        """Whether the format may hold external files (the feature must be enabled too)."""
        return self.format_version >= CONNECT_FORMAT_VERSION

    @property
    def connect_enabled(self) -> bool:
        return self.supports_connect and CONNECT_FEATURE in self.features

    # -- creating -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        block_size: int,
        passphrase: str,
        kdf_params: KdfParams | None = None,
        *,
        slot_id: str = "passphrase",
    ) -> tuple[FilespaceDescriptor, bytes]:
        """A new filespace: random id and master key, one passphrase slot, MACed.

        Returns the descriptor and the master key.  ``kdf_params=None`` means
        :meth:`KdfParams.default`.
        """
        validate_block_size(block_size)
        master = new_master_key()
        filespace_id = os.urandom(_FILESPACE_ID_SIZE)
        slot = make_passphrase_slot(master, passphrase, filespace_id, slot_id, kdf_params)
        unsigned = cls(
            format_version=FORMAT_VERSION,
            filespace_id=filespace_id,
            block_size=block_size,
            created_ns=time.time_ns(),
            key_slots=[slot],
            features=[],
            mac=b"",
            **_ALGORITHMS,
        )
        return unsigned._signed(master), master

    # -- unlocking ------------------------------------------------------------------

    def unlock(self, secret: str | bytes, *, slot_id: str | None = None) -> bytes:
        """The master key: a passphrase (``str``) or token secret (``bytes``) opens a slot.

        ``WrongPassphraseError`` if no slot opens; ``IntegrityError`` if the descriptor's
        fields fail the MAC under the key found.
        """
        master = open_with(self.key_slots, secret, self.filespace_id, slot_id=slot_id)
        self.verify(master)
        return master

    def verify(self, master: bytes) -> None:
        """``IntegrityError`` unless the MAC over the descriptor's fields checks out."""
        if not hmac.compare_digest(self._expected_mac(master), self.mac):
            raise IntegrityError(
                "filespace descriptor failed its MAC check: a field was changed without "
                "the key, or the key slot holds a different master key"
            )

    # -- editing (each returns a new descriptor) ------------------------------------

    def add_slot(self, slot: KeySlot) -> FilespaceDescriptor:
        """A copy with ``slot`` added (the MAC does not cover slots, so it stays valid)."""
        if any(s.slot_id == slot.slot_id for s in self.key_slots):
            raise ValueError(f"key slot {slot.slot_id!r} already exists")
        return dataclasses.replace(self, key_slots=[*self.key_slots, slot])

    def remove_slot(self, slot_id: str) -> FilespaceDescriptor:
        """A copy without slot ``slot_id``; refuses to remove the last slot."""
        kept = [s for s in self.key_slots if s.slot_id != slot_id]
        if len(kept) == len(self.key_slots):
            raise ValueError(f"no key slot {slot_id!r}")
        if not kept:
            raise ValueError("refusing to remove the last key slot: nothing could unlock")
        return dataclasses.replace(self, key_slots=kept)

    def change_passphrase(
        self, master: bytes, slot_id: str, passphrase: str, kdf_params: KdfParams | None = None
    ) -> FilespaceDescriptor:
        """A copy whose passphrase slot ``slot_id`` is re-wrapped for a new passphrase."""
        if not any(s.slot_id == slot_id and s.kind == "passphrase" for s in self.key_slots):
            raise ValueError(f"no passphrase key slot {slot_id!r}")
        self.verify(master)
        new = make_passphrase_slot(master, passphrase, self.filespace_id, slot_id, kdf_params)
        slots = [new if s.slot_id == slot_id else s for s in self.key_slots]
        return dataclasses.replace(self, key_slots=slots)

    def updated(
        self,
        master: bytes,
        *,
        format_version: int | None = None,
        features: Sequence[str] | None = None,
    ) -> FilespaceDescriptor:
        """A copy with a new format version and/or features, re-MACed (for upgrades)."""
        self.verify(master)
        changed = dataclasses.replace(
            self,
            format_version=self.format_version if format_version is None else format_version,
            features=list(self.features if features is None else features),
        )
        _check_version({"format_version": changed.format_version})
        changed._check_supported()
        return changed._signed(master)

    # -- bytes ----------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Canonical JSON: sorted keys, no whitespace, ASCII."""
        return _canonical(self._to_json())

    @classmethod
    def from_bytes(cls, raw: bytes) -> FilespaceDescriptor:
        """Parse a descriptor (the MAC is checked by :meth:`unlock`, which has the key)."""
        obj = _load(raw)
        _check_version(obj)
        if obj.keys() != _ALL_FIELDS:
            fields = sorted(obj.keys() ^ _ALL_FIELDS)
            raise IntegrityError(f"filespace descriptor has missing or unexpected fields {fields}")
        try:
            descriptor = cls._from_json(obj)
        except (KeyError, TypeError, ValueError) as e:
            raise IntegrityError(f"filespace descriptor is malformed: {e}") from e
        descriptor._check_supported()
        return descriptor

    # -- internals ------------------------------------------------------------------

    def _to_json(self) -> dict[str, Any]:
        return {
            "magic": DESCRIPTOR_MAGIC,
            "format_version": self.format_version,
            "filespace_id": self.filespace_id.hex(),
            "block_size": self.block_size,
            "created_ns": self.created_ns,
            "compression": self.compression,
            "cipher": self.cipher,
            "name_cipher": self.name_cipher,
            "features": list(self.features),
            "key_slots": [slot.to_json() for slot in self.key_slots],
            "mac": b64encode(self.mac),
        }

    @classmethod
    def _from_json(cls, obj: Mapping[str, Any]) -> FilespaceDescriptor:
        features = req_list(obj, "features")
        if not all(isinstance(f, str) for f in features) or len(set(features)) != len(features):
            raise ValueError("features must be distinct strings")
        return cls(
            format_version=req_int(obj, "format_version"),
            filespace_id=bytes.fromhex(req_str(obj, "filespace_id")),
            block_size=req_int(obj, "block_size"),
            created_ns=req_int(obj, "created_ns"),
            key_slots=[KeySlot.from_json(s) for s in req_list(obj, "key_slots")],
            mac=req_bytes(obj, "mac"),
            compression=req_str(obj, "compression"),
            cipher=req_str(obj, "cipher"),
            name_cipher=req_str(obj, "name_cipher"),
            features=features,
        )

    def _check_supported(self) -> None:
        for name, supported in _ALGORITHMS.items():
            if getattr(self, name) != supported:
                raise UnsupportedFormatError(
                    f"filespace uses {name} {getattr(self, name)!r}, which this cloudfs "
                    f"does not implement ({supported!r}); upgrade cloudfs"
                )
        unknown = sorted(set(self.features) - KNOWN_FEATURES)
        if unknown:
            raise UnsupportedFormatError(
                f"filespace uses features {unknown} that this cloudfs does not implement; "
                "upgrade cloudfs"
            )

    def _mac_input(self) -> bytes:
        fields = self._to_json()
        del fields["key_slots"], fields["mac"]
        return _MAC_LABEL + _canonical(fields)

    def _expected_mac(self, master: bytes) -> bytes:
        key = Subkeys.derive(master, self.filespace_id).descriptor_mac
        return hmac.new(key, self._mac_input(), hashlib.sha256).digest()

    def _signed(self, master: bytes) -> FilespaceDescriptor:
        return dataclasses.replace(self, mac=self._expected_mac(master))


def _canonical(obj: Mapping[str, Any]) -> bytes:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return text.encode("ascii")


def _load(raw: bytes) -> dict[str, Any]:
    """The top-level JSON object, or ``UnsupportedFormatError`` if this is no descriptor."""
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise UnsupportedFormatError("not a cloudfs filespace descriptor (not JSON)") from e
    if not isinstance(obj, dict) or obj.get("magic") != DESCRIPTOR_MAGIC:
        raise UnsupportedFormatError("not a cloudfs filespace descriptor (no magic)")
    return obj


def _check_version(obj: Mapping[str, Any]) -> None:
    version = obj.get("format_version")
    if type(version) is not int:
        raise IntegrityError(f"filespace descriptor has no valid format_version: {version!r}")
    if version > MAX_FORMAT_VERSION:
        raise UnsupportedFormatError(
            f"filespace format {version} is newer than this cloudfs supports "
            f"({MIN_FORMAT_VERSION}-{MAX_FORMAT_VERSION}); upgrade cloudfs to open it"
        )
    if version < MIN_FORMAT_VERSION:
        raise UnsupportedFormatError(
            f"filespace format {version} is older than this cloudfs supports "
            f"({MIN_FORMAT_VERSION}-{MAX_FORMAT_VERSION}); migrate it with an older "
            "release's `cloudfs upgrade`"
        )
