"""Fixtures for the codec tests: one filespace's keys and codecs, built without any KDF."""

from __future__ import annotations

import os

import pytest

from cloudfs.codec import BlockCodec, NameCipher, SecretBox, Subkeys

BLOCK = 4 * 1024 * 1024


@pytest.fixture
def filespace_id() -> bytes:
    return os.urandom(16)


@pytest.fixture
def master() -> bytes:
    return os.urandom(32)


@pytest.fixture
def subkeys(master: bytes, filespace_id: bytes) -> Subkeys:
    return Subkeys.derive(master, filespace_id)


@pytest.fixture(params=[1, 2], ids=["v1", "v2"])
def codec(subkeys: Subkeys, filespace_id: bytes, request: pytest.FixtureRequest) -> BlockCodec:
    """A codec of each envelope version: every envelope test runs against both."""
    return BlockCodec(subkeys.data, filespace_id, envelope_version=request.param)


@pytest.fixture
def names(subkeys: Subkeys) -> NameCipher:
    return NameCipher(subkeys.names)


@pytest.fixture
def box(subkeys: Subkeys) -> SecretBox:
    return SecretBox(subkeys.secrets)
