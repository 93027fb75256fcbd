"""Fault tests run the upload queue with a short backoff cap (see ``fast_retries``) and
reads that wait only briefly for an unreachable store (see ``short_store_wait``)."""

from __future__ import annotations

import pytest

from cloudfs.cache import writeback
from cloudfs.vfs.fetch import STORE_WAIT_ENV

RETRY_CAP = 0.2  # seconds: production backs off up to 5 s, which only slows tests down
STORE_WAIT = 0.05  # seconds: production reads wait up to 10 s for the store


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cap the upload queue's backoff so a test sees the store come back within ~0.2 s."""
    monkeypatch.setattr(writeback, "BACKOFF_MAX", RETRY_CAP)


@pytest.fixture(autouse=True)
def short_store_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads of uncached blocks give up on a store that is down after ~0.05 s (EIO)."""
    monkeypatch.setenv(STORE_WAIT_ENV, str(STORE_WAIT))
