"""The two values the coordinator's core exchanges with its adapters: a request in, a response out.

Plain frozen data, no framework: the Lambda adapter builds a ``Request`` from a function URL
event, the serve adapter from an ASGI scope and the body it read; the core answers a
``Response``, which each adapter writes in its own form. Header names are lower-cased in a
request (HTTP field names are case-insensitive, RFC 9110 section 5.1) and values are text as
an HTTP server gives them (latin-1 over the raw bytes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import CoordinatorError

__all__ = ["Request", "Response"]


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request, its body already read (or the reason it could not be)."""

    method: str
    path: str  # percent-decoded, as routing sees it
    query: str = ""  # the raw query string, undecoded
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes = b""
    # Set by an adapter that streamed the body and stopped (too large, too slow, client left):
    # raised when a route reads the body, so routing and auth still answer first, as before.
    body_problem: CoordinatorError | None = None


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP response: status, headers (names as sent), body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""
