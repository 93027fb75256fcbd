"""Filespace metadata: the :class:`MetaStore` interface and its engines.

:mod:`cloudfs.meta.protocol` defines the interface; :mod:`cloudfs.meta.sql` implements
it once for SQL databases, and :class:`SqliteMetaStore` runs that on embedded SQLite.
"""

from cloudfs.meta.protocol import (
    ROOT_INO,
    AttrChanges,
    BlockRef,
    Change,
    ChangeKind,
    DirEntry,
    Garbage,
    Inode,
    InodeKind,
    MetaStats,
    MetaStore,
    RenameFlags,
    XattrFlags,
)
from cloudfs.meta.sqlite import SqliteMetaStore

__all__ = [
    "ROOT_INO",
    "AttrChanges",
    "BlockRef",
    "Change",
    "ChangeKind",
    "DirEntry",
    "Garbage",
    "Inode",
    "InodeKind",
    "MetaStats",
    "MetaStore",
    "RenameFlags",
    "SqliteMetaStore",
    "XattrFlags",
]
