"""Shared test set-up: an environment that points cloudfs at a test's own folders."""

from __future__ import annotations

from pathlib import Path

import pytest


def isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap KDF, a workspace and state under ``tmp_path``, no secrets from the caller."""
    monkeypatch.setenv("CLOUDFS_KDF_PROFILE", "test")
    monkeypatch.setenv("CLOUDFS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("CLOUDFS_PASSPHRASE", raising=False)
    monkeypatch.delenv("CLOUDFS_TOKEN", raising=False)
