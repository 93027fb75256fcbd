"""The key hierarchy: a random master key, HKDF subkeys, and key slots that wrap it.

Hierarchy::

    master key (32 random bytes, never stored in the clear)
      ├─ HKDF-SHA256(master, salt=filespace_id, info="cloudfs/v1/data")        32  blocks
      ├─ HKDF-SHA256(master, salt=filespace_id, info="cloudfs/v1/names")       64  AES-SIV
      ├─ HKDF-SHA256(master, salt=filespace_id, info="cloudfs/v1/secrets")     32  SecretBox
      └─ HKDF-SHA256(master, salt=filespace_id, info="cloudfs/v1/descriptor")  32  HMAC

Key slots: the master key is stored only wrapped, once per principal (a passphrase, a user
or service-account token).  A slot holds a KDF name, its parameters and salt, and::

    wrapped_key = nonce (12) || AES-256-GCM(KEK, nonce, master, AD) (32 + 16)
    AD          = b"cloudfs/v1/key-slot" || lp(filespace_id) || lp(slot_id) || lp(kind)

where ``lp(x)`` is a 2-byte big-endian length followed by ``x``.  The AD binds a slot to
its filespace, its id and its kind, so a slot copied into another filespace or relabelled
does not open.  The KEK comes from the principal's secret:

* ``passphrase`` slots: Argon2id (memory-hard), parameters in :class:`KdfParams`.  The
  passphrase is NFC-normalised and UTF-8 encoded, so the same text typed on macOS and
  Linux gives the same key.
* ``token`` slots: HKDF-SHA256 over a 32-byte random secret (see :func:`make_token_slot`).

A wrong secret fails the GCM tag and raises :class:`~cloudfs.errors.WrongPassphraseError`.
Changing a passphrase replaces one slot; the master key, subkeys and data stay as they are.

The default Argon2id profile (measured on this 2-core machine, cryptography 50):
128 MiB, 3 passes, 2 lanes → 0.29–0.45 s per unlock.  ``KdfParams.for_tests()`` is a
tiny profile for test suites only; ``CLOUDFS_KDF_PROFILE=test`` makes
:meth:`KdfParams.default` return it.  Never set that variable outside tests: it makes
passphrases cheap to guess for anyone holding the descriptor.
"""

from __future__ import annotations

import os
import struct
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cloudfs.codec._aead import NONCE_SIZE, TAG_SIZE, require_key
from cloudfs.codec._fields import b64encode, req_bytes, req_int, req_str
from cloudfs.errors import ConfigurationError, WrongPassphraseError

__all__ = [
    "KDF_PROFILE_ENV",
    "MASTER_KEY_SIZE",
    "TOKEN_SECRET_SIZE",
    "KdfParams",
    "KeySlot",
    "SlotKind",
    "Subkeys",
    "key_fingerprint",
    "make_passphrase_slot",
    "make_token_slot",
    "new_master_key",
    "new_token_secret",
    "open_with",
    "unwrap_slot",
]

MASTER_KEY_SIZE = 32
TOKEN_SECRET_SIZE = 32
KDF_PROFILE_ENV = "CLOUDFS_KDF_PROFILE"
"""Set to ``test`` (in test suites only) to make :meth:`KdfParams.default` cheap."""

SlotKind = Literal["passphrase", "token"]
KDF_ARGON2ID = "argon2id"
KDF_HKDF = "hkdf-sha256"

_SALT_SIZE = 16
_WRAPPED_SIZE = NONCE_SIZE + MASTER_KEY_SIZE + TAG_SIZE
_SLOT_AD_LABEL = b"cloudfs/v1/key-slot"
_TOKEN_KEK_INFO = b"cloudfs/v1/key-slot/token-kek"


def new_master_key() -> bytes:
    """A fresh random master key."""
    return os.urandom(MASTER_KEY_SIZE)


def new_token_secret() -> bytes:
    """A fresh random secret for a token slot (user or service account)."""
    return os.urandom(TOKEN_SECRET_SIZE)


def _hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


@dataclass(frozen=True, slots=True)
class Subkeys:
    """The per-purpose keys of one filespace, derived from its master key."""

    data: bytes = field(repr=False)
    names: bytes = field(repr=False)
    secrets: bytes = field(repr=False)
    descriptor_mac: bytes = field(repr=False)

    @classmethod
    def derive(cls, master: bytes, filespace_id: bytes) -> Subkeys:
        """HKDF-SHA256 subkeys; distinct info labels make them independent."""
        require_key(master, MASTER_KEY_SIZE, "master key")
        return cls(
            data=_hkdf(master, filespace_id, b"cloudfs/v1/data", 32),
            names=_hkdf(master, filespace_id, b"cloudfs/v1/names", 64),
            secrets=_hkdf(master, filespace_id, b"cloudfs/v1/secrets", 32),
            descriptor_mac=_hkdf(master, filespace_id, b"cloudfs/v1/descriptor", 32),
        )


def key_fingerprint(master: bytes, filespace_id: bytes) -> str:
    """A short public identifier of the master key (hex), safe to show and to pin.

    A client that remembers it can tell when a metadata service substitutes a descriptor
    wrapping a different master key.  It is a separate HKDF output, so it reveals nothing
    about the subkeys.
    """
    return _hkdf(master, filespace_id, b"cloudfs/v1/fingerprint", 16).hex()


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id cost parameters for passphrase slots (RFC 9106 names in brackets)."""

    memory_kib: int  # [m] memory in KiB
    iterations: int  # [t] passes over memory
    lanes: int  # [p] parallel lanes (cryptography runs them on threads)

    def __post_init__(self) -> None:
        if not 1 <= self.lanes <= 16:
            raise ConfigurationError(f"Argon2id lanes must be 1-16, got {self.lanes}")
        if not 1 <= self.iterations <= 100:
            raise ConfigurationError(f"Argon2id iterations must be 1-100, got {self.iterations}")
        # Argon2 needs 8 KiB per lane; the 4 GiB cap stops a hostile descriptor from
        # making a client allocate without bound.
        if not 8 * self.lanes <= self.memory_kib <= 4 * 1024 * 1024:
            raise ConfigurationError(
                f"Argon2id memory must be {8 * self.lanes} KiB-4 GiB, got {self.memory_kib} KiB"
            )

    @classmethod
    def standard(cls) -> KdfParams:
        """The production profile: 128 MiB, 3 passes, 2 lanes (~0.3-0.45 s here)."""
        return cls(memory_kib=128 * 1024, iterations=3, lanes=2)

    @classmethod
    def for_tests(cls) -> KdfParams:
        """A near-free profile (64 KiB, 1 pass) for test suites.  Never for real data."""
        return cls(memory_kib=64, iterations=1, lanes=1)

    @classmethod
    def default(cls) -> KdfParams:
        """This process's profile: :meth:`standard` unless ``CLOUDFS_KDF_PROFILE=test``."""
        return cls.from_env()

    @classmethod
    def from_env(cls) -> KdfParams:
        """:meth:`for_tests` if ``CLOUDFS_KDF_PROFILE=test``, :meth:`standard` if unset.

        ``ConfigurationError`` for any other value, so a typo cannot silently pick a
        profile.  The test profile is for test suites only.
        """
        profile = os.environ.get(KDF_PROFILE_ENV, "")
        if profile == "test":
            return cls.for_tests()
        if profile not in ("", "standard"):
            raise ConfigurationError(
                f"{KDF_PROFILE_ENV}={profile!r} is not a KDF profile (use 'test' or unset it)"
            )
        return cls.standard()

    def to_json(self) -> dict[str, int]:
        """The parameters as a JSON object."""
        return {"memory_kib": self.memory_kib, "iterations": self.iterations, "lanes": self.lanes}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> KdfParams:
        """Parse :meth:`to_json` output (``ConfigurationError`` if out of range)."""
        return cls(req_int(obj, "memory_kib"), req_int(obj, "iterations"), req_int(obj, "lanes"))

    def derive(self, passphrase: str, salt: bytes) -> bytes:
        """The 32-byte key-encryption key for ``passphrase``."""
        kdf = Argon2id(
            salt=salt,
            length=32,
            iterations=self.iterations,
            lanes=self.lanes,
            memory_cost=self.memory_kib,
        )
        return kdf.derive(_passphrase_bytes(passphrase))


def _passphrase_bytes(passphrase: str) -> bytes:
    if not passphrase:
        raise ValueError("a passphrase cannot be empty")
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


@dataclass(frozen=True, slots=True)
class KeySlot:
    """One wrapped copy of the master key, openable by one principal's secret."""

    slot_id: str
    kind: SlotKind
    kdf: str
    kdf_params: KdfParams | None
    salt: bytes
    wrapped_key: bytes

    def __post_init__(self) -> None:
        if not 0 < len(self.slot_id.encode("utf-8")) <= 255:
            raise ValueError("a key slot id must be 1-255 UTF-8 bytes")
        if len(self.salt) != _SALT_SIZE or len(self.wrapped_key) != _WRAPPED_SIZE:
            raise ValueError(f"key slot {self.slot_id!r} has a malformed salt or wrapped key")
        if (self.kind == "passphrase") != (self.kdf_params is not None):
            raise ValueError(f"key slot {self.slot_id!r}: only passphrase slots have KDF params")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (bytes as standard base64) for the descriptor."""
        params = self.kdf_params
        return {
            "slot_id": self.slot_id,
            "kind": self.kind,
            "kdf": self.kdf,
            "kdf_params": {} if params is None else params.to_json(),
            "salt": b64encode(self.salt),
            "wrapped_key": b64encode(self.wrapped_key),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> KeySlot:
        """Parse :meth:`to_json` output; ``ValueError``/``KeyError``/``TypeError`` if malformed."""
        kind, kdf = req_str(obj, "kind"), req_str(obj, "kdf")
        if (kind, kdf) not in (("passphrase", KDF_ARGON2ID), ("token", KDF_HKDF)):
            raise ValueError(f"unknown key slot kind/kdf {kind!r}/{kdf!r}")
        raw = obj["kdf_params"]
        params = KdfParams.from_json(raw) if kdf == KDF_ARGON2ID else None
        return cls(
            slot_id=req_str(obj, "slot_id"),
            kind=cast(SlotKind, kind),
            kdf=kdf,
            kdf_params=params,
            salt=req_bytes(obj, "salt"),
            wrapped_key=req_bytes(obj, "wrapped_key"),
        )


def make_passphrase_slot(
    master: bytes,
    passphrase: str,
    filespace_id: bytes,
    slot_id: str,
    params: KdfParams | None = None,
) -> KeySlot:
    """A slot that opens with ``passphrase`` (Argon2id).

    ``params=None`` means :meth:`KdfParams.default`, read at call time (so the test
    profile variable takes effect even if set after import).
    """
    params = KdfParams.default() if params is None else params
    salt = os.urandom(_SALT_SIZE)
    kek = params.derive(passphrase, salt)
    wrapped = _wrap(kek, master, filespace_id, slot_id, "passphrase")
    return KeySlot(slot_id, "passphrase", KDF_ARGON2ID, params, salt, wrapped)


def make_token_slot(master: bytes, secret: bytes, filespace_id: bytes, slot_id: str) -> KeySlot:
    """A slot that opens with a 32-byte random token ``secret`` (see :func:`new_token_secret`).

    HKDF is enough here, with no work factor: a KDF's cost only slows guessing, and a
    uniformly random 256-bit secret cannot be guessed whatever the cost per guess.
    Memory-hard stretching is for low-entropy human passphrases.
    """
    if len(secret) < TOKEN_SECRET_SIZE:
        raise ValueError(f"a token secret must be at least {TOKEN_SECRET_SIZE} random bytes")
    salt = os.urandom(_SALT_SIZE)
    kek = _hkdf(secret, salt, _TOKEN_KEK_INFO, 32)
    wrapped = _wrap(kek, master, filespace_id, slot_id, "token")
    return KeySlot(slot_id, "token", KDF_HKDF, None, salt, wrapped)


def unwrap_slot(slot: KeySlot, secret: str | bytes, filespace_id: bytes) -> bytes:
    """The master key in ``slot``, or :class:`WrongPassphraseError`.

    A passphrase slot takes a ``str``; a token slot takes the ``bytes`` secret.
    """
    kek = _slot_kek(slot, secret)
    nonce, sealed = slot.wrapped_key[:NONCE_SIZE], slot.wrapped_key[NONCE_SIZE:]
    ad = _slot_ad(filespace_id, slot.slot_id, slot.kind)
    try:
        return AESGCM(kek).decrypt(nonce, sealed, ad)
    except InvalidTag:
        raise WrongPassphraseError(
            f"key slot {slot.slot_id!r} does not open with this {slot.kind}"
        ) from None


def open_with(
    slots: Iterable[KeySlot],
    secret: str | bytes,
    filespace_id: bytes,
    *,
    slot_id: str | None = None,
) -> bytes:
    """The master key from the first slot that ``secret`` opens.

    A ``str`` is tried against passphrase slots, ``bytes`` against token slots (each
    passphrase attempt costs one Argon2id run; pass ``slot_id`` to try only that slot).
    """
    kind: SlotKind = "passphrase" if isinstance(secret, str) else "token"
    for slot in slots:
        if slot.kind == kind and slot_id in (None, slot.slot_id):
            try:
                return unwrap_slot(slot, secret, filespace_id)
            except WrongPassphraseError:
                continue
    raise WrongPassphraseError(f"no key slot opens with this {kind}")


def _slot_kek(slot: KeySlot, secret: str | bytes) -> bytes:
    if slot.kind == "passphrase" and isinstance(secret, str) and slot.kdf_params is not None:
        return slot.kdf_params.derive(secret, slot.salt)
    if slot.kind == "token" and isinstance(secret, bytes):
        return _hkdf(secret, slot.salt, _TOKEN_KEK_INFO, 32)
    raise TypeError(f"a {slot.kind} slot takes a {'str' if slot.kind == 'passphrase' else 'bytes'}")


def _wrap(kek: bytes, master: bytes, filespace_id: bytes, slot_id: str, kind: SlotKind) -> bytes:
    require_key(master, MASTER_KEY_SIZE, "master key")
    nonce = os.urandom(NONCE_SIZE)
    ad = _slot_ad(filespace_id, slot_id, kind)
    return nonce + AESGCM(kek).encrypt(nonce, master, ad)


def _slot_ad(filespace_id: bytes, slot_id: str, kind: str) -> bytes:
    parts = (filespace_id, slot_id.encode("utf-8"), kind.encode("ascii"))
    return _SLOT_AD_LABEL + b"".join(struct.pack(">H", len(p)) + p for p in parts)
