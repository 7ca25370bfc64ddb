"""The coordinator's request handling: a ``Request`` in, a ``Response`` out, nothing else.

``Core`` routes (``routing.py``), calls the handler (``handlers.py``), renders every failure
in the one error shape with its status and headers (``httpio.py``), and writes the access line
(``access_log.py``). It imports no framework and no event loop: the Lambda adapter
(``lambda_handler.py``) calls it straight from the event, the serve adapter (``asgi.py``,
Starlette under uvicorn) from its thread pool. What the framework used to do and the core now
does: route and answer 404/405 with ``Allow``, run HEAD as GET, map exceptions to responses,
turn an unexpected exception into a 500 that is logged with its traceback and never shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .access_log import access_line, log_access
from .broker import Broker
from .config import Settings
from .errors import CoordinatorError
from .handlers import Api, Clock
from .httpio import coordinator_error_response, error_response
from .messages import Request, Response
from .routing import Match, Route, Router
from .store import store_timing

__all__ = ["REALM", "Core", "routes"]

REALM = "r2-video"
_log = logging.getLogger(__name__)
_NOT_FOUND = error_response(404, "not_found", "no such route")
_INTERNAL = error_response(500, "internal_error", "internal error")


def routes(api: Api) -> list[Route]:
    """Every route of the API, one a path with all its methods (so a 405's Allow is whole)."""
    jobs = "/v1/jobs/{job_id}"
    body = frozenset({"POST"})
    store = frozenset({"POST"})
    return [
        Route("/healthz", {"GET": api.healthz}),
        Route("/openapi.json", {"GET": api.openapi}),
        Route("/v1/jobs", {"POST": api.create_job}, blocking=store, takes_body=body),
        Route("/v1/playback", {"POST": api.playback}, takes_body=body),
        Route(f"{jobs}/inputs", {"POST": api.inputs}, takes_body=body),
        Route(f"{jobs}/outputs", {"POST": api.outputs}, takes_body=body),
        Route(f"{jobs}/multipart", {"POST": api.create_multipart}, blocking=store, takes_body=body),
        Route(
            f"{jobs}/multipart/{{upload_id}}",
            {"GET": api.multipart_status, "DELETE": api.abort_multipart},
            blocking=frozenset({"GET", "DELETE"}),
        ),
        Route(
            f"{jobs}/multipart/{{upload_id}}/complete",
            {"POST": api.complete_multipart},
            blocking=store,
            takes_body=body,
        ),
    ]


class Core:
    """The API over one broker: ``core(request)`` answers it, whatever it holds."""

    def __init__(
        self, settings: Settings, *, clock: Clock, broker: Broker, store_budget_seconds: float
    ) -> None:
        self.api = Api(
            settings, clock=clock, broker=broker, store_budget_seconds=store_budget_seconds
        )
        self.router = Router(routes(self.api))

    def match(self, request: Request) -> Match:
        return self.router.match(request.method, request.path)

    def __call__(
        self,
        request: Request,
        *,
        match: Match | None = None,
        started: float | None = None,
        request_id: str | None = None,
    ) -> Response:
        """The answer to ``request``; ``match`` when the adapter already routed it, ``started``
        (``time.perf_counter()``) when its clock started before the body was read."""
        start = time.perf_counter() if started is None else started
        found = self.match(request) if match is None else match
        with store_timing() as store:
            response = self._answer(request, found)
        route = found.route
        log_access(
            access_line(
                route=None if route is None else route.template,
                method=request.method,
                status=response.status,
                params=found.params,
                seconds=time.perf_counter() - start,
                store=store,
                request_id=request_id,
            )
        )
        return response

    def _answer(self, request: Request, found: Match) -> Response:
        if found.route is None:
            return _NOT_FOUND
        handler: Callable[..., Response] | None = found.handler
        if handler is None:
            return error_response(
                405,
                "method_not_allowed",
                "Method Not Allowed",
                headers={"allow": found.route.allow},
            )
        try:
            return handler(request, found.params)
        except CoordinatorError as exc:
            return coordinator_error_response(exc, realm=REALM)
        except Exception:  # a bug: logged with its traceback, answered without it
            _log.exception(
                "unhandled error serving %s %s", request.method[:16], found.route.template
            )
            return _INTERNAL
