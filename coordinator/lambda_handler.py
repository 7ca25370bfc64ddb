"""AWS Lambda entry point: ``coordinator.lambda_handler.handler``, Mangum over the one app.

The settings are read, and the app built, once per cold start (on the first event, so that
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
from functools import cache
from typing import Any

from mangum import Mangum

from .app import create_app
from .config import ConfigError, load_settings
from .httpio import ALWAYS_HEADERS

__all__ = ["event_problem", "handler"]

_log = logging.getLogger(__name__)
# Mangum logs "METHOD /path STATUS" at INFO for every request: the access line (access_log.py)
# already says that and more, so its line would double the log volume and the CPU per request.
logging.getLogger("mangum.http").setLevel(logging.WARNING)
_ALWAYS = {name.lower(): value for name, value in ALWAYS_HEADERS.items()}
_NOT_CONFIGURED = {
    "statusCode": 503,
    "headers": {"content-type": "application/json", **_ALWAYS, "retry-after": "30"},
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
def _adapter() -> Mangum:
    return Mangum(create_app(load_settings()), lifespan="off")


def _answer(status: int, code: str, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **_ALWAYS},
        "body": json.dumps({"error": {"code": code, "message": message}}),
        "isBase64Encoded": False,
    }


def event_problem(event: object) -> str | None:
    """Why ``event`` is not an HTTP request in payload format 2.0 (what a function URL and the
    stack's HTTP API send), or None. Anything else (a test event, an S3 or SQS or EventBridge
    notification, a payload of another version) is refused before Mangum sees it: Mangum
    raises on shapes it does not know.

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


def handler(event: Any, context: Any) -> dict[str, Any]:
    problem = event_problem(event)
    if problem is not None:
        # Not an HTTP client: nobody reads a body, but the invoker (a console test, a
        # misrouted notification) sees why, and so does the log. Never an exception.
        _log.warning("refusing an event that is not an HTTP request: %s", problem)
        return _answer(400, "unsupported_event", problem)
    try:
        adapter = _adapter()
    except ConfigError as exc:
        _log.error("refusing to serve: %s", exc)
        return dict(_NOT_CONFIGURED)
    try:
        return adapter(event, context)
    except Exception:  # a bug: logged with its traceback, answered without it
        _log.exception("unhandled error serving an event")
        return _answer(500, "internal_error", "internal error")
