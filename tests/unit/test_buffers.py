"""``filled_bytes``: a new ``bytes`` written in place before anyone sees it."""

from __future__ import annotations

import pytest

from cloudfs._buffers import filled_bytes


@pytest.mark.parametrize("size", [0, 1, 2, 4096, 4 << 20])
def test_the_bytes_hold_what_fill_wrote(size: int) -> None:
    pattern = bytes(range(256)) * (size // 256 + 1)

    def fill(view: memoryview) -> None:
        assert len(view) == size
        assert not view.readonly
        view[:] = pattern[:size]

    data = filled_bytes(size, fill)
    assert type(data) is bytes
    assert data == pattern[:size]
    assert hash(data) == hash(bytes(pattern[:size]))  # a real bytes, hashable like any


def test_a_failing_fill_raises_through() -> None:
    def fail(view: memoryview) -> None:
        view[: len(view) // 2] = b"x" * (len(view) // 2)
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        filled_bytes(1 << 20, fail)


def test_an_empty_fill_gets_an_empty_view() -> None:
    seen: list[int] = []
    assert filled_bytes(0, lambda view: seen.append(len(view))) == b""
    assert seen == [0]


def test_each_call_makes_a_new_object() -> None:
    first = filled_bytes(8, lambda view: view.__setitem__(slice(None), b"a" * 8))
    second = filled_bytes(8, lambda view: view.__setitem__(slice(None), b"b" * 8))
    assert first == b"a" * 8
    assert second == b"b" * 8
    assert first is not second


def test_the_view_is_released_after_fill() -> None:
    kept: list[memoryview] = []
    filled_bytes(64, lambda view: (view.__setitem__(slice(None), bytes(64)), kept.append(view)))
    with pytest.raises(ValueError, match="released"):
        kept[0][0] = 1  # writing the bytes after it was handed out is impossible
