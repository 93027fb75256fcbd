"""One exception hierarchy for cloudfs, compatible with Python's builtins.

Filesystem failures raise the builtin ``OSError`` family (``FileNotFoundError``,
``FileExistsError``, ...) with ``errno`` set, so SDK users catch what Python users expect
and the FUSE edge maps them to an errno with :func:`errno_of` alone.  Everything else
derives from :class:`CloudfsError`::

    CloudfsError
    ├── ClientError                      misuse of the client (not logged in, closed, ...)
    │   └── AuthenticationError          bad or revoked token, login with another token
    ├── ConfigurationError (ValueError)  a setting that cannot work
    ├── FilespaceError                   a filespace that cannot be opened or used
    │   ├── FilespaceNotFoundError
    │   ├── FilespaceAlreadyLinkedError
    │   ├── WrongPassphraseError         no key slot opens with the secret given
    │   └── UnsupportedFormatError       a descriptor newer than this client understands
    ├── MountError                       a mount point or filespace that cannot be mounted
    ├── IntegrityError (OSError)         stored bytes failed authentication (errno EIO)
    ├── ConflictError                    a compare-and-set on an inode version lost
    └── StoreError (OSError)             the object store failed; ``__cause__`` keeps why
        ├── ObjectNotFoundError (FileNotFoundError)
        ├── ObjectExistsError (FileExistsError)
        ├── StoreAccessDeniedError (PermissionError)
        ├── StoreUnavailableError (ConnectionError)   unreachable, timed out, 5xx
        └── StorePreconditionError
"""

from __future__ import annotations

import errno as _errno
import os

__all__ = [
    "AuthenticationError",
    "ClientError",
    "CloudfsError",
    "ConfigurationError",
    "ConflictError",
    "FilespaceAlreadyLinkedError",
    "FilespaceError",
    "FilespaceNotFoundError",
    "IntegrityError",
    "MountError",
    "ObjectExistsError",
    "ObjectNotFoundError",
    "StoreAccessDeniedError",
    "StoreError",
    "StorePreconditionError",
    "StoreUnavailableError",
    "UnsupportedFormatError",
    "WrongPassphraseError",
    "errno_of",
    "fs_error",
]


class CloudfsError(Exception):
    """Base of every cloudfs-specific error."""


class ClientError(CloudfsError):
    """The client was used in a way it does not support (closed, not logged in, ...)."""


class AuthenticationError(ClientError):
    """A token was refused, revoked, or differs from the one already logged in."""


class ConfigurationError(CloudfsError, ValueError):
    """A configuration value that cannot work; the message says which and why."""


class FilespaceError(CloudfsError):
    """A filespace could not be opened or used."""


class FilespaceNotFoundError(FilespaceError):
    """No filespace of that name or id exists in the workspace."""


class FilespaceAlreadyLinkedError(FilespaceError):
    """The filespace is already linked by another client object in this process."""

    def __init__(self, message: str = "", *, filespace_id: str = "") -> None:
        super().__init__(message or f"filespace {filespace_id} is already linked")
        self.filespace_id = filespace_id


class WrongPassphraseError(FilespaceError):
    """None of the filespace's key slots opens with the passphrase or token given."""


class UnsupportedFormatError(FilespaceError):
    """The filespace was written by a newer cloudfs (or is not a cloudfs filespace)."""


class MountError(CloudfsError):
    """A FUSE mount could not start: a bad mount point, or the filespace is mounted already."""


class IntegrityError(CloudfsError, OSError):
    """Stored bytes failed authentication (tampered, swapped, replayed or corrupt).

    The bytes are never returned to the caller.  It is an ``OSError`` with ``errno`` EIO,
    so a filesystem call (a read through the VFS, the SDK or FUSE) fails with EIO.
    """

    def __init__(self, message: str = "stored data failed authentication") -> None:
        OSError.__init__(self, _errno.EIO, message)

    def __str__(self) -> str:
        return str(self.strerror)


class ConflictError(CloudfsError):
    """A compare-and-set on an inode version lost: someone else changed it first."""

    def __init__(self, ino: int, expected: int, actual: int | None) -> None:
        super().__init__(f"inode {ino}: expected version {expected}, found {actual}")
        self.ino = ino
        self.expected = expected
        self.actual = actual


class StoreError(CloudfsError, OSError):
    """The object store failed.  ``__cause__`` keeps the underlying exception."""

    default_errno = _errno.EIO

    def __init__(self, message: str, *, key: str = "") -> None:
        OSError.__init__(self, self.default_errno, message)
        self.key = key

    def __str__(self) -> str:
        return str(self.strerror)


class ObjectNotFoundError(StoreError, FileNotFoundError):
    """The object does not exist."""

    default_errno = _errno.ENOENT


class ObjectExistsError(StoreError, FileExistsError):
    """A create-only put found the object already there."""

    default_errno = _errno.EEXIST


class StoreAccessDeniedError(StoreError, PermissionError):
    """The store refused the credentials or the operation (403, bad signature)."""

    default_errno = _errno.EACCES


class StoreUnavailableError(StoreError, ConnectionError):
    """The store could not be reached, timed out, or answered a server error."""

    default_errno = _errno.EIO


class StorePreconditionError(StoreError):
    """A conditional request's precondition failed (ETag changed)."""


_ERRNO_CLASSES: dict[int, type[OSError]] = {
    _errno.ENOENT: FileNotFoundError,
    _errno.EEXIST: FileExistsError,
    _errno.ENOTDIR: NotADirectoryError,
    _errno.EISDIR: IsADirectoryError,
    _errno.EACCES: PermissionError,
    _errno.EPERM: PermissionError,
    _errno.ETIMEDOUT: TimeoutError,
}


def fs_error(code: int, message: str = "", path: str | None = None) -> OSError:
    """Build the builtin ``OSError`` subclass Python itself would raise for ``code``."""
    cls = _ERRNO_CLASSES.get(code, OSError)
    text = message or os.strerror(code)
    if path is None:
        return cls(code, text)
    return cls(code, text, path)


def errno_of(exc: BaseException) -> int:
    """The errno a filesystem edge (FUSE) should answer for ``exc``.

    The one table the FUSE adapter uses: ``OSError`` carries its own errno; integrity
    failures and store outages are ``EIO``; anything unexpected is ``EIO`` too.
    """
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    if isinstance(exc, ConflictError):
        return _errno.EAGAIN
    if isinstance(exc, ValueError):
        return _errno.EINVAL
    return _errno.EIO
