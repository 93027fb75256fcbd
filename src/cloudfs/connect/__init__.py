"""Connect: link objects that already live in a customer's S3 bucket as read-only files.

``filespace.connect`` is a :class:`ConnectManager`.  Data stores (a bucket and its
credentials, the secret key sealed under the filespace key) are registered once; files
are then linked 1:1 to objects, one by one (:meth:`ConnectManager.link_file`) or by
prefix (:class:`~cloudfs.connect.importer.Importer`, ``cloudfs connect import``).  Their
content is read from the object with ranged GETs pinned to the linked ETag, through the
same caches as native files (:mod:`cloudfs.vfs.external`).
"""

from cloudfs.connect.manager import ConnectManager
from cloudfs.connect.models import (
    DataStoreInfo,
    DataStoreKind,
    DataStoreRekeyState,
    LinkedFilesResult,
    S3Credentials,
    S3DataStoreConfig,
)

__all__ = [
    "ConnectManager",
    "DataStoreInfo",
    "DataStoreKind",
    "DataStoreRekeyState",
    "LinkedFilesResult",
    "S3Credentials",
    "S3DataStoreConfig",
]
