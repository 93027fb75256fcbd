"""The raw stream (``open(..., buffering=0)``): an ``io.RawIOBase`` with positional I/O."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

import cloudfs
from tests.unit.sdk.conftest import BLOCK_SIZE, PASSPHRASE

Fs = cloudfs.Filesystem


def test_raw_stream_type_and_name(fs: Fs, filespace: cloudfs.Filespace) -> None:
    with fs.open("/d.bin", "wb", buffering=0) as f:
        assert isinstance(f, io.RawIOBase)
        assert isinstance(f, cloudfs.FileStream)
        assert f.name.startswith("cloudfs://")
        assert f.name.endswith("/d.bin")
        assert f.name == f"cloudfs://{filespace.full_name}/d.bin"
        assert not os.path.exists(f.name)
        assert f.mode == "wb"
        assert f.writable()
        assert not f.readable()
        assert f.seekable()
        assert "cloudfs://" in repr(f)
    with fs.open("/d.bin", "rb") as buffered:
        assert buffered.name.startswith("cloudfs://")


@pytest.mark.parametrize(
    ("mode", "raw_mode"),
    [("rb", "rb"), ("r+b", "rb+"), ("wb", "wb"), ("w+b", "wb+"), ("ab", "ab"), ("xb", "xb")],
)
def test_raw_mode_strings(fs: Fs, mode: str, raw_mode: str) -> None:
    if mode != "xb":
        fs.write_file("/m", b"")
    with fs.open("/m", mode, buffering=0) as f:
        assert f.mode == raw_mode


def test_readinto_returns_zero_at_eof(fs: Fs) -> None:
    fs.write_file("/f", b"abcdef")
    with fs.open("/f", "rb", buffering=0) as f:
        buf = bytearray(4)
        assert f.readinto(buf) == 4
        assert buf == b"abcd"
        assert f.readinto(buf) == 2
        assert buf[:2] == b"ef"
        assert f.readinto(buf) == 0
        assert f.readinto(buf) == 0
        assert f.read(10) == b""
        assert f.readall() == b""
        f.seek(100)
        assert f.readinto(buf) == 0
        assert f.readinto(bytearray(0)) == 0


def test_readinto_memoryview_and_array(fs: Fs) -> None:
    fs.write_file("/f", bytes(range(16)))
    with fs.open("/f", "rb", buffering=0) as f:
        view = memoryview(bytearray(8))
        assert f.readinto(view[2:6]) == 4
        assert bytes(view) == b"\0\0\0\x01\x02\x03\0\0"
        import array

        arr = array.array("i", [0, 0])  # 8 bytes
        assert f.readinto(arr) == 8


def test_pread_pwrite(fs: Fs) -> None:
    with fs.open("/p", "w+b", buffering=0) as f:
        assert f.pwrite(b"hello world", 0) == 11
        assert f.tell() == 0  # positional calls keep the position
        assert f.pread(5, 6) == b"world"
        assert f.pwrite(b"W", 6) == 1
        assert f.pread(100, 0) == b"hello World"
        assert f.pread(10, 100) == b""
        assert f.pwrite(b"!", 15) == 1  # leaves a hole
        assert f.pread(100, 0) == b"hello World\0\0\0\0!"
        with pytest.raises(ValueError):
            f.pread(1, -1)
        with pytest.raises(ValueError):
            f.pwrite(b"x", -1)
    with fs.open("/p", "rb", buffering=0) as f, pytest.raises(io.UnsupportedOperation):
        f.pwrite(b"x", 0)
    with fs.open("/p", "wb", buffering=0) as f, pytest.raises(io.UnsupportedOperation):
        f.pread(1, 0)


def test_pread_across_blocks(fs: Fs) -> None:
    data = os.urandom(3 * BLOCK_SIZE + 123)
    fs.write_file("/big", data)
    with fs.open("/big", "rb", buffering=0) as f:
        for offset, size in [
            (0, 10),
            (BLOCK_SIZE - 5, 10),
            (2 * BLOCK_SIZE - 1, BLOCK_SIZE + 2),
            (len(data) - 3, 10),
            (0, len(data) + 10),
        ]:
            assert f.pread(size, offset) == data[offset : offset + size]


def test_seek_tell_and_end_sees_growth(fs: Fs) -> None:
    fs.write_file("/g", b"12345")
    reader = fs.open("/g", "rb", buffering=0)
    writer = fs.open("/g", "ab", buffering=0)
    try:
        assert reader.seek(0, io.SEEK_END) == 5
        writer.write(b"6789")
        writer.flush()
        assert reader.seek(0, io.SEEK_END) == 9  # no stale cached size
        assert reader.seek(-2, io.SEEK_END) == 7
        assert reader.read() == b"89"
        assert reader.seek(-3, io.SEEK_CUR) == 6
        assert reader.tell() == 6
        assert reader.seek(2) == 2
        with pytest.raises(OSError):
            reader.seek(-1)
        with pytest.raises(ValueError):
            reader.seek(0, 7)
        assert reader.tell() == 2
    finally:
        reader.close()
        writer.close()


APPEND_SCRIPT = """
import sys, cloudfs
config = cloudfs.ClientConfig(home=sys.argv[1], passphrase=sys.argv[2])
with cloudfs.Client(config=config) as client:
    ws = client.get_workspace(client.list_workspaces()[0].id)
    with ws.link_filespace(name="default") as fsp:
        with fsp.fs.open("/shared", "ab") as f:
            f.write(b"defg")
"""


def test_reader_sees_growth_from_another_process(fs: Fs, home) -> None:  # type: ignore[no-untyped-def]
    fs.write_file("/shared", b"abc")
    with fs.open("/shared", "rb", buffering=0) as reader:
        assert reader.read() == b"abc"
        subprocess.run(
            [sys.executable, "-c", APPEND_SCRIPT, str(home), PASSPHRASE],
            check=True,
            timeout=120,
            env=os.environ.copy(),
        )
        assert reader.seek(0, io.SEEK_END) == 7
        reader.seek(3)
        assert reader.read() == b"defg"
        assert reader.pread(10, 0) == b"abcdefg"
    assert fs.get_entry("/shared").size == 7


def test_unlinked_filespace_refuses_reads(fs: Fs, filespace: cloudfs.Filespace) -> None:
    fs.write_file("/shared", b"abc")
    reader = fs.open("/shared", "rb", buffering=0)
    filespace.unlink()
    with pytest.raises((cloudfs.ClientError, ValueError, OSError)):
        reader.read()
    reader.close()


def test_truncate(fs: Fs) -> None:
    with fs.open("/t", "w+b", buffering=0) as f:
        f.write(b"0123456789")
        assert f.truncate(4) == 4
        assert f.tell() == 10  # truncate does not move the position
        assert f.seek(0, io.SEEK_END) == 4
        f.seek(2)
        assert f.truncate() == 2
        assert f.seek(0, io.SEEK_END) == 2
        assert f.truncate(6) == 6
        f.seek(0)
        assert f.read() == b"01\0\0\0\0"
        with pytest.raises(ValueError):
            f.truncate(-1)
    with fs.open("/t", "rb", buffering=0) as f, pytest.raises(io.UnsupportedOperation):
        f.truncate(0)


def test_append_writes_at_end(fs: Fs) -> None:
    fs.write_file("/a", b"abc")
    with fs.open("/a", "a+b", buffering=0) as f:
        assert f.tell() == 3
        f.seek(0)
        assert f.read(1) == b"a"
        f.write(b"XY")
        assert f.tell() == 5
    assert fs.read_file("/a") == b"abcXY"


def test_closed_stream(fs: Fs) -> None:
    f = fs.open("/c", "w+b", buffering=0)
    f.write(b"x")
    f.close()
    f.close()  # idempotent
    assert f.closed
    for call in (
        f.read,
        f.tell,
        f.readable,
        f.writable,
        f.seekable,
        lambda: f.write(b"y"),
        lambda: f.seek(0),
        lambda: f.pread(1, 0),
        lambda: f.pwrite(b"", 0),
        lambda: f.truncate(0),
        f.fileno,
    ):
        with pytest.raises((ValueError, OSError)):
            call()
    assert fs.read_file("/c") == b"x"


def test_flush_makes_data_visible_before_close(fs: Fs) -> None:
    with fs.open("/v", "wb", buffering=0) as f:
        f.write(b"visible")
        f.flush()
        assert fs.read_file("/v") == b"visible"
        f.fsync()


def test_not_a_local_file(fs: Fs) -> None:
    with fs.open("/n", "wb", buffering=0) as f:
        with pytest.raises(OSError):
            f.fileno()
        assert not f.isatty()


def test_write_accepts_any_buffer(fs: Fs) -> None:
    import array

    with fs.open("/buf", "wb", buffering=0) as f:
        assert f.write(bytearray(b"ab")) == 2
        assert f.write(memoryview(b"cdef")[1:3]) == 2
        assert f.write(array.array("h", [1])) == 2
    assert fs.read_file("/buf") == b"abde\x01\x00"


def test_iteration_and_readline(fs: Fs) -> None:
    fs.write_file("/lines", b"a\nbb\n\nlast")
    with fs.open("/lines", "rb", buffering=0) as f:
        assert list(f) == [b"a\n", b"bb\n", b"\n", b"last"]
    with fs.open("/lines", "r") as t:
        assert t.readlines() == ["a\n", "bb\n", "\n", "last"]
