"""AWS Lambda entry point: ``coordinator.lambda_handler.handler``, the event straight to the core.

A function URL or HTTP API event (payload format 2.0) is already a parsed HTTP request: the
adapter turns it into a ``Request`` and the core's ``Response`` into the answer Lambda expects,
with no framework and no event loop (what Mangum and Starlette did here, the adapter and the
core now do; the list is in docs/coordinator.md). The settings are read, and the core built,
once per cold start (on the first event, so that
importing this module needs no configuration); warm invocations reuse them. boto3 is not
imported here: only the calls that go over the network import it, on first use (and reading the
secret bundle, when ``COORDINATOR_SECRET_ARN`` is set).

When the settings cannot be read (a missing variable, a secret the role may not read) the
coordinator refuses to serve: every request gets a 503 ``not_configured`` and the reason goes to
the function's log (it names the setting, never a secret's value). Nothing is cached on failure,
so the next request tries again and a transient error (throttling) heals by itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import unquote

from .app import create_core
from .config import ConfigError, load_settings
from .core import Core
from .httpio import ALWAYS_HEADERS
from .messages import Request, Response

__all__ = ["event_problem", "event_request", "handler", "handler_for", "lambda_response"]

_log = logging.getLogger(__name__)
_NOT_CONFIGURED = {
    "statusCode": 503,
    "headers": {"content-type": "application/json", **ALWAYS_HEADERS, "retry-after": "30"},
    "body": json.dumps(
        {
            "error": {
                "code": "not_configured",
                "message": "the coordinator cannot read its settings; the reason is in its log",
            }
        }
    ),
    "isBase64Encoded": False,
}


@cache
def _adapter() -> Core:
    return create_core(load_settings())


def _answer(status: int, code: str, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **ALWAYS_HEADERS},
        "body": json.dumps({"error": {"code": code, "message": message}}),
        "isBase64Encoded": False,
    }


def event_problem(event: object) -> str | None:
    """Why ``event`` is not an HTTP request in payload format 2.0 (what a function URL and the
    stack's HTTP API send), or None. Anything else (a test event, an S3 or SQS or EventBridge
    notification, a payload of another version) is refused before the core sees it (Mangum,
    here before, raised on shapes it did not know).

    References: https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads ,
    https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
    """
    if not isinstance(event, dict):
        return "the event is not a JSON object"
    if event.get("version") != "2.0":
        return "only HTTP events of payload format version 2.0 are served"
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, dict) else None
    if not isinstance(http, dict):
        return "the event has no requestContext.http"
    for field in ("method", "path"):
        if not isinstance(http.get(field), str) or not http[field]:
            return f"requestContext.http.{field} is not a string"
    for field in ("rawPath", "rawQueryString"):
        if field in event and not isinstance(event[field], str):
            return f"{field} is not a string"
    headers = event.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        return "headers must map strings to strings"
    cookies = event.get("cookies", [])
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        return "cookies must be a list of strings"
    body = event.get("body")
    if body is not None and not isinstance(body, str):
        return "body is not a string"
    encoded = event.get("isBase64Encoded", False)
    if not isinstance(encoded, bool):
        return "isBase64Encoded is not a boolean"
    if encoded and body:
        try:
            base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return "body is not valid base64"
    return None


def _latin1(value: str) -> str:
    """A header value as an HTTP server hands it over: its UTF-8 bytes read as latin-1 (what
    Mangum's ``.encode()`` then Starlette's ``.decode("latin-1")`` made of it)."""
    return value if value.isascii() else value.encode("utf-8", "surrogatepass").decode("latin-1")


def event_request(event: dict[str, Any]) -> Request:
    """The request in a payload 2.0 event ``event_problem`` passed. Cookies are not read (no
    route takes one); the path is ``rawPath`` percent-decoded, as an HTTP server routes it."""
    http = event["requestContext"]["http"]
    raw_path = event.get("rawPath") or http["path"]
    body = event.get("body") or ""
    return Request(
        method=http["method"],
        path=unquote(raw_path) if "%" in raw_path else raw_path,
        query=_latin1(event.get("rawQueryString", "")),
        # Lambda's names are lower-case already; lower() keeps a hand-made event honest.
        headers={k.lower(): _latin1(v) for k, v in event.get("headers", {}).items()},
        # surrogatepass: a lone surrogate (JSON can carry one) becomes bytes the JSON reader
        # refuses with a 400, not a UnicodeEncodeError.
        body=(
            base64.b64decode(body)
            if event.get("isBase64Encoded")
            else body.encode("utf-8", "surrogatepass")
        ),
    )


def lambda_response(response: Response, *, head: bool = False) -> dict[str, Any]:
    """The core's answer as Lambda returns it: header names lower-cased, Content-Length stated,
    the body as text (the core answers only JSON, which is UTF-8), none for a HEAD."""
    headers = dict(response.headers)  # the core writes names lower-case
    if response.status != 204:
        headers["content-length"] = str(len(response.body))
    return {
        "statusCode": response.status,
        "headers": headers,
        "body": "" if head else response.body.decode("utf-8"),
        "isBase64Encoded": False,
    }


def handler(event: Any, context: Any) -> dict[str, Any]:
    return _handle(event, context, _adapter)


def handler_for(core: Core) -> Callable[[Any, Any], dict[str, Any]]:
    """A handler like ``handler`` over a core already built (tests and benches)."""
    return lambda event, context: _handle(event, context, lambda: core)


def _handle(event: Any, context: Any, core_of: Callable[[], Core]) -> dict[str, Any]:
    started = time.perf_counter()
    problem = event_problem(event)
    if problem is not None:
        # Not an HTTP client: nobody reads a body, but the invoker (a console test, a
        # misrouted notification) sees why, and so does the log. Never an exception.
        _log.warning("refusing an event that is not an HTTP request: %s", problem)
        return _answer(400, "unsupported_event", problem)
    try:
        core = core_of()
    except ConfigError as exc:
        _log.error("refusing to serve: %s", exc)
        return dict(_NOT_CONFIGURED)
    try:
        request = event_request(event)
        request_id = getattr(context, "aws_request_id", None)
        answer = core(request, started=started, request_id=request_id)
        return lambda_response(answer, head=request.method == "HEAD")
    except Exception:  # a bug: logged with its traceback, answered without it
        _log.exception("unhandled error serving an event")
        return _answer(500, "internal_error", "internal error")
