"""PinStore: the pins of one filespace client, in ``pins.json`` beside its cache.

A pin names a file or a folder (recursively, including what is added to it later) whose
blocks must stay in the disk cache.  The file is small and changed rarely: every change
is a locked read-modify-write with an atomic replace, so a CLI process can add a pin
while the process that owns the cache (a mount) keeps updating the pins' states.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

__all__ = ["PIN_STATES", "Pin", "PinStore"]

PIN_STATES = ("pinning", "pinned", "could not pin")


@dataclass(frozen=True)
class Pin:
    path: str
    ino: int
    state: str = "pinning"
    detail: str = ""
    files: int = 0
    bytes: int = 0
    updated_ns: int = 0


class PinStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[Pin]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        return [Pin(**p) for p in raw.get("pins", [])]

    @contextlib.contextmanager
    def _edit(self) -> Iterator[list[Pin]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            pins = self.load()
            yield pins
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"pins": [asdict(p) for p in pins]}, indent=2))
            os.replace(tmp, self.path)

    def add(self, path: str, ino: int) -> Pin:
        """Pin ``path`` (inode ``ino``); re-pinning the same path restarts it."""
        pin = Pin(path, ino, updated_ns=time.time_ns())
        with self._edit() as pins:
            pins[:] = [p for p in pins if p.path != path] + [pin]
        return pin

    def remove(self, path: str) -> bool:
        with self._edit() as pins:
            kept = [p for p in pins if p.path != path]
            found = len(kept) != len(pins)
            pins[:] = kept
        return found

    def record(
        self, path: str, state: str, detail: str = "", *, files: int = 0, bytes: int = 0
    ) -> None:
        """Store how far pinning ``path`` got (ignored if it was unpinned meanwhile)."""
        with self._edit() as pins:
            for i, pin in enumerate(pins):
                if pin.path == path:
                    pins[i] = replace(
                        pin,
                        state=state,
                        detail=detail,
                        files=files,
                        bytes=bytes,
                        updated_ns=time.time_ns(),
                    )
