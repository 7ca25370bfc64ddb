"""One object store the broker signs for, and its few network calls with their failures mapped
to the coordinator's errors (never an exception of the client past this module).

The calls go through the store's ``client`` (``s3client.S3Client``: the project's signer over a
pooled HTTP client, nothing heavy to import); ``call`` maps what it raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from . import sigv4
from .errors import InvalidInput, NotFound, StoreBadAnswer, StoreUnavailable
from .multipart import LIST_PARTS_PAGE, MAX_PARTS, UploadedPart
from .s3client import (
    DEADLINE,
    BadAnswer,
    BudgetExceeded,
    S3Error,
    SigningError,
    TransportError,
)

__all__ = [
    "DEFAULT_STORE_BUDGET_SECONDS",
    "Store",
    "StoreRefused",
    "call",
    "list_parts",
    "store_budget",
    "store_timing",
]

MAX_EXPIRES = sigv4.MAX_EXPIRES  # 7 days: SigV4's and R2's ceiling


@dataclass(frozen=True, slots=True)
class Store:
    """One object store and bucket the broker signs for, with its client's factory."""

    endpoint: str
    region: str
    bucket: str
    credentials: sigv4.Credentials
    client: Callable[[], Any] = field(repr=False, compare=False)
    addressing_style: Literal["path", "virtual"] = "path"
    max_expires: int = MAX_EXPIRES  # lower for temporary credentials of unknown expiry

    def presign(
        self,
        method: str,
        key: str,
        *,
        now: datetime,
        expires_in: int,
        content_type: str | None = None,
        query: Mapping[str, str] | None = None,
    ) -> str:
        return sigv4.presign_url(
            method,
            endpoint=self.endpoint,
            bucket=self.bucket,
            key=key,
            credentials=self.credentials,
            region=self.region,
            now=now,
            expires_in=expires_in,
            content_type=content_type,
            query=query,
            addressing_style=self.addressing_style,
        )


# S3 error codes that describe the client's request, not the store's health.
_NOT_FOUND_CODES = frozenset({"NoSuchUpload", "NoSuchKey", "NotFound", "404"})
_CLIENT_CODES = frozenset({"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "EntityTooLarge"})


class StoreRefused(StoreUnavailable):
    """The store answered with an error of its own (not: it did not answer)."""


# A request's time for store calls, all attempts and pages included: every connect and read
# of the client waits at most what is left of it (a store that drips a few bytes every 2 s held
# a status call for 40 s when only each read was bounded). The budget is set per request by
# the HTTP layer (``store_budget``) and fits Lambda's 20 s timeout.
DEFAULT_STORE_BUDGET_SECONDS = 15.0


@contextmanager
def store_budget(seconds: float) -> Iterator[None]:
    """Store calls made inside (in this context, or a thread that copied it) end by then."""
    token = DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        DEADLINE.reset(token)


_timings: ContextVar[list[float] | None] = ContextVar("store_timings", default=None)


@contextmanager
def store_timing() -> Iterator[list[float]]:
    """Seconds of each store call made inside (or in a thread that copied this context)."""
    spent: list[float] = []
    token = _timings.set(spent)
    try:
        yield spent
    finally:
        _timings.reset(token)


def _timed(method: Callable[..., Any], **params: Any) -> Any:
    spent = _timings.get()
    if spent is None:
        return method(**params)
    start = time.perf_counter()
    try:
        return method(**params)
    finally:
        spent.append(time.perf_counter() - start)


def call(store: Store, operation: str, **params: Any) -> Mapping[str, Any]:
    """``client.<operation>(Bucket=..., **params)``, with the store's failures mapped: 404 for
    what does not exist, 400 for parts the store refuses, 503 for a store that refuses or does
    not answer (with the reason when it is our clock, or the request's budget), 502 for an
    answer the client cannot read."""
    deadline = DEADLINE.get()
    if deadline is not None and deadline <= time.monotonic():
        raise StoreUnavailable(f"no time left in this request's budget to call {operation}")
    method = getattr(store.client(), operation)
    try:
        return _timed(method, Bucket=store.bucket, **params)
    except S3Error as exc:
        skew = _clock_skew(exc.code, exc.headers)
        if skew is not None:
            raise StoreRefused(
                f"the object store refused {operation}: this coordinator's clock is {skew} "
                "from the store's (SigV4 allows 15 minutes); synchronise the clock",
                code="store_clock_skew",
            ) from None
        # A HEAD of a missing key is a 403 when the signer may not list the bucket.
        hidden_missing = operation == "head_object" and exc.status == 403
        if exc.code in _NOT_FOUND_CODES or exc.status == 404 or hidden_missing:
            message = _NOT_FOUND_MESSAGES.get(operation, "not found")
            raise NotFound(message, code="not_found") from None
        if exc.code in _CLIENT_CODES:
            message = f"the store refused the parts ({exc.code})"
            raise InvalidInput(message, code="invalid_parts") from None
        message = f"the object store refused {operation} ({exc.code or exc.status})"
        raise StoreRefused(message) from None
    except BudgetExceeded:
        raise StoreUnavailable(
            f"the object store did not finish {operation} within the request's budget"
        ) from None
    except TransportError:
        raise StoreUnavailable(f"the object store did not answer {operation}") from None
    except SigningError as exc:
        raise StoreUnavailable(f"cannot sign {operation} for the object store: {exc}") from None
    except BadAnswer:
        raise StoreBadAnswer(f"the object store's answer to {operation} is malformed") from None


# S3 refuses a request signed more than 15 minutes away from its clock (RequestTimeTooSkewed);
# a HEAD has no body to say so, only the 403 and the store's Date header.
_MAX_SKEW = timedelta(minutes=15)


def _clock_skew(code: str, headers: Mapping[str, str]) -> str | None:
    """How far our clock is from the store's, when that is why it refused; else None."""
    try:
        theirs = parsedate_to_datetime(headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        theirs = None
    if theirs is not None and theirs.tzinfo is not None:
        gap = datetime.now(UTC) - theirs
        if abs(gap) > _MAX_SKEW:
            minutes = round(gap.total_seconds() / 60)
            return f"{abs(minutes)} minutes {'ahead' if minutes > 0 else 'behind'}"
    if code == "RequestTimeTooSkewed":
        return "more than 15 minutes away"
    return None


_NOT_FOUND_MESSAGES = {
    "head_object": "object not found",
    "list_parts": "no such multipart upload for this path",
    "complete_multipart_upload": "no such multipart upload for this path",
    "abort_multipart_upload": "no such multipart upload for this path",
}


def list_parts(store: Store, key: str, upload_id: str) -> Iterator[UploadedPart]:
    """Every part of an upload, page by page, each entry checked: a store's malformed or
    endless listing is a 502/503, never a KeyError or a loop."""
    marker = 0
    for _ in range(MAX_PARTS // LIST_PARTS_PAGE + 1):
        page = call(
            store,
            "list_parts",
            Key=key,
            UploadId=upload_id,
            MaxParts=LIST_PARTS_PAGE,
            PartNumberMarker=marker,
        )
        # A ListPartsResult always carries IsTruncated; an empty or foreign 200 (a proxy's
        # page) parses as {} and must not read as "no parts stored".
        if "IsTruncated" not in page and "UploadId" not in page:
            raise StoreUnavailable("the store's answer to list_parts is not a part listing")
        yield from (_uploaded_part(part) for part in _listed(page.get("Parts", [])))
        if not page.get("IsTruncated"):
            return
        marker = _store_int(page.get("NextPartNumberMarker", 0), "NextPartNumberMarker")
    raise StoreUnavailable("the store's part listing does not end")


def _listed(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise StoreBadAnswer("the store's part listing is malformed (Parts is not a list)")
    return value


def _store_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise StoreBadAnswer(f"the store's part listing has a malformed {name}")
    try:
        return int(value)
    except ValueError:
        raise StoreBadAnswer(f"the store's part listing has a malformed {name}") from None


def _uploaded_part(part: object) -> UploadedPart:
    """A ListParts entry, checked: a store's malformed answer is a 502, never a KeyError."""
    if not isinstance(part, Mapping) or not {"PartNumber", "ETag", "Size"} <= part.keys():
        raise StoreBadAnswer("the store listed a part without PartNumber, ETag or Size")
    etag = part["ETag"]
    if not isinstance(etag, str) or not etag:
        raise StoreBadAnswer("the store listed a part with a malformed ETag")
    return UploadedPart(
        part_number=_store_int(part["PartNumber"], "PartNumber"),
        etag=etag,
        size=_store_int(part["Size"], "Size"),
    )
