"""Every released filespace format still opens and reads back exactly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import cloudfs
from tests.compat.make_fixture import contents

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("format-v*"))


def stored_objects(home: Path) -> set[Path]:
    """The block and pack objects of the fixture's store (a pack starts with a block)."""
    found = [*home.rglob("blocks/*/*"), *home.rglob("packs/*/*")]
    return {p for p in found if p.is_file() and "objects" in p.parts}


def test_there_is_a_fixture_of_the_current_format() -> None:
    from cloudfs.codec.descriptor import FORMAT_VERSION

    assert any(f.name == f"format-v{FORMAT_VERSION}" for f in FIXTURES)


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_fixture_opens_and_reads(fixture: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(fixture, home)  # never write into the committed fixture
    meta = json.loads((fixture / "FIXTURE.json").read_text())
    config = cloudfs.ClientConfig(home=home, passphrase=meta["passphrase"])
    with cloudfs.Client(config=config) as client:
        workspace = client.get_workspace(client.list_workspaces()[0].id)
        fs = workspace.link_filespace(name="fixture").fs
        for name, data in contents().items():
            assert fs.read_file(f"/folder/{name}") == data
        assert fs.read_symlink("/link") == "folder/hello.txt"
        assert fs.read_file("/link") == contents()["hello.txt"]


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_writers_keep_the_fixtures_envelope_version(fixture: Path, tmp_path: Path) -> None:
    """A format-1 filespace keeps writing version-1 blocks, which its older clients read."""
    home = tmp_path / "home"
    shutil.copytree(fixture, home)
    meta = json.loads((fixture / "FIXTURE.json").read_text())
    before = stored_objects(home)
    config = cloudfs.ClientConfig(home=home, passphrase=meta["passphrase"])
    with cloudfs.Client(config=config) as client:
        workspace = client.get_workspace(client.list_workspaces()[0].id)
        filespace = workspace.link_filespace(name="fixture")
        filespace.fs.write_file("/new.bin", bytes(range(256)) * 1000)
        filespace.sync_all()
    written = stored_objects(home) - before
    assert written
    expected = 1 if meta["format_version"] == 1 else 2
    assert {p.read_bytes()[4] for p in written} == {expected}
    # Formats before 4 never pack: their older clients could not read a pack.
    assert any("packs" in p.parts for p in written) == (meta["format_version"] >= 4)


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_upgrade_moves_every_format_forward(fixture: Path, tmp_path: Path) -> None:
    """`cloudfs upgrade` rewrites only the descriptor: old blocks read, new ones are v2."""
    import asyncio

    from cloudfs.codec.descriptor import MAX_FORMAT_VERSION
    from cloudfs.workspace.filespace import Secret, enable_connect, upgrade_filespace
    from cloudfs.workspace.registry import Registry

    home = tmp_path / "home"
    shutil.copytree(fixture, home)
    meta = json.loads((fixture / "FIXTURE.json").read_text())
    registry = Registry(home)
    record = registry.find(name="fixture")
    secret = Secret(passphrase=meta["passphrase"])
    old, new = asyncio.run(upgrade_filespace(registry, record, secret))
    assert (old, new) == (meta["format_version"], MAX_FORMAT_VERSION)
    assert asyncio.run(upgrade_filespace(registry, record, secret)) == (new, new)
    assert asyncio.run(enable_connect(registry, record, secret)) is True
    before = stored_objects(home)
    config = cloudfs.ClientConfig(home=home, passphrase=meta["passphrase"])
    with cloudfs.Client(config=config) as client:
        workspace = client.get_workspace(client.list_workspaces()[0].id)
        filespace = workspace.link_filespace(name="fixture")
        assert filespace.connect.are_data_stores_available()
        for name, data in contents().items():
            assert filespace.fs.read_file(f"/folder/{name}") == data
        filespace.fs.write_file("/new.bin", bytes(range(256)) * 1000)
        filespace.sync_all()
    written = stored_objects(home) - before
    assert {p.read_bytes()[4] for p in written} == {2}
    assert any("packs" in p.parts for p in written)  # format 4 and later pack
