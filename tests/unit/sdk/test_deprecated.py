"""The older entry points: ``create_daemon`` and ``Daemon`` warn and still work."""

from __future__ import annotations

import pytest

import cloudfs


def test_create_daemon_warns_and_works(config: cloudfs.ClientConfig) -> None:
    with pytest.warns(DeprecationWarning, match="create_daemon"):
        daemon = cloudfs.create_daemon(config=config)
    with daemon:
        assert isinstance(daemon, cloudfs.Client)
        ws = daemon.get_workspace(daemon.list_workspaces()[0].id)
        with ws.link_filespace(name="default") as fsp:
            fsp.fs.write_file("/d", b"daemon")
            assert fsp.fs.read_file("/d") == b"daemon"


def test_daemon_class_warns_and_works(config: cloudfs.ClientConfig) -> None:
    with pytest.warns(DeprecationWarning, match="Daemon"):
        daemon = cloudfs.Daemon(config=config)
    with daemon:
        assert isinstance(daemon, cloudfs.Client)
        ws = daemon.get_workspace(daemon.list_workspaces()[0].id)
        with ws.link_filespace(name="other") as fsp:
            assert fsp.fs.list_dir("/") == []


def test_warning_points_at_the_caller(config: cloudfs.ClientConfig) -> None:
    with pytest.warns(DeprecationWarning, match="create_daemon") as record:
        cloudfs.create_daemon(config=config).close()
    assert record[0].filename == __file__
    with pytest.warns(DeprecationWarning, match="Daemon") as record:
        cloudfs.Daemon(config=config).close()
    assert record[0].filename == __file__
