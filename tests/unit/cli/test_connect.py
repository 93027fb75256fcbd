"""``cloudfs connect`` and ``cloudfs upgrade`` without S3: availability, stores, links made
from size + ETag, and one-line errors that never show a secret."""

from __future__ import annotations

from pathlib import Path

from tests.unit.cli.conftest import Cloudfs

SECRET = "cli-store-secret-value"


def _enabled(cli: Cloudfs, tmp_path: Path) -> Path:
    assert "already format 4" in cli.ok("upgrade").stdout
    assert "Connect enabled" in cli.ok("connect", "enable").stdout
    assert "already enabled" in cli.ok("connect", "enable").stdout
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    return secret


def test_commands_say_how_to_enable(initialized: Cloudfs) -> None:
    line = initialized.fails("connect", "stores")
    assert "cloudfs connect enable" in line


def test_stores_links_and_errors(initialized: Cloudfs, tmp_path: Path) -> None:
    cli = initialized
    secret = _enabled(cli, tmp_path)
    store = ["--bucket", "customer-bucket", "--endpoint", "http://127.0.0.1:9"]
    keys = ["--access-key", "AKIAEXAMPLE", "--secret-key-file", str(secret)]
    cli.ok("connect", "add-store", "media", *store, *keys)
    assert "already exists" in cli.fails("connect", "add-store", "media", *store, *keys)
    bad = cli.fails("connect", "add-store", "x", "--bucket", "b-b-b", "--endpoint", "nope", *keys)
    assert "full http:// or https:// URL" in bad
    shown = cli.ok("connect", "store", "media").stdout
    assert "AKIAEXAMPLE" in shown
    assert SECRET not in shown
    cli.ok("connect", "link", "/in/a.bin", "media", "raw/a.bin", "--size", "10", "--etag", "e")
    cli.ok("connect", "link", "/in/b.bin", "media", "raw/b.bin", "--size", "20", "--etag", "f")
    assert "both size and checksum" in cli.fails(
        "connect", "link", "/c", "media", "k", "--size", "1"
    )
    assert cli.ok("connect", "count", "media").stdout.strip() == "2"
    assert cli.ok("connect", "ls", "media", "--limit", "1").stdout.split() == [
        "/in/a.bin",
        "/in/b.bin",
    ]
    assert "2 linked" in cli.ok("connect", "stores").stdout
    assert "2 linked file" in cli.fails("connect", "rm-store", "media")
    cli.ok("connect", "unlink", "/in/a.bin")
    cli.ok("rm", "/in/b.bin")
    cli.ok("connect", "rekey", "media", *keys)
    cli.ok("connect", "rm-store", "media")
    assert "no data store" in cli.fails("connect", "count", "media")
    for result in (cli("connect", "store", "media"), cli("connect", "stores")):
        assert SECRET not in result.stdout + result.stderr
