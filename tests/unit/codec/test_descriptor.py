"""The filespace descriptor: creation, canonical JSON, unlock, MAC, slots, versions."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from cloudfs.codec import (
    FORMAT_VERSION,
    FilespaceDescriptor,
    KdfParams,
    key_fingerprint,
    make_passphrase_slot,
    make_token_slot,
    new_token_secret,
)
from cloudfs.codec.descriptor import MAX_FORMAT_VERSION
from cloudfs.errors import (
    ConfigurationError,
    IntegrityError,
    UnsupportedFormatError,
    WrongPassphraseError,
)

FAST = KdfParams.for_tests()
MiB = 1024 * 1024


@pytest.fixture
def created() -> tuple[FilespaceDescriptor, bytes]:
    return FilespaceDescriptor.create(4 * MiB, "hunter2", FAST)


def edit(raw: bytes, **changes: Any) -> bytes:
    obj = json.loads(raw)
    obj.update(changes)
    return json.dumps(obj).encode()


def test_create_fields(created: tuple[FilespaceDescriptor, bytes]) -> None:
    d, master = created
    assert d.format_version == FORMAT_VERSION == 4
    assert d.envelope_version == 2
    assert len(d.filespace_id) == 16
    assert len(master) == 32
    assert (d.block_size, d.compression, d.cipher, d.name_cipher) == (
        4 * MiB,
        "zstd",
        "aes-256-gcm",
        "aes-siv",
    )
    assert [s.slot_id for s in d.key_slots] == ["passphrase"]
    assert d.features == []
    assert len(d.mac) == 32
    assert d.created_ns > 0


def test_two_filespaces_differ() -> None:
    a, ma = FilespaceDescriptor.create(MiB, "pw", FAST)
    b, mb = FilespaceDescriptor.create(MiB, "pw", FAST)
    assert a.filespace_id != b.filespace_id
    assert ma != mb


def test_bytes_round_trip_is_canonical(created: tuple[FilespaceDescriptor, bytes]) -> None:
    d, _ = created
    raw = d.to_bytes()
    assert FilespaceDescriptor.from_bytes(raw) == d
    assert FilespaceDescriptor.from_bytes(raw).to_bytes() == raw
    assert b" " not in raw
    assert list(json.loads(raw)) == sorted(json.loads(raw))


def test_whitespace_and_key_order_do_not_matter(created: tuple[FilespaceDescriptor, bytes]) -> None:
    d, _ = created
    pretty = json.dumps(dict(reversed(json.loads(d.to_bytes()).items())), indent=2).encode()
    assert FilespaceDescriptor.from_bytes(pretty).unlock("hunter2")


def test_unlock(created: tuple[FilespaceDescriptor, bytes]) -> None:
    d, master = created
    assert FilespaceDescriptor.from_bytes(d.to_bytes()).unlock("hunter2") == master


def test_wrong_passphrase(created: tuple[FilespaceDescriptor, bytes]) -> None:
    d, _ = created
    with pytest.raises(WrongPassphraseError):
        d.unlock("hunter3")


@pytest.mark.parametrize(
    "change",
    [
        {"block_size": 1 * MiB},
        {"block_size": 8 * MiB},
        {"created_ns": 1},
        {"filespace_id": "00" * 16},
    ],
    ids=["smaller-block", "larger-block", "created", "filespace-id"],
)
def test_tampered_field_is_refused_at_unlock(
    created: tuple[FilespaceDescriptor, bytes], change: dict[str, Any]
) -> None:
    d, _ = created
    tampered = FilespaceDescriptor.from_bytes(edit(d.to_bytes(), **change))
    # A changed filespace id also breaks the slot's associated data.
    with pytest.raises((IntegrityError, WrongPassphraseError)):
        tampered.unlock("hunter2")


def test_changed_block_size_is_an_integrity_error(
    created: tuple[FilespaceDescriptor, bytes],
) -> None:
    d, _ = created
    tampered = FilespaceDescriptor.from_bytes(edit(d.to_bytes(), block_size=64 * 1024))
    with pytest.raises(IntegrityError, match="MAC"):
        tampered.unlock("hunter2")


def test_tampered_mac_is_refused(created: tuple[FilespaceDescriptor, bytes]) -> None:
    d, _ = created
    mac = bytearray(d.mac)
    mac[0] ^= 1
    with pytest.raises(IntegrityError):
        dataclasses.replace(d, mac=bytes(mac)).unlock("hunter2")


def test_slot_copied_from_another_filespace_does_not_open(
    created: tuple[FilespaceDescriptor, bytes],
) -> None:
    ours, _ = created
    theirs, _ = FilespaceDescriptor.create(4 * MiB, "attacker", FAST)
    their_slots = json.loads(theirs.to_bytes())["key_slots"]
    mixed = FilespaceDescriptor.from_bytes(edit(ours.to_bytes(), key_slots=their_slots))
    with pytest.raises(WrongPassphraseError):
        mixed.unlock("attacker")


def test_slot_wrapping_another_master_fails_the_mac(
    created: tuple[FilespaceDescriptor, bytes],
) -> None:
    d, _ = created
    impostor = make_passphrase_slot(bytes(32), "attacker", d.filespace_id, "evil", FAST)
    with pytest.raises(IntegrityError, match="different master key"):
        d.add_slot(impostor).unlock("attacker")


def test_add_token_slot_and_both_open(created: tuple[FilespaceDescriptor, bytes]) -> None:
    d, master = created
    secret = new_token_secret()
    d2 = FilespaceDescriptor.from_bytes(
        d.add_slot(make_token_slot(master, secret, d.filespace_id, "sa-1")).to_bytes()
    )
    assert d2.unlock("hunter2") == master
    assert d2.unlock(secret) == master
    assert d2.unlock(secret, slot_id="sa-1") == master
    assert d2.mac == d.mac  # slots are outside the MAC


def test_duplicate_slot_id_is_refused(created: tuple[FilespaceDescriptor, bytes]) -> None:
    d, master = created
    with pytest.raises(ValueError, match="already exists"):
        d.add_slot(make_token_slot(master, new_token_secret(), d.filespace_id, "passphrase"))


def test_remove_slot(created: tuple[FilespaceDescriptor, bytes]) -> None:
    d, master = created
    secret = new_token_secret()
    d2 = d.add_slot(make_token_slot(master, secret, d.filespace_id, "sa-1")).remove_slot("sa-1")
    with pytest.raises(WrongPassphraseError):
        d2.unlock(secret)
    assert d2.unlock("hunter2") == master
    with pytest.raises(ValueError, match="last key slot"):
        d2.remove_slot("passphrase")
    with pytest.raises(ValueError, match="no key slot"):
        d2.remove_slot("nope")


def test_change_passphrase_rewraps_one_slot(created: tuple[FilespaceDescriptor, bytes]) -> None:
    d, master = created
    d2 = d.change_passphrase(master, "passphrase", "new passphrase", FAST)
    assert d2.unlock("new passphrase") == master
    with pytest.raises(WrongPassphraseError):
        d2.unlock("hunter2")
    assert (d2.filespace_id, d2.mac) == (d.filespace_id, d.mac)
    with pytest.raises(ValueError, match="no passphrase key slot"):
        d.change_passphrase(master, "nope", "x", FAST)
    with pytest.raises(IntegrityError):
        d.change_passphrase(bytes(32), "passphrase", "x", FAST)


def test_updated_re_macs(created: tuple[FilespaceDescriptor, bytes]) -> None:
    d, master = created
    d2 = d.updated(master, format_version=1, features=[])
    assert d2.unlock("hunter2") == master
    with pytest.raises(UnsupportedFormatError):
        d.updated(master, features=["time-travel"])
    with pytest.raises(UnsupportedFormatError):
        d.updated(master, format_version=MAX_FORMAT_VERSION + 1)


def test_key_fingerprint_pins_the_master(created: tuple[FilespaceDescriptor, bytes]) -> None:
    d, master = created
    assert key_fingerprint(d.unlock("hunter2"), d.filespace_id) == key_fingerprint(
        master, d.filespace_id
    )


# -- versions and unsupported filespaces ---------------------------------------------


def test_newer_format_asks_to_upgrade(created: tuple[FilespaceDescriptor, bytes]) -> None:
    d, _ = created
    with pytest.raises(UnsupportedFormatError, match=r"newer.*upgrade cloudfs"):
        FilespaceDescriptor.from_bytes(edit(d.to_bytes(), format_version=MAX_FORMAT_VERSION + 1))


def test_older_format_is_refused(created: tuple[FilespaceDescriptor, bytes]) -> None:
    d, _ = created
    with pytest.raises(UnsupportedFormatError, match="older"):
        FilespaceDescriptor.from_bytes(edit(d.to_bytes(), format_version=0))


@pytest.mark.parametrize(
    "change",
    [
        {"cipher": "chacha20"},
        {"compression": "lz4"},
        {"name_cipher": "aes-gcm-siv"},
        {"features": ["x"]},
    ],
)
def test_unknown_algorithm_or_feature(
    created: tuple[FilespaceDescriptor, bytes], change: dict[str, Any]
) -> None:
    d, _ = created
    with pytest.raises(UnsupportedFormatError, match="upgrade cloudfs"):
        FilespaceDescriptor.from_bytes(edit(d.to_bytes(), **change))


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", b"[]", b'{"hello": 1}', b"PK\x03\x04"])
def test_not_a_descriptor(raw: bytes) -> None:
    with pytest.raises(UnsupportedFormatError, match="not a cloudfs filespace descriptor"):
        FilespaceDescriptor.from_bytes(raw)


@pytest.mark.parametrize(
    "change",
    [
        {"block_size": 3},
        {"block_size": "4194304"},
        {"filespace_id": "zz"},
        {"filespace_id": "00"},
        {"mac": 5},
        {"features": "zstd"},
        {"features": ["a", "a"]},
        {"key_slots": [{"kind": "passphrase"}]},
        {"format_version": "1"},
        {"extra": True},
    ],
)
def test_malformed_descriptor_is_an_integrity_error(
    created: tuple[FilespaceDescriptor, bytes], change: dict[str, Any]
) -> None:
    d, _ = created
    with pytest.raises(IntegrityError):
        FilespaceDescriptor.from_bytes(edit(d.to_bytes(), **change))


def test_missing_field_is_an_integrity_error(created: tuple[FilespaceDescriptor, bytes]) -> None:
    obj = json.loads(created[0].to_bytes())
    del obj["created_ns"]
    with pytest.raises(IntegrityError, match="created_ns"):
        FilespaceDescriptor.from_bytes(json.dumps(obj).encode())


@pytest.mark.parametrize(
    "block_size", [0, 32 * 1024, 32 * MiB, 16 * MiB + 64 * 1024, 64 * 1024 + 1, 3 * MiB + 4096]
)
def test_invalid_block_size_is_a_configuration_error(block_size: int) -> None:
    with pytest.raises(ConfigurationError, match="multiple of 64 KiB"):
        FilespaceDescriptor.create(block_size, "pw", FAST)


@pytest.mark.parametrize("block_size", [64 * 1024, 192 * 1024, MiB, 3 * MiB, 4032 * 1024, 16 * MiB])
def test_valid_block_sizes(block_size: int) -> None:
    d, _ = FilespaceDescriptor.create(block_size, "pw", FAST)
    assert FilespaceDescriptor.from_bytes(d.to_bytes()).block_size == block_size
