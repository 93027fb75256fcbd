"""cloudfs: an open cloud filespace.

One shared tree of files whose data lives in object storage, cut into blocks that are
compressed and encrypted on the client.  Start with :class:`Client`::

    with cloudfs.Client() as client:
        client.login(cloudfs.ServiceAccountCredentials(token))
        workspace = client.get_workspace(client.list_workspaces()[0].id)
        with workspace.link_filespace(name="default") as filespace:
            filespace.fs.write_file("/hello.txt", b"hello")
"""

from cloudfs.connect import (
    ConnectManager,
    DataStoreInfo,
    DataStoreKind,
    DataStoreRekeyState,
    LinkedFilesResult,
    S3Credentials,
    S3DataStoreConfig,
)
from cloudfs.errors import (
    AuthenticationError,
    ClientError,
    CloudfsError,
    ConfigurationError,
    FilespaceAlreadyLinkedError,
    FilespaceError,
    FilespaceNotFoundError,
    IntegrityError,
    WrongPassphraseError,
)
from cloudfs.sdk.client import Client, Daemon, Filespace, Workspace, create_daemon
from cloudfs.sdk.filesystem import Filesystem
from cloudfs.sdk.models import (
    ClientConfig,
    DirEntry,
    FilespaceInfo,
    FilespaceSize,
    FilespaceStatistics,
    ServiceAccountCredentials,
    StorageConfig,
    StorageMode,
    SyncMode,
    WorkspaceInfo,
)
from cloudfs.sdk.stream import FileStream

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "Client",
    "ClientConfig",
    "ClientError",
    "CloudfsError",
    "ConfigurationError",
    "ConnectManager",
    "Daemon",
    "DataStoreInfo",
    "DataStoreKind",
    "DataStoreRekeyState",
    "DirEntry",
    "FileStream",
    "Filespace",
    "FilespaceAlreadyLinkedError",
    "FilespaceError",
    "FilespaceInfo",
    "FilespaceNotFoundError",
    "FilespaceSize",
    "FilespaceStatistics",
    "Filesystem",
    "IntegrityError",
    "LinkedFilesResult",
    "S3Credentials",
    "S3DataStoreConfig",
    "ServiceAccountCredentials",
    "StorageConfig",
    "StorageMode",
    "SyncMode",
    "Workspace",
    "WorkspaceInfo",
    "WrongPassphraseError",
    "__version__",
    "create_daemon",
]
