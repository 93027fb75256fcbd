"""Fault tests run the upload queue with a short backoff cap (see ``fast_retries``)."""

from __future__ import annotations

import pytest

from cloudfs.cache import writeback

RETRY_CAP = 0.2  # seconds: production backs off up to 5 s, which only slows tests down


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cap the upload queue's backoff so a test sees the store come back within ~0.2 s."""
    monkeypatch.setattr(writeback, "BACKOFF_MAX", RETRY_CAP)
