"""Local block caches of a filespace: sealed blocks on disk, hot plaintext in memory.

* :class:`DiskCache` (:mod:`cloudfs.cache.disk`): one per filespace, blocks as stored
  (ciphertext), bounded on every insert, persistent and checked on open, with dirty
  (not yet uploaded) and pinned blocks that are never evicted.
* :class:`MemoryCache` (:mod:`cloudfs.cache.memory`): plaintext blocks, bounded in bytes.
* :mod:`cloudfs.cache.policy`: eviction policies (LRU, S3-FIFO; S3-FIFO is the default,
  see ``docs/decisions/0007-cache-eviction-policy.md``).
"""

from cloudfs.cache.disk import (
    CacheUsage,
    DiskCache,
    NotCachedError,
    OpenReport,
    PinLimitError,
    read_usage,
    write_capacity,
)
from cloudfs.cache.memory import MemoryCache
from cloudfs.cache.policy import DEFAULT_POLICY, EvictionPolicy, LruPolicy, S3FifoPolicy

__all__ = [
    "DEFAULT_POLICY",
    "CacheUsage",
    "DiskCache",
    "EvictionPolicy",
    "LruPolicy",
    "MemoryCache",
    "NotCachedError",
    "OpenReport",
    "PinLimitError",
    "S3FifoPolicy",
    "read_usage",
    "write_capacity",
]
