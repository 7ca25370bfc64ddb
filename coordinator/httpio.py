"""Reading requests and writing responses: bounded JSON in, JSON out, errors in one shape.

Every error is ``{"error": {"code": ..., "message": ...}}`` with the status its class maps to;
every response says ``Cache-Control: no-store`` because it may carry a token or presigned URLs.

References: RFC 9110 (status codes, 413/415, Allow, Retry-After), RFC 6750 section 3
(WWW-Authenticate for bearer tokens), RFC 8259 (JSON is UTF-8 between systems).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import (
    Conflict,
    CoordinatorError,
    InvalidInput,
    NotFound,
    OutOfScope,
    PayloadTooLarge,
    RequestTimeout,
    StoreBadAnswer,
    StoreIntegrity,
    StoreUnavailable,
    Unauthenticated,
    UnsupportedMediaType,
)
from .messages import Request, Response

__all__ = [
    "ALWAYS_HEADERS",
    "BODY_SECONDS",
    "MAX_BODY_BYTES",
    "SERVER_LIMITS",
    "bearer_token",
    "check_framing",
    "coordinator_error_response",
    "error_response",
    "json_response",
    "read_json_object",
    "status_of",
]

MAX_BODY_BYTES = 64 * 1024
BODY_SECONDS = 10  # at most 64 KiB of JSON: a client on any link sends it well within
# What uvicorn itself can bound (``python -m coordinator serve`` and the tests' server): an idle
# keep-alive connection, the bytes it buffers of an unfinished request head (h11 checks only
# while a head is incomplete: one arriving whole in a single read passes), requests at once.
# It cannot bound the time a request head takes to arrive: `serve` is for loopback.
SERVER_LIMITS: Mapping[str, Any] = {
    "timeout_keep_alive": 5,
    "h11_max_incomplete_event_size": 16 * 1024,
    "limit_concurrency": 256,
    "timeout_graceful_shutdown": 10,
}
RETRY_AFTER_SECONDS = "5"

_STATUS: tuple[tuple[type[CoordinatorError], int], ...] = (
    (InvalidInput, 400),
    (Unauthenticated, 401),
    (OutOfScope, 403),
    (NotFound, 404),
    (Conflict, 409),
    (RequestTimeout, 408),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (StoreIntegrity, 502),
    (StoreBadAnswer, 502),
    (StoreUnavailable, 503),
)
# Every answer: never cached (URLs and tokens), never sniffed into another type. Header names
# are written lower-case, as HTTP/2 sends them (RFC 9113 8.2.1), Starlette writes them and
# Lambda's answer carries them: no adapter has to rewrite them.
ALWAYS_HEADERS = {"cache-control": "no-store", "x-content-type-options": "nosniff"}
# An error message quotes at most this much: a 60,000-character field must not come back.
MAX_MESSAGE_CHARS = 300


def status_of(error: CoordinatorError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500


_JSON_HEADERS = {"content-type": "application/json", **ALWAYS_HEADERS}
# Built once: json.dumps and json.loads build a new encoder or decoder on every call that
# passes an option.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def json_response(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    text = _ENCODE(data)
    # backslashreplace: a lone surrogate (a path from a Lambda event may carry one) is written
    # as its JSON escape, "\udcff", instead of failing the answer.
    body = text.encode("utf-8", "backslashreplace")
    return Response(status, {**_JSON_HEADERS, **headers} if headers else _JSON_HEADERS, body)


def error_response(
    status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None
) -> Response:
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "\u2026"
    return json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


def coordinator_error_response(error: CoordinatorError, *, realm: str) -> Response:
    status = status_of(error)
    headers: dict[str, str] = {}
    if status == 401:
        headers["www-authenticate"] = f'Bearer realm="{realm}", error="invalid_token"'
    elif status == 503:
        headers["retry-after"] = RETRY_AFTER_SECONDS
    if status == 408 or error.code == "invalid_body":
        # The rest of the connection's bytes cannot be trusted to start a new request.
        headers["connection"] = "close"
    return error_response(status, error.code, error.message, headers=headers)


def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>``, or Unauthenticated."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated("missing Authorization: Bearer token", code="missing_token")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Authorization must be 'Bearer <token>'", code="missing_token")
    return token


def check_framing(headers: Mapping[str, str], *, limit: int = MAX_BODY_BYTES) -> None:
    """Refuse a body by its framing headers alone, before a byte of it is read: a declared
    Content-Length that is not a number or is over ``limit``, or both framings at once."""
    declared = headers.get("content-length")
    if declared is not None:
        # ASCII digits only: "²" (latin-1 0xB2) passes str.isdigit() and then breaks int().
        if not declared.isascii() or not declared.isdigit():
            raise InvalidInput("Content-Length is not a number", code="invalid_body")
        # Length first: int() refuses more than 4,300 digits (and would be slow before that).
        if len(declared.lstrip("0")) > len(str(limit)) or int(declared) > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        if "transfer-encoding" in headers:
            # RFC 9112 6.1: both framings at once is how requests are smuggled past proxies.
            raise InvalidInput(
                "send Content-Length or Transfer-Encoding, not both", code="invalid_body"
            )


def read_json_object(
    request: Request, *, limit: int = MAX_BODY_BYTES, allow_empty: bool = False
) -> dict[str, Any]:
    """The request's JSON object body, at most ``limit`` bytes.

    Content-Length is checked first (cheap refusal) but not trusted: the body's own length is
    what counts (the serve adapter counts it as it arrives and stops at the limit).
    """
    if request.query:
        # A route with a JSON body takes all its input there: a query parameter is refused,
        # not ignored (a client that put expires_in in the query must hear that it did not).
        raise InvalidInput(
            "this route takes no query parameters; send them in the JSON body",
            code="invalid_query",
        )
    check_framing(request.headers, limit=limit)
    if request.body_problem is not None:
        raise request.body_problem
    body = request.body
    if len(body) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    if not body:
        if allow_empty:
            return {}
        raise InvalidInput("a JSON object body is required", code="invalid_body")
    _require_json_media_type(request.headers.get("content-type"))
    try:
        data = _DECODE(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: 64 KiB of '[' nests deeper than the decoder's recursion limit.
        raise InvalidInput("body is not valid UTF-8 JSON", code="invalid_body") from None
    if not isinstance(data, dict):
        raise InvalidInput("body must be a JSON object", code="invalid_body")
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODE = json.JSONDecoder(parse_constant=_refuse_constant).decode


def _require_json_media_type(content_type: str | None) -> None:
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("send the body as Content-Type: application/json")
