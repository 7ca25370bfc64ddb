"""The coordinator's HTTP API: a thin Starlette layer over tokens and the broker.

Each handler authenticates, reads a bounded JSON body, checks its fields strictly (unknown
fields are refused: a typo must not silently mean "default"), calls the core, and renders JSON.
Store calls (boto3, blocking) run in the thread pool; presigning is local CPU work and runs
inline. ``create_app`` is the one factory that uvicorn (``python -m coordinator serve``) and
Mangum (``lambda_handler``) both serve.

Routes (see ``/openapi.json`` and docs/coordinator.md):

* ``POST /v1/jobs`` (admin): create a job, get its worker token;
* ``POST /v1/playback`` (admin): signed playback URLs for the delivery hostnames;
* ``POST /v1/jobs/{job_id}/inputs``: presigned GET and HEAD of the mezzanine;
* ``POST /v1/jobs/{job_id}/outputs``: presigned PUTs under the output prefix;
* ``POST /v1/jobs/{job_id}/multipart``: start a multipart upload, presigned part URLs;
* ``GET /v1/jobs/{job_id}/multipart/{upload_id}``: parts stored so far, URLs for the rest;
* ``POST /v1/jobs/{job_id}/multipart/{upload_id}/complete``: complete with the ETags;
* ``DELETE /v1/jobs/{job_id}/multipart/{upload_id}``: abort;
* ``GET /healthz``, ``GET /openapi.json``.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .access_log import AccessLog
from .broker import Broker, OutputFile
from .config import Settings, StoreSettings
from .errors import CoordinatorError, InvalidInput, NotFound, Unauthenticated
from .handles import UploadHandles
from .httpio import (
    ALWAYS_HEADERS,
    bearer_token,
    coordinator_error_response,
    error_response,
    json_response,
    read_json_object,
)
from .keys import validate_key, validate_prefix
from .s3client import LazyClient
from .sigv4 import MAX_EXPIRES
from .store import DEFAULT_STORE_BUDGET_SECONDS, Store, store_budget
from .tokens import JobScope, TokenCodec, new_job_id

__all__ = ["DEFAULT_JOB_TTL", "MAX_FILES_PER_REQUEST", "build_broker", "create_app"]

DEFAULT_JOB_TTL = 3600
MAX_FILES_PER_REQUEST = 100
REALM = "r2-video"
_DIGITS = re.compile(r"[0-9]{1,16}")

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_broker(settings: Settings, **client_options: Any) -> Broker:
    """A broker over the configured stores, each with its ``s3client.S3Client`` (built on first
    use; no boto3).

    ``client_options`` go to ``S3Client`` (timeouts, attempts: tests shorten them).
    """

    def store(s: StoreSettings) -> Store:
        client = LazyClient(
            endpoint=s.endpoint,
            region=s.region,
            credentials=s.credentials,
            addressing_style=s.addressing_style,
            **client_options,
        )
        return Store(
            endpoint=s.endpoint,
            region=s.region,
            bucket=s.bucket,
            credentials=s.credentials,
            client=client,
            addressing_style=s.addressing_style,
            max_expires=s.max_expires,
        )

    return Broker(
        mezzanine=store(settings.mezzanine),
        delivery=store(settings.delivery),
        handles=UploadHandles(settings.token_keys, signing_kid=settings.signing_kid),
    )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    broker: Broker | None = None,
    store_budget_seconds: float = DEFAULT_STORE_BUDGET_SECONDS,
) -> Starlette:
    """The ASGI app (Starlette, with the access log). ``clock`` (timezone-aware UTC) and
    ``broker`` are injectable for tests; ``store_budget_seconds`` bounds the time one request
    spends in store calls, in all."""
    api = _Api(
        settings,
        clock=clock or _utc_now,
        broker=broker or build_broker(settings),
        store_budget_seconds=store_budget_seconds,
    )
    jobs = "/v1/jobs/{job_id}"
    routes = [
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/openapi.json", api.openapi, methods=["GET"]),
        Route("/v1/jobs", api.create_job, methods=["POST"]),
        Route("/v1/playback", api.playback, methods=["POST"]),
        Route(f"{jobs}/inputs", api.inputs, methods=["POST"]),
        Route(f"{jobs}/outputs", api.outputs, methods=["POST"]),
        Route(f"{jobs}/multipart", api.create_multipart, methods=["POST"]),
        # One Route a path, all its methods: Starlette builds a 405's Allow from the first
        # route whose path matches, so two Routes on one path answered "Allow: GET, HEAD".
        Route(f"{jobs}/multipart/{{upload_id}}", api.multipart_upload, methods=["GET", "DELETE"]),
        Route(f"{jobs}/multipart/{{upload_id}}/complete", api.complete_multipart, methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        # One JSON line per request (coordinator/access_log.py), inside Starlette's error
        # middleware so that a 500 is logged too.
        middleware=[Middleware(AccessLog)],
        exception_handlers={
            CoordinatorError: _coordinator_error,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
    )
    return app


# -- error rendering ------------------------------------------------------------------------


async def _coordinator_error(request: Request, exc: Exception) -> Response:
    return coordinator_error_response(cast(CoordinatorError, exc), realm=REALM)


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> Response:
    exc = cast(HTTPException, exc)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = "no such route" if exc.status_code == 404 else str(exc.detail)
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _internal_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the server's log (Starlette re-raises), never to the client.
    return error_response(500, "internal_error", "internal error")


# -- field checks ---------------------------------------------------------------------------


def _only(
    data: Mapping[str, Any], *, required: Collection[str], optional: Collection[str] = ()
) -> None:
    missing = [name for name in required if name not in data]
    if missing:
        raise InvalidInput(f"missing field(s): {', '.join(missing)}", code="missing_field")
    unknown = sorted(set(data) - set(required) - set(optional))
    if unknown:
        shown = ", ".join(repr(name[:64]) for name in unknown[:5])
        raise InvalidInput(f"unknown field(s): {shown}", code="unknown_field")


def _seconds(value: object, name: str, *, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise InvalidInput(f"{name} must be an integer from 1 to {high}", code=f"invalid_{name}")
    return value


def _query_items(request: Request) -> list[tuple[str, str]]:
    """The query string's items, decoded strictly: Starlette turns invalid UTF-8 into U+FFFD,
    which would then pass as a key; a body with the same bytes is a 400, so is this."""
    raw = request.scope.get("query_string", b"").decode("latin-1")
    try:
        return parse_qsl(raw, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise InvalidInput("the query string is not valid UTF-8", code="invalid_query") from None


def _query(
    request: Request, *, required: Collection[str], optional: Collection[str] = ()
) -> dict[str, str]:
    items = _query_items(request)
    names = [name for name, _ in items]
    if len(names) != len(set(names)):
        raise InvalidInput("a query parameter is repeated", code="invalid_query")
    values = dict(items)
    _only(values, required=required, optional=optional)
    return values


def _whole_number(raw: str, name: str) -> int:
    if _DIGITS.fullmatch(raw) is None:
        raise InvalidInput(f"{name} must be a whole number", code=f"invalid_{name}")
    return int(raw)


class _Api:
    """The handlers, sharing the verified-once-built token keys, the broker and the clock."""

    def __init__(
        self, settings: Settings, *, clock: Clock, broker: Broker, store_budget_seconds: float
    ) -> None:
        self.store_budget_seconds = store_budget_seconds
        self.settings = settings
        self.clock = clock
        self.broker = broker
        self.codec = TokenCodec(settings.token_keys, signing_kid=settings.signing_kid)
        self._admin_key = settings.admin_key.encode("utf-8")

    # -- auth -----------------------------------------------------------------------------------

    def _require_admin(self, request: Request) -> None:
        # Header values arrive as latin-1 text; compare the raw bytes in constant time.
        supplied = bearer_token(request).encode("latin-1")
        if not hmac.compare_digest(supplied, self._admin_key):
            raise Unauthenticated("admin key does not match", code="invalid_admin_key")

    def _job_scope(self, request: Request) -> JobScope:
        token = bearer_token(request)
        return self.codec.verify(token, now=self.clock(), job_id=request.path_params["job_id"])

    def _expires_in(self, value: object) -> int:
        if value is None:
            return self.settings.default_expires_in
        return _seconds(value, "expires_in", high=MAX_EXPIRES)

    async def _in_store(self, work: Callable[..., Any], *args: Any) -> Any:
        """``work`` (blocking store calls) in the thread pool, within the request's budget."""
        with store_budget(self.store_budget_seconds):
            return await run_in_threadpool(work, *args)

    # -- routes ---------------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        return json_response({"status": "ok"})

    async def openapi(self, request: Request) -> Response:
        from .openapi import document  # built on demand: no import cost at cold start

        return json_response(document())

    async def create_job(self, request: Request) -> Response:
        self._require_admin(request)
        body = await read_json_object(request)
        _only(body, required=("mezzanine_key", "output_prefix"), optional=("ttl_seconds",))
        key = validate_key(body["mezzanine_key"], what="mezzanine_key")
        prefix = validate_prefix(body["output_prefix"])
        high = self.settings.max_job_ttl
        ttl = _seconds(
            body.get("ttl_seconds", min(DEFAULT_JOB_TTL, high)), "ttl_seconds", high=high
        )
        await self._in_store(self.broker.check_mezzanine, key)
        now = self.clock().replace(microsecond=0)
        scope = JobScope(
            job_id=new_job_id(),
            mezzanine_keys=(key,),
            output_prefix=prefix,
            issued_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
        return json_response(
            {
                "job_id": scope.job_id,
                "worker_token": self.codec.issue(scope),
                "expires_at": _iso(scope.expires_at),
                "mezzanine_key": key,
                "output_prefix": prefix,
            },
            status=201,
        )

    async def playback(self, request: Request) -> Response:
        # The app server that decides who may watch asks, with the admin key; viewers and
        # workers never hold a credential that mints URLs (docs/coordinator.md).
        self._require_admin(request)
        signer = self.settings.playback
        if signer is None:
            raise NotFound(
                "signed delivery is not configured on this coordinator",
                code="playback_not_configured",
            )
        body = await read_json_object(request)
        _only(body, required=("paths",), optional=("expires_in", "host"))
        paths, host = body["paths"], body.get("host")
        if (
            not isinstance(paths, list)
            or not 1 <= len(paths) <= MAX_FILES_PER_REQUEST
            or not all(isinstance(p, str) for p in paths)
        ):
            raise InvalidInput(
                f"paths must be a list of 1 to {MAX_FILES_PER_REQUEST} strings",
                code="invalid_paths",
            )
        if host is not None and not isinstance(host, str):
            raise InvalidInput("host must be a delivery hostname", code="invalid_host")
        high = signer.rule_ttl
        raw = body.get("expires_in")
        expires_in = (
            min(self.settings.default_expires_in, high)
            if raw is None
            else _seconds(raw, "expires_in", high=high)
        )
        now = self.clock()
        urls = [signer.sign(p, now=now, expires_in=expires_in, host=host) for p in paths]
        return json_response(
            {
                "urls": [{"path": u.path, "url": u.url} for u in urls],
                "expires_at": _iso(urls[0].expires_at),
            }
        )

    async def inputs(self, request: Request) -> Response:
        scope = self._job_scope(request)
        body = await read_json_object(request, allow_empty=True)
        _only(body, required=(), optional=("expires_in",))
        urls, expires_at = self.broker.input_urls(
            scope, now=self.clock(), expires_in=self._expires_in(body.get("expires_in"))
        )
        return json_response(
            {
                "inputs": [
                    {"key": u.key, "get_url": u.get_url, "head_url": u.head_url} for u in urls
                ],
                "expires_at": _iso(expires_at),
            }
        )

    async def outputs(self, request: Request) -> Response:
        scope = self._job_scope(request)
        body = await read_json_object(request)
        _only(body, required=("files",), optional=("expires_in",))
        files = body["files"]
        if not isinstance(files, list) or not 1 <= len(files) <= MAX_FILES_PER_REQUEST:
            raise InvalidInput(
                f"files must be a list of 1 to {MAX_FILES_PER_REQUEST} objects",
                code="invalid_files",
            )
        wanted = []
        for entry in files:
            if not isinstance(entry, dict):
                raise InvalidInput("each file must be an object", code="invalid_files")
            _only(entry, required=("path", "content_type"))
            wanted.append(OutputFile(path=entry["path"], content_type=entry["content_type"]))
        paths = [f.path for f in wanted if isinstance(f.path, str)]
        if len(set(paths)) != len(paths):
            raise InvalidInput("each path may appear once", code="invalid_files")
        puts, expires_at = self.broker.output_urls(
            scope, wanted, now=self.clock(), expires_in=self._expires_in(body.get("expires_in"))
        )
        return json_response(
            {
                "files": [
                    {
                        "path": p.path,
                        "key": p.key,
                        "method": "PUT",
                        "url": p.url,
                        "headers": dict(p.headers),
                    }
                    for p in puts
                ],
                "expires_at": _iso(expires_at),
            }
        )

    async def create_multipart(self, request: Request) -> Response:
        scope = self._job_scope(request)
        body = await read_json_object(request)
        _only(
            body,
            required=("path", "size", "content_type"),
            optional=("cache_control", "expires_in"),
        )
        expires_in = self._expires_in(body.get("expires_in"))
        upload = await self._in_store(
            lambda: self.broker.create_multipart(
                scope,
                path=body["path"],
                size=body["size"],
                content_type=body["content_type"],
                cache_control=body.get("cache_control"),
                now=self.clock(),
                expires_in=expires_in,
            )
        )
        return json_response(
            {
                "upload_id": upload.upload_id,
                "key": upload.key,
                "size": upload.plan.size,
                "part_size": upload.plan.part_size,
                "part_count": upload.plan.part_count,
                "parts": [{"part_number": p.part_number, "url": p.url} for p in upload.parts],
                "expires_at": _iso(upload.expires_at),
            },
            status=201,
        )

    async def multipart_upload(self, request: Request) -> Response:
        if request.method == "DELETE":
            return await self.abort_multipart(request)
        return await self.multipart_status(request)

    async def multipart_status(self, request: Request) -> Response:
        scope = self._job_scope(request)
        query = _query(request, required=("path", "size"), optional=("expires_in",))
        raw_expires = query.get("expires_in")
        expires_in = self._expires_in(
            None if raw_expires is None else _whole_number(raw_expires, "expires_in")
        )
        status = await self._in_store(
            lambda: self.broker.multipart_status(
                scope,
                upload_id=request.path_params["upload_id"],
                path=query["path"],
                size=_whole_number(query["size"], "size"),
                now=self.clock(),
                expires_in=expires_in,
            )
        )
        return json_response(
            {
                "upload_id": status.upload_id,
                "key": status.key,
                "size": status.plan.size,
                "part_size": status.plan.part_size,
                "part_count": status.plan.part_count,
                "uploaded": [
                    {"part_number": p.part_number, "etag": p.etag, "size": p.size}
                    for p in status.uploaded
                ],
                "missing_count": status.missing_count,
                "parts": [{"part_number": p.part_number, "url": p.url} for p in status.parts],
                "expires_at": _iso(status.expires_at),
            }
        )

    async def complete_multipart(self, request: Request) -> Response:
        scope = self._job_scope(request)
        body = await read_json_object(request)
        _only(body, required=("path", "size", "parts"))
        key, etag = await self._in_store(
            lambda: self.broker.complete_multipart(
                scope,
                upload_id=request.path_params["upload_id"],
                path=body["path"],
                size=body["size"],
                parts=body["parts"],
            )
        )
        return json_response({"key": key, "etag": etag})

    async def abort_multipart(self, request: Request) -> Response:
        scope = self._job_scope(request)
        query = _query(request, required=("path",))
        await self._in_store(
            lambda: self.broker.abort_multipart(
                scope, upload_id=request.path_params["upload_id"], path=query["path"]
            )
        )
        return Response(status_code=204, headers=ALWAYS_HEADERS)
