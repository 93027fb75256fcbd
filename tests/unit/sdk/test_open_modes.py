"""``Filesystem.open`` against Python's own ``open`` on a local file: a differential test.

The same script of operations runs on a cloudfs file and on a file in ``tmp_path``; the
observations (values returned, exception types raised, the bytes left in the file) must
be equal, for every mode Python's ``open`` accepts and the buffering/encoding/newline
variants.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import cloudfs

BINARY_MODES = ["rb", "wb", "xb", "ab", "rb+", "wb+", "ab+", "xb+", "br", "r+b", "+rb"]
TEXT_MODES = ["r", "w", "x", "a", "r+", "w+", "a+", "x+", "rt", "wt", "at", "xt", "r+t", "tr"]
INVALID_MODES = ["", "t", "b", "rw", "rr", "rbt", "U", "rU", "z", "r++", "wa", "+", "bb"]

EXISTING = "héllo\r\nwörld\rthird\nlast ☃".encode()
BYTES = b"\x00\x01binary\r\n\xff"
TEXT = "new ünïcode\nline2\r\nline3\rend"

Opener = Callable[..., Any]
Reader = Callable[[], bytes | None]


def observe(open_: Opener, read_back: Reader, mode: str, **kwargs: Any) -> list[Any]:
    """Run one script of operations and record what happened."""
    log: list[Any] = []

    def attempt(name: str, call: Callable[[], Any]) -> Any:
        try:
            result = call()
        except Exception as e:
            log.append((name, type(e)))
            return None
        log.append((name, result))
        return result

    try:
        f = open_(mode, **kwargs)
    except Exception as e:
        return [("open", type(e)), ("content", read_back())]
    text = isinstance(f, io.TextIOBase)
    payload: Any = TEXT if text else BYTES
    with f:
        log.append(("flags", f.readable(), f.writable(), f.seekable(), text))
        attempt("read", f.read)
        attempt("write", lambda: f.write(payload))
        attempt("tell", f.tell)
        attempt("seek0", lambda: f.seek(0))
        attempt("readlines", f.readlines)
        attempt("seek-end", lambda: f.seek(0, io.SEEK_END))
        attempt("write2", lambda: f.write(payload[:5]))
        attempt("seek3", lambda: f.seek(3))
        attempt("read3", lambda: f.read(3))
        attempt("truncate", lambda: f.truncate(7))
        attempt("tell2", f.tell)
    log.append(("closed", f.closed))
    attempt("read-closed", f.read)
    log.append(("content", read_back()))
    return log


@pytest.fixture
def pair(fs: cloudfs.Filesystem, tmp_path: Path) -> Callable[[bool], tuple[Any, Any]]:
    """Make (cloudfs, local) (opener, reader) pairs, with or without an existing file."""
    local = tmp_path / "local-file"
    remote = "/remote-file"

    def make(existing: bool) -> tuple[Any, Any]:
        if existing:
            local.write_bytes(EXISTING)
            fs.write_file(remote, EXISTING)

        def local_open(mode: str, **kw: Any) -> Any:
            if "b" not in mode and "encoding" not in kw and set(mode) <= set("rwxat+"):
                kw["encoding"] = "utf-8"  # cloudfs text defaults to UTF-8 everywhere
            return open(local, mode, **kw)

        def local_read() -> bytes | None:
            return local.read_bytes() if local.exists() else None

        def remote_open(mode: str, **kw: Any) -> Any:
            return fs.open(remote, mode, **kw)

        def remote_read() -> bytes | None:
            return fs.read_file(remote) if fs.file_exists(remote) else None

        return (remote_open, remote_read), (local_open, local_read)

    return make


def check(
    pair: Callable[[bool], Any], existing: bool, mode: str, *, content: bool = True, **kw: Any
) -> list[Any]:
    (r_open, r_read), (l_open, l_read) = pair(existing)
    expected = observe(l_open, l_read, mode, **kw)
    actual = observe(r_open, r_read, mode, **kw)
    if not content:  # Python's open may truncate before refusing the arguments; we do not
        expected, actual = expected[:-1], actual[:-1]
    assert actual == expected
    return actual


@pytest.mark.parametrize("existing", [True, False], ids=["existing", "missing"])
@pytest.mark.parametrize("mode", BINARY_MODES)
@pytest.mark.parametrize("buffering", [-1, 0, 16, 1 << 20])
def test_binary_modes(pair, mode: str, existing: bool, buffering: int) -> None:  # type: ignore[no-untyped-def]
    check(pair, existing, mode, buffering=buffering)


@pytest.mark.parametrize("existing", [True, False], ids=["existing", "missing"])
@pytest.mark.parametrize("mode", TEXT_MODES)
def test_text_modes(pair, mode: str, existing: bool) -> None:  # type: ignore[no-untyped-def]
    check(pair, existing, mode)


@pytest.mark.parametrize("newline", [None, "", "\n", "\r", "\r\n"])
@pytest.mark.parametrize("mode", ["r", "w+", "a+", "r+"])
def test_text_newline(pair, mode: str, newline: str | None) -> None:  # type: ignore[no-untyped-def]
    check(pair, True, mode, newline=newline)


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1", "utf-16", "utf-8-sig", "ascii"])
@pytest.mark.parametrize("errors", [None, "strict", "replace", "ignore"])
@pytest.mark.parametrize("mode", ["r", "w+"])
def test_text_encoding_and_errors(pair, mode: str, encoding: str, errors: str | None) -> None:  # type: ignore[no-untyped-def]
    check(pair, True, mode, encoding=encoding, errors=errors)


@pytest.mark.parametrize("mode", ["w", "a+", "r+"])
@pytest.mark.parametrize("buffering", [1, 8, -1])
def test_text_buffering(pair, mode: str, buffering: int) -> None:  # type: ignore[no-untyped-def]
    check(pair, True, mode, buffering=buffering)


@pytest.mark.parametrize("mode", INVALID_MODES)
def test_invalid_modes(pair, mode: str) -> None:  # type: ignore[no-untyped-def]
    log = check(pair, True, mode)
    assert log[0] == ("open", ValueError)


@pytest.mark.parametrize(
    ("mode", "kw"),
    [
        ("r", {"buffering": 0}),
        ("w", {"buffering": 0}),
        ("rb", {"encoding": "utf-8"}),
        ("rb", {"errors": "strict"}),
        ("wb", {"newline": "\n"}),
        ("r", {"newline": "x"}),
        ("r", {"encoding": "no-such-codec"}),
    ],
)
def test_invalid_argument_combinations(pair, mode: str, kw: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    log = check(pair, True, mode, content=False, **kw)
    assert log[0][0] == "open"
    assert issubclass(log[0][1], ValueError | LookupError)


def test_invalid_combinations_do_not_touch_the_file(fs: cloudfs.Filesystem) -> None:
    fs.write_file("/f", b"keep")
    for mode, kw in [("w", {"buffering": 0}), ("wb", {"encoding": "utf-8"}), ("wr", {})]:
        with pytest.raises(ValueError):
            fs.open("/f", mode, **kw)
    assert fs.read_file("/f") == b"keep"
    with pytest.raises(LookupError):
        fs.open("/f", "w", encoding="no-such-codec")
    assert fs.read_file("/f") == b"keep"  # better than Python's open, which truncates


def test_open_errors_are_builtins(fs: cloudfs.Filesystem) -> None:
    fs.create_dir("/d")
    fs.write_file("/f", b"x")
    with pytest.raises(FileNotFoundError):
        fs.open("/missing")
    with pytest.raises(FileNotFoundError):
        fs.open("/nodir/f", "w")
    with pytest.raises(IsADirectoryError):
        fs.open("/d")
    with pytest.raises(IsADirectoryError):
        fs.open("/d", "w")
    with pytest.raises(FileExistsError):
        fs.open("/f", "x")
    with pytest.raises(FileExistsError):
        fs.open("/d", "x")
    with pytest.raises(NotADirectoryError):
        fs.open("/f/x", "w")
    with pytest.raises(ValueError):
        fs.open("relative", "w")


def test_line_buffering_flushes_each_line(fs: cloudfs.Filesystem, tmp_path: Path) -> None:
    local = tmp_path / "lb"
    with fs.open("/lb", "w", buffering=1) as f, open(local, "w", buffering=1) as g:
        assert f.line_buffering
        assert g.line_buffering
        for h in (f, g):
            h.write("first")
        assert fs.read_file("/lb") == local.read_bytes() == b""
        for h in (f, g):
            h.write(" line\nsecond")
        # a newline flushes the whole buffer, the text after it included (as Python does)
        assert fs.read_file("/lb") == local.read_bytes() == b"first line\nsecond"
    assert fs.read_file("/lb") == local.read_bytes() == b"first line\nsecond"


def test_text_defaults_to_utf8(fs: cloudfs.Filesystem) -> None:
    with fs.open("/u", "w") as f:
        assert f.encoding == "utf-8"
        f.write("☃")
    assert fs.read_file("/u") == "☃".encode()
    with fs.open("/u", "r") as f:
        assert f.read() == "☃"


def test_open_through_a_symlink(fs: cloudfs.Filesystem) -> None:
    fs.write_file("/target", b"abc")
    fs.create_symlink("/target", "/link")
    with fs.open("/link", "ab") as f:
        f.write(b"def")
    assert fs.read_file("/target") == b"abcdef"
    assert fs.get_entry("/link").is_link()


def test_write_through_a_dangling_symlink(fs: cloudfs.Filesystem, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with open(tmp_path / "link", "wb") as g:
        g.write(b"x")
    fs.create_symlink("/target", "/link")
    with fs.open("/link", "wb") as f:
        f.write(b"x")
    assert fs.read_file("/target") == (tmp_path / "target").read_bytes()
    assert fs.get_entry("/link").is_link()
    fs.create_symlink("/nowhere", "/dangling")
    with pytest.raises(FileExistsError):
        fs.open("/dangling", "x")
    fs.create_dir("/d")
    fs.create_symlink("../d/rel-target", "/d/rel")
    fs.write_file("/d/rel", b"r")
    assert fs.read_file("/d/rel-target") == b"r"
