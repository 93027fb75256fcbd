"""Fixtures for the CLI tests: an isolated environment and a runner for ``cloudfs``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cloudfs.cli.main import cli

PASSPHRASE = "cli passphrase"


@dataclass
class Cloudfs:
    """Runs ``cloudfs ARGS`` in-process with the test's environment."""

    home: Path
    runner: CliRunner

    def __call__(
        self,
        *args: str,
        input: bytes | str | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> Result:
        return self.runner.invoke(
            cli, list(args), input=input, env=dict(env or {}), catch_exceptions=False
        )

    def ok(self, *args: str, **kwargs: object) -> Result:
        result = self(*args, **kwargs)  # type: ignore[arg-type]
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    def fails(self, *args: str, **kwargs: object) -> str:
        """Run a command that must fail: exit 1 and one ``cloudfs: `` line on stderr."""
        result = self(*args, **kwargs)  # type: ignore[arg-type]
        assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("cloudfs: "), result.stderr
        assert "Traceback" not in result.stderr
        return lines[0]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFS_KDF_PROFILE", "test")
    monkeypatch.setenv("CLOUDFS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLOUDFS_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for name in (
        "CLOUDFS_TOKEN",
        "CLOUDFS_FILESPACE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cloudfs(tmp_path: Path) -> Cloudfs:
    """The CLI, on a workspace that does not exist yet."""
    return Cloudfs(tmp_path / "home", CliRunner())


@pytest.fixture
def initialized(cloudfs: Cloudfs) -> Cloudfs:
    """The CLI, on a workspace with a 'default' filespace of 64 KiB blocks."""
    cloudfs.ok("init", "--block-size", "64k")
    return cloudfs
