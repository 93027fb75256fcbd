"""cloudfs.codec: pure bytes-to-bytes transformations of everything a filespace stores.

No I/O happens here: callers hand in bytes and keys and get bytes back, so every function
can run in a worker thread and is testable in isolation.

* :mod:`.compress` — zstd for blocks, skipped when it does not shrink, bounded inflation;
* :mod:`.envelope` — the byte layout and header checks of a sealed block;
* :mod:`.crypto` — :class:`BlockCodec` (blocks), :class:`NameCipher` (deterministic names),
  :class:`SecretBox` (symlink targets, xattr values, data-store secrets);
* :mod:`.keys` — master key, HKDF subkeys, Argon2id/HKDF key slots;
* :mod:`.descriptor` — the filespace descriptor (format version, block size, key slots, MAC).

``docs/format.md`` describes every byte these modules write.
"""

from cloudfs.codec.crypto import MAX_NAME_BYTES, BlockCodec, NameCipher, SecretBox
from cloudfs.codec.descriptor import (
    FORMAT_VERSION,
    MAX_BLOCK_SIZE,
    MAX_FORMAT_VERSION,
    MIN_BLOCK_SIZE,
    MIN_FORMAT_VERSION,
    FilespaceDescriptor,
    validate_block_size,
)
from cloudfs.codec.envelope import BLOCK_OVERHEAD
from cloudfs.codec.keys import (
    KdfParams,
    KeySlot,
    Subkeys,
    key_fingerprint,
    make_passphrase_slot,
    make_token_slot,
    new_master_key,
    new_token_secret,
    open_with,
    unwrap_slot,
)

__all__ = [
    "BLOCK_OVERHEAD",
    "FORMAT_VERSION",
    "MAX_BLOCK_SIZE",
    "MAX_FORMAT_VERSION",
    "MAX_NAME_BYTES",
    "MIN_BLOCK_SIZE",
    "MIN_FORMAT_VERSION",
    "BlockCodec",
    "FilespaceDescriptor",
    "KdfParams",
    "KeySlot",
    "NameCipher",
    "SecretBox",
    "Subkeys",
    "key_fingerprint",
    "make_passphrase_slot",
    "make_token_slot",
    "new_master_key",
    "new_token_secret",
    "open_with",
    "unwrap_slot",
    "validate_block_size",
]
