"""The two ways a request reaches the core, as one httpx client each, for tests that must hold
on both: ``serve`` (uvicorn and the Starlette adapter on a loopback port) and ``lambda`` (the
Lambda handler called in process with the Function URL event a request becomes).

``LambdaTransport`` turns an httpx request into a payload 2.0 event as a function URL does
(header names lower-cased, repeated headers joined with commas, cookies moved to ``cookies``,
the path and query as sent, a body that is not UTF-8 text base64-encoded) and checks the answer
has the shape Lambda requires before turning it into an httpx response.

References: https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from coordinator.app import create_app, create_core
from coordinator.config import Settings
from coordinator.demo import serve_in_thread
from coordinator.lambda_handler import handler_for

ADAPTERS = ("serve", "lambda")
HOST = "abcdefgh.lambda-url.eu-central-1.on.aws"
_TEXT_TYPES = ("application/json", "text/")


def function_url_event_of(request: httpx.Request) -> dict[str, Any]:
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers.multi_items():
        name = name.lower()
        if name == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
        elif name in headers:
            headers[name] += "," + value
        else:
            headers[name] = value
    body = request.read()
    raw_path, _, query = request.url.raw_path.decode("ascii").partition("?")
    textual = headers.get("content-type", "application/json").startswith(_TEXT_TYPES)
    try:
        text = body.decode("utf-8") if textual else None
    except UnicodeDecodeError:
        text = None
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdefgh",
            "domainName": HOST,
            "http": {
                "method": request.method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": "request-1",
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": text is None and bool(body),
    }
    if body:
        event["body"] = text if text is not None else base64.b64encode(body).decode("ascii")
    if cookies:
        event["cookies"] = cookies
    return event


def _checked(answer: Any, method: str) -> httpx.Response:
    """The Lambda answer as an httpx response, once it has the shape Lambda requires."""
    assert isinstance(answer, dict), answer
    assert set(answer) <= {"statusCode", "headers", "body", "isBase64Encoded", "cookies"}, answer
    status, headers, body = answer["statusCode"], answer["headers"], answer["body"]
    assert isinstance(status, int) and isinstance(body, str), answer
    assert isinstance(headers, dict), answer
    assert all(isinstance(k, str) and k == k.lower() and isinstance(v, str) for k, v in
               headers.items()), headers  # fmt: skip
    raw = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode("utf-8")
    if method == "HEAD":
        assert raw == b"", answer
    elif status != 204:
        assert headers.get("content-length") == str(len(raw)), answer
    return httpx.Response(status, headers=list(headers.items()), content=raw)


class LambdaTransport(httpx.BaseTransport):
    """Every request into a Lambda handler over ``core``, in this process."""

    def __init__(self, settings: Settings, **create_args: Any) -> None:
        self.handler = handler_for(create_core(settings, **create_args))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = self.handler(function_url_event_of(request), None)
        response = _checked(answer, request.method)
        response.request = request
        return response


@contextlib.contextmanager
def client_over(
    adapter: str,
    settings: Settings,
    *,
    client: type[httpx.Client] = httpx.Client,
    client_options: dict[str, Any] | None = None,
    **create_args: Any,
) -> Iterator[httpx.Client]:
    """A ``client`` (an httpx.Client class) for the coordinator of ``settings`` behind
    ``adapter``; ``create_args`` go to ``create_app`` / ``create_core`` (clock, broker, store
    budget), ``client_options`` to the client (timeout, event hooks)."""
    options = {"timeout": 30, **(client_options or {})}
    if adapter == "serve":
        with (
            serve_in_thread(create_app(settings, **create_args)) as base,
            client(base_url=base, **options) as made,
        ):
            yield made
    elif adapter == "lambda":
        transport = LambdaTransport(settings, **create_args)
        with client(transport=transport, base_url=f"https://{HOST}", **options) as made:
            yield made
    else:
        raise ValueError(f"adapter must be one of {ADAPTERS}, got {adapter!r}")
