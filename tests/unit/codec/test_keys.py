"""Master key, HKDF subkeys, and key slots (passphrase and token)."""

from __future__ import annotations

import dataclasses
import os
import time

import pytest

from cloudfs.codec import (
    KdfParams,
    KeySlot,
    Subkeys,
    key_fingerprint,
    make_passphrase_slot,
    make_token_slot,
    new_master_key,
    new_token_secret,
    open_with,
    unwrap_slot,
)
from cloudfs.codec.keys import KDF_PROFILE_ENV
from cloudfs.errors import ConfigurationError, WrongPassphraseError

FAST = KdfParams.for_tests()


# -- subkeys --------------------------------------------------------------------------


def test_subkeys_have_the_right_sizes_and_are_distinct(master: bytes, filespace_id: bytes) -> None:
    keys = Subkeys.derive(master, filespace_id)
    sizes = [len(k) for k in (keys.data, keys.names, keys.secrets, keys.descriptor_mac)]
    assert sizes == [32, 64, 32, 32]
    assert (
        len({keys.data, keys.names[:32], keys.names[32:], keys.secrets, keys.descriptor_mac}) == 5
    )


def test_subkeys_are_deterministic_and_filespace_bound(master: bytes, filespace_id: bytes) -> None:
    assert Subkeys.derive(master, filespace_id) == Subkeys.derive(master, filespace_id)
    assert Subkeys.derive(master, filespace_id) != Subkeys.derive(master, os.urandom(16))


def test_subkeys_repr_hides_keys(subkeys: Subkeys) -> None:
    assert subkeys.data.hex() not in repr(subkeys)


def test_master_key_and_token_secret_are_random() -> None:
    assert len(new_master_key()) == 32
    assert new_master_key() != new_master_key()
    assert len(new_token_secret()) == 32
    assert new_token_secret() != new_token_secret()


def test_fingerprint_is_stable_and_reveals_no_subkey(master: bytes, filespace_id: bytes) -> None:
    fp = key_fingerprint(master, filespace_id)
    assert fp == key_fingerprint(master, filespace_id)
    assert len(fp) == 32
    assert fp != key_fingerprint(new_master_key(), filespace_id)
    keys = Subkeys.derive(master, filespace_id)
    assert bytes.fromhex(fp) not in (keys.data[:16], keys.secrets[:16], keys.names[:16])


# -- passphrase slots -----------------------------------------------------------------


def test_passphrase_slot_round_trip(master: bytes, filespace_id: bytes) -> None:
    slot = make_passphrase_slot(master, "correct horse", filespace_id, "owner", FAST)
    assert slot.kind == "passphrase"
    assert slot.kdf == "argon2id"
    assert slot.kdf_params == FAST
    assert unwrap_slot(slot, "correct horse", filespace_id) == master


def test_wrong_passphrase_is_refused(master: bytes, filespace_id: bytes) -> None:
    slot = make_passphrase_slot(master, "correct horse", filespace_id, "owner", FAST)
    with pytest.raises(WrongPassphraseError, match="'owner'"):
        unwrap_slot(slot, "correct horse ", filespace_id)


def test_passphrase_is_nfc_normalised(master: bytes, filespace_id: bytes) -> None:
    slot = make_passphrase_slot(master, "caf\u00e9", filespace_id, "owner", FAST)
    assert unwrap_slot(slot, "cafe\u0301", filespace_id) == master


def test_empty_passphrase_is_refused(master: bytes, filespace_id: bytes) -> None:
    with pytest.raises(ValueError, match="empty"):
        make_passphrase_slot(master, "", filespace_id, "owner", FAST)


def test_slot_is_bound_to_its_filespace(master: bytes, filespace_id: bytes) -> None:
    slot = make_passphrase_slot(master, "pw", filespace_id, "owner", FAST)
    with pytest.raises(WrongPassphraseError):
        unwrap_slot(slot, "pw", os.urandom(16))


def test_relabelled_slot_is_refused(master: bytes, filespace_id: bytes) -> None:
    slot = make_passphrase_slot(master, "pw", filespace_id, "owner", FAST)
    with pytest.raises(WrongPassphraseError):
        unwrap_slot(dataclasses.replace(slot, slot_id="admin"), "pw", filespace_id)


def test_tampered_slot_is_refused(master: bytes, filespace_id: bytes) -> None:
    slot = make_passphrase_slot(master, "pw", filespace_id, "owner", FAST)
    flipped = slot.wrapped_key[:-1] + bytes([slot.wrapped_key[-1] ^ 1])
    for tampered in (
        dataclasses.replace(slot, salt=bytes(16)),
        dataclasses.replace(slot, wrapped_key=flipped),
        dataclasses.replace(slot, kdf_params=KdfParams(memory_kib=128, iterations=1, lanes=1)),
    ):
        with pytest.raises(WrongPassphraseError):
            unwrap_slot(tampered, "pw", filespace_id)


def test_default_profile_is_memory_hard_and_opens(master: bytes, filespace_id: bytes) -> None:
    params = KdfParams.standard()
    assert params.memory_kib >= 64 * 1024
    slot = make_passphrase_slot(master, "pw", filespace_id, "owner", params)
    start = time.perf_counter()
    assert unwrap_slot(slot, "pw", filespace_id) == master
    assert time.perf_counter() - start < 5  # ~0.3 s here; only catches gross mistakes


# -- token slots ----------------------------------------------------------------------


def test_token_slot_round_trip(master: bytes, filespace_id: bytes) -> None:
    secret = new_token_secret()
    slot = make_token_slot(master, secret, filespace_id, "sa-1234")
    assert slot.kind == "token"
    assert slot.kdf == "hkdf-sha256"
    assert slot.kdf_params is None
    assert unwrap_slot(slot, secret, filespace_id) == master


def test_wrong_token_is_refused(master: bytes, filespace_id: bytes) -> None:
    slot = make_token_slot(master, new_token_secret(), filespace_id, "sa-1234")
    with pytest.raises(WrongPassphraseError):
        unwrap_slot(slot, new_token_secret(), filespace_id)


def test_short_token_secret_is_refused(master: bytes, filespace_id: bytes) -> None:
    with pytest.raises(ValueError, match="32 random bytes"):
        make_token_slot(master, b"password", filespace_id, "sa")


def test_secret_of_the_wrong_type_is_a_type_error(master: bytes, filespace_id: bytes) -> None:
    token = make_token_slot(master, new_token_secret(), filespace_id, "sa")
    phrase = make_passphrase_slot(master, "pw", filespace_id, "owner", FAST)
    with pytest.raises(TypeError):
        unwrap_slot(token, "pw", filespace_id)
    with pytest.raises(TypeError):
        unwrap_slot(phrase, b"pw", filespace_id)


# -- several slots --------------------------------------------------------------------


def test_two_slots_open_the_same_master(master: bytes, filespace_id: bytes) -> None:
    secret = new_token_secret()
    slots = [
        make_passphrase_slot(master, "alice's passphrase", filespace_id, "alice", FAST),
        make_passphrase_slot(master, "bob's passphrase", filespace_id, "bob", FAST),
        make_token_slot(master, secret, filespace_id, "ci"),
    ]
    assert open_with(slots, "alice's passphrase", filespace_id) == master
    assert open_with(slots, "bob's passphrase", filespace_id) == master
    assert open_with(slots, secret, filespace_id) == master


def test_open_with_wrong_secret(master: bytes, filespace_id: bytes) -> None:
    slots = [
        make_passphrase_slot(master, "pw", filespace_id, "a", FAST),
        make_token_slot(master, new_token_secret(), filespace_id, "t"),
    ]
    with pytest.raises(WrongPassphraseError, match="no key slot opens with this passphrase"):
        open_with(slots, "nope", filespace_id)
    with pytest.raises(WrongPassphraseError, match="token"):
        open_with(slots, new_token_secret(), filespace_id)
    with pytest.raises(WrongPassphraseError):
        open_with([], "pw", filespace_id)


def test_open_with_a_slot_id_tries_only_that_slot(master: bytes, filespace_id: bytes) -> None:
    slots = [
        make_passphrase_slot(master, "pw", filespace_id, "a", FAST),
        make_passphrase_slot(master, "other", filespace_id, "b", FAST),
    ]
    assert open_with(slots, "pw", filespace_id, slot_id="a") == master
    with pytest.raises(WrongPassphraseError):
        open_with(slots, "pw", filespace_id, slot_id="b")


def test_slot_json_round_trip(master: bytes, filespace_id: bytes) -> None:
    for slot in (
        make_passphrase_slot(master, "pw", filespace_id, "a", FAST),
        make_token_slot(master, new_token_secret(), filespace_id, "t"),
    ):
        assert KeySlot.from_json(slot.to_json()) == slot


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "magic"},
        {"kdf": "pbkdf2"},
        {"salt": "not base64!"},
        {"wrapped_key": "AAAA"},
        {"kdf_params": {"memory_kib": 1, "iterations": 1, "lanes": 1}},
        {"kdf_params": {"memory_kib": 64, "iterations": True, "lanes": 1}},
        {"slot_id": ""},
    ],
)
def test_malformed_slot_json_is_refused(
    master: bytes, filespace_id: bytes, change: dict[str, object]
) -> None:
    obj = make_passphrase_slot(master, "pw", filespace_id, "a", FAST).to_json() | change
    with pytest.raises((TypeError, ValueError)):
        KeySlot.from_json(obj)


# -- KDF parameters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("memory_kib", "iterations", "lanes"),
    [(7, 1, 1), (64, 0, 1), (64, 1, 0), (64, 1, 17), (15, 1, 2), (8 * 1024 * 1024, 1, 1)],
)
def test_kdf_params_are_validated(memory_kib: int, iterations: int, lanes: int) -> None:
    with pytest.raises(ConfigurationError):
        KdfParams(memory_kib, iterations, lanes)


def test_default_profile_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KDF_PROFILE_ENV, raising=False)
    assert KdfParams.default() == KdfParams.standard()
    monkeypatch.setenv(KDF_PROFILE_ENV, "test")
    assert KdfParams.default() == KdfParams.for_tests() == KdfParams.from_env()
    monkeypatch.setenv(KDF_PROFILE_ENV, "fast")
    with pytest.raises(ConfigurationError, match="CLOUDFS_KDF_PROFILE"):
        KdfParams.default()


def test_slot_made_with_params_none_reads_the_environment(
    master: bytes, filespace_id: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KDF_PROFILE_ENV, "test")
    assert make_passphrase_slot(master, "pw", filespace_id, "a").kdf_params == FAST
