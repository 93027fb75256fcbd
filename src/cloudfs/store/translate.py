"""Translate obstore's exceptions into cloudfs's :class:`~cloudfs.errors.StoreError` family.

All of it is one ordered table, :data:`RULES`.  Each rule names an exception type and,
optionally, a pattern searched in the exception's text; the first rule that matches gives
the cloudfs class.  The text matters because obstore raises a bare ``GenericError`` for
much of what S3 answers (a 403 on a list request, a 416 on a range, a 503, a refused
connection, a timeout) and puts the HTTP status and the transport error only in the message:

    ``Server returned non-2xx status code: 503 Service Unavailable: ...``
    ``HTTP error: error sending request`` + ``kind: Connect`` / ``kind: Timeout``

What obstore 0.12 actually raises (measured against moto, Ceph radosgw and a dead port):

- missing object: builtin ``FileNotFoundError`` (not its deprecated ``NotFoundError``);
- missing *bucket*: also ``FileNotFoundError``, with ``<Code>NoSuchBucket</Code>`` in the
  body — translated to a plain ``StoreError`` so nobody mistakes it for a missing object
  (a HEAD has no body, so a HEAD in a missing bucket still looks like a missing object);
- wrong secret or unknown access key: ``PermissionDeniedError`` for get/put/head, but a
  ``GenericError`` with ``403`` for list;
- create-only put that loses: ``AlreadyExistsError``;
- refused connection, timeout, 5xx: ``GenericError`` after obstore's own retries.

The message of the translated error names the store (its description, never a secret), the
operation and the key, plus the first line of obstore's text (the full text, with its
multi-line debug dump, stays on ``__cause__``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from obstore.exceptions import (
    AlreadyExistsError,
    BaseError,
    NotFoundError,
    NotModifiedError,
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

__all__ = ["RULES", "Rule", "is_unsatisfiable_range", "translate"]

_SUMMARY_LIMIT = 300


@dataclass(frozen=True, slots=True)
class Rule:
    """``when`` an exception is an instance of ``kind`` and its text matches ``pattern``."""

    kind: type[BaseException]
    pattern: re.Pattern[str] | None
    target: type[StoreError]
    why: str

    def matches(self, exc: BaseException) -> bool:
        if not isinstance(exc, self.kind):
            return False
        return self.pattern is None or self.pattern.search(str(exc)) is not None


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_STATUS = r"status code: "

RULES: tuple[Rule, ...] = (
    # Checked before the generic not-found rule: a missing bucket is not a missing object.
    Rule(Exception, _re(r"<Code>NoSuchBucket</Code>"), StoreError, "bucket does not exist"),
    Rule(FileNotFoundError, None, ObjectNotFoundError, "not found"),
    Rule(NotFoundError, None, ObjectNotFoundError, "not found"),
    Rule(AlreadyExistsError, None, ObjectExistsError, "already exists"),
    Rule(PermissionDeniedError, None, StoreAccessDeniedError, "access denied"),
    Rule(UnauthenticatedError, None, StoreAccessDeniedError, "not authenticated"),
    Rule(PreconditionError, None, StorePreconditionError, "precondition failed"),
    Rule(NotModifiedError, None, StorePreconditionError, "not modified"),
    Rule(Exception, _re(_STATUS + r"40[13]\b"), StoreAccessDeniedError, "access denied"),
    Rule(Exception, _re(_STATUS + r"404\b"), ObjectNotFoundError, "not found"),
    Rule(Exception, _re(_STATUS + r"412\b"), StorePreconditionError, "precondition failed"),
    Rule(Exception, _re(_STATUS + r"(5\d\d|429)\b"), StoreUnavailableError, "server error"),
    Rule(
        Exception,
        _re(r"error sending request|kind: (Connect|Timeout)\b"),
        StoreUnavailableError,
        "unreachable",
    ),
    Rule(
        Exception,
        _re(r"timed ?out|connection (refused|reset|closed)|broken pipe"),
        StoreUnavailableError,
        "unreachable",
    ),
    Rule(
        Exception, _re(r"os error 13\b|permission denied"), StoreAccessDeniedError, "access denied"
    ),
    Rule(BaseError, None, StoreError, "store error"),
    Rule(Exception, None, StoreError, "unexpected error"),
)

_UNSATISFIABLE_RANGE = _re(r"status code: 416\b|StartTooLarge|Requested range was invalid")


def translate(exc: BaseException, *, store: str, op: str, key: str) -> StoreError:
    """The cloudfs error for ``exc``; the caller raises it ``from exc``."""
    if isinstance(exc, StoreError):
        return exc
    rule = next(r for r in RULES if r.matches(exc))
    message = f"{store}: {op} {key!r}: {rule.why}: {_summary(exc)}"
    return rule.target(message, key=key)


def is_unsatisfiable_range(exc: BaseException) -> bool:
    """Whether ``exc`` says a range started at or past the end of the object (HTTP 416)."""
    return isinstance(exc, BaseError) and _UNSATISFIABLE_RANGE.search(str(exc)) is not None


def _summary(exc: BaseException) -> str:
    """The first line of the backend's text, without its multi-line debug dump."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if len(first) > _SUMMARY_LIMIT:
        first = first[:_SUMMARY_LIMIT] + "…"
    return first
