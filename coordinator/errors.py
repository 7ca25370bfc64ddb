"""What can go wrong in the coordinator, as plain exceptions the core raises.

The core (tokens, broker) knows nothing about HTTP; the HTTP layer maps each class to one
status code. Every message is written for the client: it never quotes a secret, a token or a
stack trace, and it is safe to return verbatim.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "Conflict",
    "CoordinatorError",
    "InvalidInput",
    "NotFound",
    "OutOfScope",
    "PayloadTooLarge",
    "RequestTimeout",
    "StoreBadAnswer",
    "StoreIntegrity",
    "StoreUnavailable",
    "Unauthenticated",
    "UnsupportedMediaType",
]


class CoordinatorError(Exception):
    """Base class: ``code`` is a stable machine-readable word, ``message`` is for people."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(CoordinatorError):
    """The request is malformed or asks for something no job may have (400)."""

    code = "invalid_input"


class Unauthenticated(CoordinatorError):
    """No credential, or one that does not verify (401)."""

    code = "unauthenticated"


class OutOfScope(CoordinatorError):
    """A valid credential asking for something outside its job (403)."""

    code = "out_of_scope"


class NotFound(CoordinatorError):
    """The named multipart upload (or route) does not exist (404)."""

    code = "not_found"


class Conflict(CoordinatorError):
    """The request cannot apply to the current state, e.g. an upload already completed (409)."""

    code = "conflict"


class PayloadTooLarge(CoordinatorError):
    """The request body is larger than the coordinator reads (413)."""

    code = "payload_too_large"


class RequestTimeout(CoordinatorError):
    """The request body did not arrive in time (408; the connection is closed)."""

    code = "request_timeout"


class UnsupportedMediaType(CoordinatorError):
    """The request body is not JSON (415)."""

    code = "unsupported_media_type"


class StoreUnavailable(CoordinatorError):
    """An object store did not answer, or answered with its own failure (503, retry later)."""

    code = "store_unavailable"


class StoreIntegrity(CoordinatorError):
    """The store answered, but what it stored is not what was asked for (502, do not retry the
    same call: upload again)."""

    code = "store_integrity"


class StoreBadAnswer(StoreUnavailable):
    """The store answered something this API cannot read: a malformed listing or header (502)."""

    code = "store_bad_answer"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it and never quotes a secret.

    Not a ``CoordinatorError``: it stops the coordinator from starting (``serve`` exits 2, Lambda
    answers 503 ``not_configured``), it is never an answer to one request.
    """
