"""Object stores: the interface, obstore-backed S3/local/memory stores, and test wrappers.

Build a store from configuration with :func:`open_store`; wrap it for tests and benchmarks
with :class:`FaultyStore`, :class:`CountingStore` or :class:`ThrottledStore` (each is itself
an :class:`ObjectStore`, so they compose).
"""

from cloudfs.store.config import (
    LocalStoreConfig,
    MemoryStoreConfig,
    S3StoreConfig,
    StoreConfig,
    open_store,
    store_config_from_dict,
)
from cloudfs.store.faulty import CountingStore, FaultyStore, StoreCall
from cloudfs.store.obstore_backend import ObstoreStore
from cloudfs.store.protocol import ObjectMeta, ObjectStore
from cloudfs.store.throttled import ThrottledStore

__all__ = [
    "CountingStore",
    "FaultyStore",
    "LocalStoreConfig",
    "MemoryStoreConfig",
    "ObjectMeta",
    "ObjectStore",
    "ObstoreStore",
    "S3StoreConfig",
    "StoreCall",
    "StoreConfig",
    "ThrottledStore",
    "open_store",
    "store_config_from_dict",
]
