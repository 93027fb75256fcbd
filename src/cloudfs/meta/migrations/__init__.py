"""Numbered schema migrations, applied in order when an engine opens its database.

Each file ``NNNN_name.sql`` in this package is one step; numbers start at 1 and have no
gaps.  A file is written once for every engine: ``{int}``, ``{blob}``, ``{text}``,
``{serial}`` (an auto-numbered, never-reused integer primary key) and ``{without_rowid}``
are filled in from the engine's :class:`~cloudfs.meta._sql_tx.Dialect`, and statements
are separated by a semicolon that ends a line.

:func:`migrate` runs inside the engine's open transaction (a write transaction, so two
processes opening one database at once apply a step only once): it creates
``schema_version`` if needed, refuses a database that records a step newer than this code
knows (:class:`~cloudfs.errors.UnsupportedFormatError`: an older cloudfs must not write a
schema it does not understand), then applies the missing steps, each recorded by a row in
``schema_version``.  Re-opening an up-to-date database changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from cloudfs.errors import UnsupportedFormatError
from cloudfs.meta._sql_tx import Dialect, Tx

__all__ = ["Migration", "available", "migrate", "render", "schema_version"]

_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")
_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """The migrations shipped in this package, in order (checked to be 1..n)."""
    found = []
    for item in resources.files(__name__).iterdir():
        match = _FILE.match(item.name)
        if match:
            found.append(Migration(int(match[1]), match[2], item.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations are not numbered 1..n: {[m.version for m in found]}")
    return found


def render(sql: str, dialect: Dialect) -> list[str]:
    """The statements of a migration file, in ``dialect``'s spelling."""

    def fill(match: re.Match[str]) -> str:
        return dialect.schema_types[match[1]]

    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    text = _SLOT.sub(fill, "\n".join(lines))
    return [stmt.strip() for stmt in re.split(r";[ \t]*$", text, flags=re.M) if stmt.strip()]


def schema_version(tx: Tx) -> int:
    """The newest step applied to this database (0 for an empty one)."""
    tx.run(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        f" version {tx.dialect.schema_types['int']} PRIMARY KEY,"
        f" name {tx.dialect.schema_types['text']} NOT NULL,"
        f" applied_ns {tx.dialect.schema_types['int']} NOT NULL)"
    )
    row = tx.one("SELECT max(version) FROM schema_version")
    return int(row[0]) if row and row[0] is not None else 0


def migrate(tx: Tx, migrations: list[Migration] | None = None) -> list[int]:
    """Bring the schema up to date; return the versions applied (empty if none)."""
    steps = available() if migrations is None else migrations
    current = schema_version(tx)
    newest = steps[-1].version if steps else 0
    if current > newest:
        raise UnsupportedFormatError(
            f"the metadata schema is version {current}, newer than this cloudfs knows"
            f" ({newest}): upgrade cloudfs to open it"
        )
    applied = []
    for step in steps:
        if step.version <= current:
            continue
        for statement in render(step.sql, tx.dialect):
            tx.run(statement)
        tx.run(
            "INSERT INTO schema_version (version, name, applied_ns) VALUES (?, ?, ?)",
            (step.version, step.name, tx.now),
        )
        applied.append(step.version)
    return applied
