"""Names (deterministic AES-SIV, context-bound) and small secrets (AES-GCM, context-bound)."""

from __future__ import annotations

import os

import pytest

from cloudfs.codec import MAX_NAME_BYTES, NameCipher, SecretBox, Subkeys
from cloudfs.errors import IntegrityError


def ctx(ino: int) -> bytes:
    return ino.to_bytes(8, "big")


# -- names ----------------------------------------------------------------------------


def test_name_round_trip_and_determinism(names: NameCipher) -> None:
    blob = names.encrypt(ctx(1), "report.pdf")
    assert names.encrypt(ctx(1), "report.pdf") == blob
    assert names.decrypt(ctx(1), blob) == "report.pdf"


def test_same_key_new_instance_is_deterministic_too(names: NameCipher, subkeys: Subkeys) -> None:
    assert NameCipher(subkeys.names).encrypt(ctx(7), "a") == names.encrypt(ctx(7), "a")


def test_equal_names_in_different_directories_differ(names: NameCipher) -> None:
    assert names.encrypt(ctx(1), "notes.txt") != names.encrypt(ctx(2), "notes.txt")


def test_name_moved_to_another_context_is_refused(names: NameCipher) -> None:
    blob = names.encrypt(ctx(1), "notes.txt")
    with pytest.raises(IntegrityError):
        names.decrypt(ctx(2), blob)
    with pytest.raises(IntegrityError):
        names.decrypt(b"xattr:" + ctx(1), blob)


def test_different_names_differ(names: NameCipher) -> None:
    assert names.encrypt(ctx(1), "a") != names.encrypt(ctx(1), "b")


@pytest.mark.parametrize(
    "name",
    [
        "é",
        "naïve café",
        "日本語のファイル名",
        "emoji 🎉🚀",
        "e\u0301",
        "with/slash",
        " ",
        "a" * 255,
    ],
)
def test_unicode_and_edge_names(names: NameCipher, name: str) -> None:
    assert names.decrypt(ctx(3), names.encrypt(ctx(3), name)) == name


def test_nfc_and_nfd_forms_stay_distinct(names: NameCipher) -> None:
    # The cipher stores exactly what it is given; normalisation is the VFS's policy.
    assert names.encrypt(ctx(1), "\u00e9") != names.encrypt(ctx(1), "e\u0301")


def test_length_is_hidden_to_16_bytes(names: NameCipher) -> None:
    lengths = {len(names.encrypt(ctx(1), "x" * n)) for n in range(1, 16)}
    assert lengths == {1 + 16 + 16}
    assert len(names.encrypt(ctx(1), "x" * 16)) == 1 + 16 + 32
    assert len(names.encrypt(ctx(1), "x" * MAX_NAME_BYTES)) == 1 + 16 + 256


def test_empty_name_is_refused(names: NameCipher) -> None:
    with pytest.raises(ValueError, match="empty"):
        names.encrypt(ctx(1), "")


@pytest.mark.parametrize("name", ["a" * 256, "é" * 128, "🎉" * 64])
def test_name_over_255_utf8_bytes_is_refused(names: NameCipher, name: str) -> None:
    with pytest.raises(ValueError, match="limit is 255"):
        names.encrypt(ctx(1), name)


def test_255_bytes_of_multibyte_characters_fit(names: NameCipher) -> None:
    name = "é" * 127 + "a"  # 255 bytes
    assert names.decrypt(ctx(1), names.encrypt(ctx(1), name)) == name


def test_lone_surrogate_is_refused(names: NameCipher) -> None:
    with pytest.raises(UnicodeEncodeError, match="surrogate"):
        names.encrypt(ctx(1), "bad\udcff")


def test_tampered_name_is_refused(names: NameCipher) -> None:
    blob = names.encrypt(ctx(1), "secret-plan.txt")
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x01
        with pytest.raises(IntegrityError):
            names.decrypt(ctx(1), bytes(tampered))


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x01" + bytes(31), b"\x02" + bytes(40)])
def test_malformed_name_blob_is_refused(names: NameCipher, blob: bytes) -> None:
    with pytest.raises(IntegrityError):
        names.decrypt(ctx(1), blob)


def test_name_key_must_be_64_bytes() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        NameCipher(os.urandom(32))


# -- secrets --------------------------------------------------------------------------


def test_secret_round_trip(box: SecretBox) -> None:
    for value in (b"", b"../target", os.urandom(5000)):
        assert box.open(b"symlink", box.seal(b"symlink", value)) == value


def test_secret_is_randomised(box: SecretBox) -> None:
    assert box.seal(b"c", b"same") != box.seal(b"c", b"same")


def test_secret_in_another_context_is_refused(box: SecretBox) -> None:
    blob = box.seal(b"xattr-value:" + ctx(1), b"v")
    with pytest.raises(IntegrityError):
        box.open(b"xattr-value:" + ctx(2), blob)


def test_tampered_or_truncated_secret_is_refused(box: SecretBox) -> None:
    blob = box.seal(b"c", b"aws-secret-key")
    for i in range(len(blob)):
        tampered = bytearray(blob)
        tampered[i] ^= 0x80
        with pytest.raises(IntegrityError):
            box.open(b"c", bytes(tampered))
    for n in range(len(blob)):
        with pytest.raises(IntegrityError):
            box.open(b"c", blob[:n])


def test_secret_under_another_key_is_refused(box: SecretBox) -> None:
    with pytest.raises(IntegrityError):
        SecretBox(os.urandom(32)).open(b"c", box.seal(b"c", b"v"))
