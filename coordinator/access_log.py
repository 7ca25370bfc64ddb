"""One structured JSON line per request, for the pager: route, status, job, latency, store time.

An ASGI wrapper around the app (plain ASGI, like Starlette's own middleware), logging to
``coordinator.access`` at INFO. What a line holds is fixed here, field by field: the route's
template (``/v1/jobs/{job_id}/outputs``, never the path as sent, which may carry an upload
handle or a key), the method, the status, the job id (a random id, no secret), the time the
request took and the part of it spent in store calls, and Lambda's request id when there is
one. Never a header, a query string, a body, a token, a key or a URL: nothing that could carry
a credential or a signature reaches the line.

Example::

    {"route": "/v1/jobs/{job_id}/multipart", "method": "POST", "status": 201,
     "job_id": "5f0c...", "ms": 41.2, "store_ms": 38.9, "store_calls": 1,
     "request_id": "c6af9ac6-7b61-11e6-9a41-93e812345678"}

CloudWatch Logs Insights reads these fields directly (``stats count(*) by status``), and the
stack's alarms count 5xx from Lambda's own metrics, not from here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import MutableMapping
from typing import Any

from .store import store_timing

__all__ = ["LOGGER_NAME", "AccessLog"]

LOGGER_NAME = "coordinator.access"
_log = logging.getLogger(LOGGER_NAME)
_log.setLevel(logging.INFO)  # explicit: a root logger at WARNING (Lambda's) must not hide it

Scope = MutableMapping[str, Any]


class AccessLog:
    """Wraps an ASGI app; logs one line per HTTP request once its answer is sent."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with store_timing() as store:
            try:
                await self.app(scope, receive, send_status)
            finally:
                _log.info(
                    "%s",
                    json.dumps(
                        _line(scope, status or 500, time.perf_counter() - start, store),
                        separators=(",", ":"),
                    ),
                )


def _line(scope: Scope, status: int, seconds: float, store: list[float]) -> dict[str, Any]:
    route = scope.get("route")
    line: dict[str, Any] = {
        # The template of the route that matched; an unmatched path is not repeated back.
        "route": getattr(route, "path", None) or "(no route)",
        "method": scope.get("method", ""),
        "status": status,
    }
    job_id = scope.get("path_params", {}).get("job_id")
    if isinstance(job_id, str) and len(job_id) <= 64:
        line["job_id"] = job_id
    line["ms"] = round(seconds * 1000, 1)
    line["store_ms"] = round(sum(store) * 1000, 1)
    line["store_calls"] = len(store)
    context = scope.get("aws.context")  # set by Mangum on Lambda
    request_id = getattr(context, "aws_request_id", None)
    if isinstance(request_id, str):
        line["request_id"] = request_id
    return line
