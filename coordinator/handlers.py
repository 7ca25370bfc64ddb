"""The coordinator's routes as plain functions: a ``Request`` and its path parameters in, a
``Response`` out (no framework, no event loop: the Lambda and serve adapters both call these).

Each handler authenticates, reads a bounded JSON body, checks its fields strictly (unknown
fields are refused: a typo must not silently mean "default"), calls the broker, and renders
JSON. Store calls block, within the request's budget (``store.store_budget``); presigning is
local CPU work.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from .broker import Broker, OutputFile
from .config import Settings
from .errors import InvalidInput, NotFound, Unauthenticated
from .httpio import ALWAYS_HEADERS, bearer_token, json_response, read_json_object
from .keys import validate_key, validate_prefix
from .messages import Request, Response
from .sigv4 import MAX_EXPIRES
from .store import store_budget
from .tokens import JobScope, TokenCodec, new_job_id

__all__ = ["DEFAULT_JOB_TTL", "MAX_FILES_PER_REQUEST", "Api", "Clock"]

DEFAULT_JOB_TTL = 3600
MAX_FILES_PER_REQUEST = 100
_DIGITS = re.compile(r"[0-9]{1,16}")
_NO_CONTENT = Response(204, ALWAYS_HEADERS)

Clock = Callable[[], datetime]
Params = Mapping[str, str]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    """The query string's items, decoded strictly: invalid UTF-8 must not become U+FFFD, which
    would then pass as a key; a body with the same bytes is a 400, so is this."""
    raw = request.query
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


class Api:
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
        try:
            supplied = bearer_token(request).encode("latin-1")
        except UnicodeEncodeError:  # not an adapter's latin-1 view: cannot be the key
            raise Unauthenticated("admin key does not match", code="invalid_admin_key") from None
        if not hmac.compare_digest(supplied, self._admin_key):
            raise Unauthenticated("admin key does not match", code="invalid_admin_key")

    def _job_scope(self, request: Request, params: Params) -> JobScope:
        token = bearer_token(request)
        return self.codec.verify(token, now=self.clock(), job_id=params["job_id"])

    def _expires_in(self, value: object) -> int:
        if value is None:
            return self.settings.default_expires_in
        return _seconds(value, "expires_in", high=MAX_EXPIRES)

    def _in_store(self, work: Callable[..., Any], *args: Any) -> Any:
        """``work`` (blocking store calls), within the request's budget."""
        with store_budget(self.store_budget_seconds):
            return work(*args)

    # -- routes ---------------------------------------------------------------------------------

    def healthz(self, request: Request, params: Params) -> Response:
        return json_response({"status": "ok"})

    def openapi(self, request: Request, params: Params) -> Response:
        from .openapi import document  # built on demand: no import cost at cold start

        return json_response(document())

    def create_job(self, request: Request, params: Params) -> Response:
        self._require_admin(request)
        body = read_json_object(request)
        _only(body, required=("mezzanine_key", "output_prefix"), optional=("ttl_seconds",))
        key = validate_key(body["mezzanine_key"], what="mezzanine_key")
        prefix = validate_prefix(body["output_prefix"])
        high = self.settings.max_job_ttl
        ttl = _seconds(
            body.get("ttl_seconds", min(DEFAULT_JOB_TTL, high)), "ttl_seconds", high=high
        )
        self._in_store(self.broker.check_mezzanine, key)
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

    def playback(self, request: Request, params: Params) -> Response:
        # The app server that decides who may watch asks, with the admin key; viewers and
        # workers never hold a credential that mints URLs (docs/coordinator.md).
        self._require_admin(request)
        signer = self.settings.playback
        if signer is None:
            raise NotFound(
                "signed delivery is not configured on this coordinator",
                code="playback_not_configured",
            )
        body = read_json_object(request)
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

    def inputs(self, request: Request, params: Params) -> Response:
        scope = self._job_scope(request, params)
        body = read_json_object(request, allow_empty=True)
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

    def outputs(self, request: Request, params: Params) -> Response:
        scope = self._job_scope(request, params)
        body = read_json_object(request)
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

    def create_multipart(self, request: Request, params: Params) -> Response:
        scope = self._job_scope(request, params)
        body = read_json_object(request)
        _only(
            body,
            required=("path", "size", "content_type"),
            optional=("cache_control", "expires_in"),
        )
        expires_in = self._expires_in(body.get("expires_in"))
        upload = self._in_store(
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

    def multipart_status(self, request: Request, params: Params) -> Response:
        scope = self._job_scope(request, params)
        query = _query(request, required=("path", "size"), optional=("expires_in",))
        raw_expires = query.get("expires_in")
        expires_in = self._expires_in(
            None if raw_expires is None else _whole_number(raw_expires, "expires_in")
        )
        status = self._in_store(
            lambda: self.broker.multipart_status(
                scope,
                upload_id=params["upload_id"],
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

    def complete_multipart(self, request: Request, params: Params) -> Response:
        scope = self._job_scope(request, params)
        body = read_json_object(request)
        _only(body, required=("path", "size", "parts"))
        key, etag = self._in_store(
            lambda: self.broker.complete_multipart(
                scope,
                upload_id=params["upload_id"],
                path=body["path"],
                size=body["size"],
                parts=body["parts"],
            )
        )
        return json_response({"key": key, "etag": etag})

    def abort_multipart(self, request: Request, params: Params) -> Response:
        scope = self._job_scope(request, params)
        query = _query(request, required=("path",))
        self._in_store(
            lambda: self.broker.abort_multipart(
                scope, upload_id=params["upload_id"], path=query["path"]
            )
        )
        return _NO_CONTENT
