"""The serve adapter: ASGI (uvicorn, ``python -m coordinator serve``) over the core.

What it adds to the core is what a socket needs and a Lambda event does not: the body is
streamed from the client with the limits an HTTP server must set itself (at most
``MAX_BODY_BYTES``, counted as it arrives, since Content-Length may lie or be absent; at most
``BODY_SECONDS`` for all of it; a client that leaves mid-body), and only for a route that reads
one, after its framing headers passed (``httpio.check_framing``). What stopped the body becomes
``Request.body_problem``, which the core raises where the route reads its body (so a 404, 405 or
a query-string refusal still answers first). Routes that call the store run in Starlette's thread
pool, since the core blocks on those calls; the rest run inline.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from dataclasses import replace
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response as StarletteResponse

from . import httpio
from .core import Core
from .errors import CoordinatorError, InvalidInput, PayloadTooLarge, RequestTimeout
from .httpio import MAX_BODY_BYTES, check_framing
from .messages import Request, Response

__all__ = ["ServeAdapter", "read_body"]

Scope = MutableMapping[str, Any]


class ServeAdapter:
    """An ASGI app over ``core``."""

    def __init__(self, core: Core) -> None:
        self.core = core

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":  # a websocket: nothing here speaks it
            return
        started = time.perf_counter()
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            # The first of repeated fields, as Starlette's Headers.get answered.
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        request = Request(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
        )
        match = self.core.match(request)
        route = match.route
        method = request.method
        if match.handler is not None and route is not None:
            if method in route.takes_body and not request.query:
                body, problem = await read_body(StarletteRequest(scope, receive), headers)
                request = replace(request, body=body, body_problem=problem)
            if method in route.blocking:
                answer = await run_in_threadpool(self.core, request, match=match, started=started)
            else:
                answer = self.core(request, match=match, started=started)
        else:
            answer = self.core(request, match=match, started=started)
        await _send(answer, scope, receive, send)


async def read_body(
    request: StarletteRequest, headers: dict[str, str], *, limit: int = MAX_BODY_BYTES
) -> tuple[bytes, CoordinatorError | None]:
    """The body as it arrives, or what stopped it; nothing is read when the framing headers
    already refuse it (the core says why)."""
    try:
        check_framing(headers, limit=limit)
    except CoordinatorError:
        return b"", None
    chunks: list[bytes] = []
    size = 0
    seconds = httpio.BODY_SECONDS  # read here: a test shortens it
    try:
        # A body that trickles in (or a chunked one that never ends) holds the request for
        # BODY_SECONDS at most: uvicorn has no such limit of its own.
        with anyio.fail_after(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    return b"", PayloadTooLarge(f"request body is larger than {limit} bytes")
                chunks.append(chunk)
    except ClientDisconnect:
        return b"", InvalidInput("client went away mid-body", code="invalid_body")
    except TimeoutError:
        return b"", RequestTimeout(f"the request body did not arrive within {seconds} s")
    return b"".join(chunks), None


async def _send(answer: Response, scope: Scope, receive: Any, send: Any) -> None:
    response = StarletteResponse(answer.body, status_code=answer.status, headers=answer.headers)
    await response(scope, receive, send)


async def _lifespan(receive: Any, send: Any) -> None:
    """Nothing to start or stop: the core is built before the server starts."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
