"""The embedded workspace: a folder (``CLOUDFS_HOME``) that lists filespaces and tokens.

Layout::

    $CLOUDFS_HOME/                       default ~/.local/share/cloudfs
      workspace.json                     this file's Registry (0600)
      workspace.lock                     flock held while workspace.json changes
      filespaces/<id>/meta.sqlite        the filespace's metadata engine
      filespaces/<id>/objects/           its blocks, when its store is the local folder

A hub replaces this registry in a later issue; the SDK and CLI reach both through the
same calls (list filespaces, check a token, find a filespace's engines).

Service-account tokens look like ``sa_live:<key_id>:<secret>``.  The registry keeps only a
SHA-256 of the secret (32 random bytes: no KDF needed) to check a login; the secret itself
unwraps the token's key slot in each filespace's descriptor.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import string
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cloudfs.errors import (
    AuthenticationError,
    ConfigurationError,
    FilespaceNotFoundError,
)

__all__ = [
    "REGISTRY_VERSION",
    "FilespaceRecord",
    "Registry",
    "ServiceAccount",
    "Token",
    "default_home",
]

REGISTRY_VERSION = 1
TOKEN_PREFIX = "sa_live"
_BASE64URL = string.ascii_letters + string.digits + "-_"


def default_home() -> Path:
    """``$CLOUDFS_HOME``, else ``$XDG_DATA_HOME/cloudfs``, else ~/.local/share/cloudfs."""
    if home := os.environ.get("CLOUDFS_HOME"):
        return Path(home).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "cloudfs"


@dataclass(frozen=True)
class Token:
    """A parsed service-account token.  ``repr`` never shows the secret."""

    key_id: str
    secret: bytes = field(repr=False)

    @classmethod
    def parse(cls, token: str) -> Token:
        parts = token.strip().split(":")
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
            raise AuthenticationError(
                f"malformed token: expected '{TOKEN_PREFIX}:<key_id>:<secret>'"
            )
        try:  # strict: the lenient decoder would silently drop stray characters
            if parts[2].strip(_BASE64URL):
                raise ValueError(parts[2])
            secret = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        except ValueError:
            raise AuthenticationError("malformed token: the secret is not base64url") from None
        return cls(parts[1], secret)

    @classmethod
    def mint(cls) -> Token:
        return cls(secrets.token_hex(8), secrets.token_bytes(32))

    def __str__(self) -> str:
        secret = base64.urlsafe_b64encode(self.secret).rstrip(b"=").decode()
        return f"{TOKEN_PREFIX}:{self.key_id}:{secret}"

    @property
    def slot_id(self) -> str:
        return f"sa:{self.key_id}"


@dataclass
class ServiceAccount:
    key_id: str
    name: str
    secret_sha256: str
    created_ns: int
    revoked_ns: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_ns is None


@dataclass
class FilespaceRecord:
    id: str
    name: str
    created_ns: int
    store: dict[str, Any]  # a store config's to_dict()

    @property
    def created(self) -> float:
        return self.created_ns / 1e9


@dataclass
class _State:
    version: int
    id: str
    name: str
    created_ns: int
    filespaces: list[FilespaceRecord]
    service_accounts: list[ServiceAccount]


class Registry:
    """The workspace registry in ``home``.  Each change is locked and atomic."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._path = home / "workspace.json"

    @property
    def exists(self) -> bool:
        return self._path.exists()

    def filespace_dir(self, record: FilespaceRecord) -> Path:
        return self.home / "filespaces" / record.id

    # -- reading ----------------------------------------------------------------------
    def _load(self) -> _State:
        try:
            raw = json.loads(self._path.read_text())
        except FileNotFoundError:
            raise FilespaceNotFoundError(
                f"no cloudfs workspace at {self.home} (run 'cloudfs init' first, "
                "or set CLOUDFS_HOME)"
            ) from None
        except (OSError, ValueError) as e:
            raise ConfigurationError(f"unreadable workspace file {self._path}: {e}") from e
        if raw.get("version") != REGISTRY_VERSION:
            raise ConfigurationError(f"{self._path}: unsupported version {raw.get('version')}")
        return _State(
            version=raw["version"],
            id=raw["id"],
            name=raw["name"],
            created_ns=raw["created_ns"],
            filespaces=[FilespaceRecord(**f) for f in raw["filespaces"]],
            service_accounts=[ServiceAccount(**s) for s in raw["service_accounts"]],
        )

    @property
    def id(self) -> str:
        return self._load().id

    @property
    def name(self) -> str:
        return self._load().name

    def filespaces(self) -> list[FilespaceRecord]:
        return self._load().filespaces

    def find(self, *, name: str | None = None, id: str | None = None) -> FilespaceRecord:
        for record in self.filespaces():
            if (name is not None and record.name == name) or (id is not None and record.id == id):
                return record
        what = f"named {name!r}" if name is not None else f"with id {id!r}"
        raise FilespaceNotFoundError(f"no filespace {what} in the workspace at {self.home}")

    def service_accounts(self) -> list[ServiceAccount]:
        return self._load().service_accounts

    def check_token(self, token: Token) -> ServiceAccount:
        """The active service account ``token`` belongs to; ``AuthenticationError`` if none."""
        digest = hashlib.sha256(token.secret).hexdigest()
        for account in self.service_accounts():
            if account.key_id == token.key_id:
                if not hmac.compare_digest(account.secret_sha256, digest):
                    break
                if not account.active:
                    raise AuthenticationError(f"token {token.key_id} has been revoked")
                return account
        raise AuthenticationError(f"token {token.key_id} is not valid for this workspace")

    # -- changing ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _edit(self, *, create: bool = False) -> Iterator[_State]:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.home / "workspace.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if create and not self._path.exists():
                state = _State(
                    REGISTRY_VERSION, uuid.uuid4().hex, "default", time.time_ns(), [], []
                )
            else:
                state = self._load()
            yield state
            self._save(state)

    def _save(self, state: _State) -> None:
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(state), f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path)

    def add_filespace(self, name: str, store: dict[str, Any], *, id: str) -> FilespaceRecord:
        with self._edit(create=True) as state:
            if any(f.name == name for f in state.filespaces):
                raise FileExistsError(f"a filespace named {name!r} already exists")
            record = FilespaceRecord(id=id, name=name, created_ns=time.time_ns(), store=store)
            state.filespaces.append(record)
        return record

    def remove_filespace(self, id: str) -> None:
        with self._edit() as state:
            state.filespaces = [f for f in state.filespaces if f.id != id]

    def add_service_account(self, name: str, token: Token) -> ServiceAccount:
        account = ServiceAccount(
            token.key_id, name, hashlib.sha256(token.secret).hexdigest(), time.time_ns()
        )
        with self._edit(create=True) as state:
            state.service_accounts.append(account)
        return account

    def revoke_service_account(self, key_id: str) -> ServiceAccount:
        with self._edit() as state:
            for account in state.service_accounts:
                if account.key_id == key_id and account.active:
                    account.revoked_ns = time.time_ns()
                    return account
        raise KeyError(key_id)
