"""Cipher: what the VFS encrypts before anything reaches the metadata engine.

* entry names: deterministic AEAD (AES-SIV) bound to the parent directory's inode, so a
  lookup re-encrypts the name and finds the row, while equal names in different
  directories look unrelated;
* xattr names: the same, bound to the inode that carries them;
* symlink targets and xattr values: randomized AEAD with their role (and, for xattrs, the
  inode and attribute name) as associated data.
"""

from __future__ import annotations

from cloudfs.codec._aead import NONCE_SIZE, TAG_SIZE
from cloudfs.codec.crypto import NameCipher, SecretBox

__all__ = ["Cipher"]

_ENTRY = b"entry:"
_XATTR_NAME = b"xattr-name:"
_XATTR_VALUE = b"xattr-value:"
_SYMLINK = b"symlink"
_SECRET = b"secret:"
SEALED_OVERHEAD = 1 + NONCE_SIZE + TAG_SIZE  # SecretBox: version, nonce, tag


def _ino(ino: int) -> bytes:
    return ino.to_bytes(8, "big")


class Cipher:
    """Name and small-secret encryption for one filespace."""

    def __init__(self, names: NameCipher, secrets: SecretBox) -> None:
        self._names = names
        self._secrets = secrets

    def seal_name(self, parent: int, name: str) -> bytes:
        return self._names.encrypt(_ENTRY + _ino(parent), name)

    def open_name(self, parent: int, blob: bytes) -> str:
        return self._names.decrypt(_ENTRY + _ino(parent), blob)

    def seal_xattr_name(self, ino: int, name: str) -> bytes:
        return self._names.encrypt(_XATTR_NAME + _ino(ino), name)

    def open_xattr_name(self, ino: int, blob: bytes) -> str:
        return self._names.decrypt(_XATTR_NAME + _ino(ino), blob)

    def seal_xattr(self, ino: int, name_blob: bytes, value: bytes) -> bytes:
        return self._secrets.seal(_XATTR_VALUE + _ino(ino) + name_blob, value)

    def open_xattr(self, ino: int, name_blob: bytes, blob: bytes) -> bytes:
        return self._secrets.open(_XATTR_VALUE + _ino(ino) + name_blob, blob)

    def seal_target(self, target: str) -> bytes:
        return self._secrets.seal(_SYMLINK, target.encode("utf-8", "surrogateescape"))

    def open_target(self, blob: bytes) -> str:
        return self._secrets.open(_SYMLINK, blob).decode("utf-8", "surrogateescape")

    def seal_secret(self, context: bytes, value: bytes) -> bytes:
        """Seal a small secret (a data store's key, an object key) bound to ``context``."""
        return self._secrets.seal(_SECRET + context, value)

    def open_secret(self, context: bytes, blob: bytes) -> bytes:
        return self._secrets.open(_SECRET + context, blob)

    @staticmethod
    def target_length(sealed_size: int) -> int:
        """A symlink's size (its target's length) from the size of its sealed target."""
        return max(0, sealed_size - SEALED_OVERHEAD)
