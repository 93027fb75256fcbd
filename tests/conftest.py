"""Shared pytest set-up: the server fixtures live in :mod:`tests.servers`."""

pytest_plugins = ["tests.servers"]
