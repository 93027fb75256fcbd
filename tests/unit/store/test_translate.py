"""Error translation: the table on synthetic obstore errors, then real failures end to end."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from obstore.exceptions import (
    AlreadyExistsError,
    GenericError,
    PermissionDeniedError,
    PreconditionError,
    UnauthenticatedError,
)

from cloudfs.errors import (
    ObjectExistsError,
    ObjectNotFoundError,
    StoreAccessDeniedError,
    StoreError,
    StorePreconditionError,
    StoreUnavailableError,
)
from cloudfs.store.config import S3StoreConfig, open_store
from cloudfs.store.translate import is_unsatisfiable_range, translate
from tests.contracts.store_contract import run_op
from tests.servers import free_port, s3_config_for

STATUS = "Generic S3 error: Error performing GET http://h/b/k in 3ms - Server returned non-2xx "


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (FileNotFoundError("Object at location k not found"), ObjectNotFoundError),
        (AlreadyExistsError("Object at location k already exists"), ObjectExistsError),
        (PermissionDeniedError("lacked the necessary privileges"), StoreAccessDeniedError),
        (UnauthenticatedError("no credentials"), StoreAccessDeniedError),
        (PreconditionError("precondition"), StorePreconditionError),
        (GenericError(STATUS + "status code: 403 Forbidden: <Code>Sig"), StoreAccessDeniedError),
        (GenericError(STATUS + "status code: 401 Unauthorized"), StoreAccessDeniedError),
        (GenericError(STATUS + "status code: 404 Not Found"), ObjectNotFoundError),
        (GenericError(STATUS + "status code: 500 Internal Server Error"), StoreUnavailableError),
        (GenericError(STATUS + "status code: 503 Slow Down"), StoreUnavailableError),
        (GenericError(STATUS + "status code: 429 Too Many Requests"), StoreUnavailableError),
        (GenericError("HTTP error: error sending request\n kind: Connect"), StoreUnavailableError),
        (GenericError("request timed out"), StoreUnavailableError),
        (GenericError(STATUS + "status code: 400 Bad Request"), StoreError),
        (FileNotFoundError("x: 404 <Code>NoSuchBucket</Code>"), StoreError),
        (RuntimeError("surprise"), StoreError),
    ],
)
def test_the_table(exc: BaseException, expected: type[StoreError]) -> None:
    error = translate(exc, store="s3://bkt", op="get", key="a/k")
    assert type(error) is expected
    assert error.key == "a/k"
    assert str(error).startswith("s3://bkt: get 'a/k': ")


def test_only_the_first_line_of_the_cause_is_kept() -> None:
    error = translate(GenericError("first line\n\nDebug source:\n..."), store="s", op="o", key="k")
    assert str(error).endswith(": first line")


def test_store_errors_pass_through_unchanged() -> None:
    original = StoreUnavailableError("already translated", key="k")
    assert translate(original, store="s", op="o", key="k") is original


def test_unsatisfiable_ranges_are_recognised() -> None:
    assert is_unsatisfiable_range(GenericError(STATUS + "status code: 416 Range Not Satisfiable"))
    assert is_unsatisfiable_range(GenericError("Invalid range: StartTooLarge"))
    assert not is_unsatisfiable_range(GenericError(STATUS + "status code: 404 Not Found"))
    assert not is_unsatisfiable_range(ValueError("416"))


# -- real failures ---------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


async def call(op: str, config: S3StoreConfig) -> StoreError:
    store = open_store(config)
    try:
        with pytest.raises(StoreError) as info:
            await run_op(store, op)
        return info.value
    finally:
        await store.close()


@pytest.mark.parametrize("op", ["get", "head", "put", "delete", "list"])
async def test_a_dead_endpoint_is_unavailable_quickly(op: str) -> None:
    config = s3_config_for(f"http://127.0.0.1:{free_port()}", "bkt", secret_key="s3cr3t")
    started = time.monotonic()
    error = await call(op, config)
    assert isinstance(error, StoreUnavailableError)
    assert isinstance(error, ConnectionError)
    assert time.monotonic() - started < 10
    assert "s3cr3t" not in str(error)
    assert "127.0.0.1" in str(error)


async def test_a_silent_server_fails_reads_after_the_read_timeout(silent_server: str) -> None:
    config = S3StoreConfig.from_dict(
        {
            **s3_config_for(silent_server, "bkt").to_dict(),
            "read_timeout": 0.5,
            "retry_timeout": 1.0,
            "max_retries": 1,
        }
    )
    started = time.monotonic()
    error = await call("get", config)
    assert isinstance(error, StoreUnavailableError)
    assert time.monotonic() - started < 5


async def test_a_silent_server_fails_puts_after_the_request_timeout(silent_server: str) -> None:
    config = S3StoreConfig.from_dict(
        {
            **s3_config_for(silent_server, "bkt").to_dict(),
            "request_timeout": 0.5,
            "retry_timeout": 1.0,
            "max_retries": 1,
        }
    )
    started = time.monotonic()
    error = await call("put", config)
    assert isinstance(error, StoreUnavailableError)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("op", ["get", "put", "list"])
async def test_a_missing_bucket_is_not_a_missing_object(moto_server: str, op: str) -> None:
    error = await call(op, s3_config_for(moto_server, "no-such-bucket"))
    assert not isinstance(error, ObjectNotFoundError)
    assert "bucket does not exist" in str(error)


@pytest.mark.slow
async def test_default_settings_give_up_on_a_silent_server_in_about_ten_seconds(
    silent_server: str,
) -> None:
    started = time.monotonic()
    error = await call("head", s3_config_for(silent_server, "bkt"))
    assert isinstance(error, StoreUnavailableError)
    assert time.monotonic() - started < 15
