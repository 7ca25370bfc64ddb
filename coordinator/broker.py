"""What a job may sign, and the broker that signs it: expiry caps, the results handed to
workers, and the multipart life cycle (create, resume, complete, abort) over one ``Store``.

The rules live in their own modules: which keys (``keys``), how uploads are cut (``multipart``),
how the store is called (``store``). Presigning is local CPU work (``sigv4.presign_url``); only
the multipart and HEAD calls go over the network.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import sigv4
from .errors import (
    Conflict,
    InvalidInput,
    NotFound,
    StoreIntegrity,
    StoreUnavailable,
)
from .handles import UploadHandles
from .keys import output_key, validate_cache_control, validate_content_type, validate_key
from .multipart import (
    MAX_PART_URLS,
    UPLOAD_ID,
    MultipartPlan,
    UploadedPart,
    check_stored_parts,
    checked_parts,
    multipart_etag,
    plan_multipart,
    validate_upload_id,
)
from .store import MAX_EXPIRES, Store, StoreRefused, call, list_parts
from .tokens import JobScope

__all__ = [
    "MAX_EXPIRES",
    "Broker",
    "InputUrls",
    "MultipartStatus",
    "MultipartUpload",
    "OutputFile",
    "PartUrl",
    "SignedPut",
    "url_lifetime",
]

# ---------------------------------------------------------------------------------------------
# Expiry


def url_lifetime(
    asked: int,
    *,
    now: datetime,
    scope_expires_at: datetime,
    credentials: sigv4.Credentials,
    store_max: int = MAX_EXPIRES,
) -> int:
    """Seconds a URL signed at ``now`` may live: the least of what was asked, the job's token,
    7 days, the store's own cap, and the signing credentials' expiry when they are temporary.

    References: https://docs.aws.amazon.com/AmazonS3/latest/userguide/ShareObjectPreSignedURL.html
    (a URL signed with temporary credentials dies with them).
    """
    if isinstance(asked, bool) or not isinstance(asked, int) or asked < 1:
        raise InvalidInput("expires_in must be a positive integer", code="invalid_expires_in")
    limits = [asked, MAX_EXPIRES, store_max, _seconds_until(scope_expires_at, now)]
    if credentials.expires_at is not None:
        remaining = _seconds_until(credentials.expires_at, now)
        if remaining < 1:
            raise StoreUnavailable("the coordinator's signing credentials have expired")
        limits.append(remaining)
    lifetime = min(limits)
    if lifetime < 1:
        raise InvalidInput("the job has expired", code="job_expired")
    return lifetime


def _seconds_until(moment: datetime, now: datetime) -> int:
    return int((moment - now).total_seconds())  # rounds towards zero: never longer than true


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class InputUrls:
    key: str
    get_url: str
    head_url: str


@dataclass(frozen=True, slots=True)
class OutputFile:
    path: str
    content_type: str


@dataclass(frozen=True, slots=True)
class SignedPut:
    """A presigned PUT; the upload must send ``headers`` exactly (the content type is signed)."""

    path: str
    key: str
    url: str
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class PartUrl:
    part_number: int
    url: str


@dataclass(frozen=True, slots=True)
class MultipartUpload:
    upload_id: str
    key: str
    plan: MultipartPlan
    parts: tuple[PartUrl, ...]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class MultipartStatus:
    """What a resuming worker needs: parts already stored, URLs for (some of) the rest."""

    upload_id: str
    key: str
    plan: MultipartPlan
    uploaded: tuple[UploadedPart, ...]
    missing_count: int
    parts: tuple[PartUrl, ...]
    expires_at: datetime


# ---------------------------------------------------------------------------------------------
# The broker


class Broker:
    """Signs, for one job's scope, reads of its mezzanine and writes under its output prefix.

    ``mezzanine`` is the S3 side (GET/HEAD), ``delivery`` the R2 side (PUT, multipart).
    Methods take ``now`` (timezone-aware); it is cut to whole seconds because X-Amz-Date is,
    so the ``expires_at`` returned is exactly when the URLs stop working.
    """

    __slots__ = ("_completing", "delivery", "handles", "mezzanine")

    def __init__(self, *, mezzanine: Store, delivery: Store, handles: UploadHandles) -> None:
        self.mezzanine = mezzanine
        self.delivery = delivery
        self.handles = handles
        self._completing = _KeyedLocks()

    # -- inputs -------------------------------------------------------------------------------

    def check_mezzanine(self, key: object) -> str:
        """``key`` if the mezzanine object exists (HEAD on the S3 side), else InvalidInput."""
        key = validate_key(key, what="mezzanine_key")
        try:
            call(self.mezzanine, "head_object", Key=key)
        except NotFound:
            raise InvalidInput(
                "mezzanine object not found (or not readable by the coordinator)",
                code="mezzanine_not_found",
            ) from None
        return key

    def input_urls(
        self, scope: JobScope, *, now: datetime, expires_in: int
    ) -> tuple[list[InputUrls], datetime]:
        """Presigned GET and HEAD for each of the job's mezzanine keys."""
        now = _whole_seconds(now)
        lifetime = self._lifetime(self.mezzanine, scope, now, expires_in)
        urls = []
        for key in scope.mezzanine_keys:
            key = validate_key(key, what="mezzanine key")
            get = self.mezzanine.presign("GET", key, now=now, expires_in=lifetime)
            head = self.mezzanine.presign("HEAD", key, now=now, expires_in=lifetime)
            urls.append(InputUrls(key=key, get_url=get, head_url=head))
        return urls, now + timedelta(seconds=lifetime)

    # -- single PUT outputs -------------------------------------------------------------------

    def output_urls(
        self, scope: JobScope, files: Sequence[OutputFile], *, now: datetime, expires_in: int
    ) -> tuple[list[SignedPut], datetime]:
        """A presigned PUT per file, each bound to its key and content type."""
        now = _whole_seconds(now)
        lifetime = self._lifetime(self.delivery, scope, now, expires_in)
        # Validate every file before signing any: a request gets all its URLs or none.
        checked = [
            (f.path, output_key(scope.output_prefix, f.path), validate_content_type(f.content_type))
            for f in files
        ]
        puts = [
            SignedPut(
                path=path,
                key=key,
                url=self.delivery.presign(
                    "PUT", key, now=now, expires_in=lifetime, content_type=content_type
                ),
                headers={"Content-Type": content_type},
            )
            for path, key, content_type in checked
        ]
        return puts, now + timedelta(seconds=lifetime)

    # -- multipart ----------------------------------------------------------------------------

    def create_multipart(
        self,
        scope: JobScope,
        *,
        path: object,
        size: object,
        content_type: object,
        cache_control: object = None,
        now: datetime,
        expires_in: int,
    ) -> MultipartUpload:
        """Start a multipart upload under the job's prefix and presign its first parts.

        The object's headers are fixed here, when the upload is created (S3 and R2 take them on
        CreateMultipartUpload, not on the parts): Content-Type, and Cache-Control when given.
        """
        now = _whole_seconds(now)
        key = output_key(scope.output_prefix, path)
        plan = plan_multipart(size)
        headers = {"ContentType": validate_content_type(content_type)}
        if cache_control is not None:
            headers["CacheControl"] = validate_cache_control(cache_control)
        lifetime = self._lifetime(self.delivery, scope, now, expires_in)
        answer = call(self.delivery, "create_multipart_upload", Key=key, **headers)
        upload_id = answer.get("UploadId")
        handle = None
        if isinstance(upload_id, str) and UPLOAD_ID.fullmatch(upload_id) is not None:
            handle = self.handles.seal(job_id=scope.job_id, key=key, upload_id=upload_id)
        if upload_id is None or handle is None:
            raise StoreUnavailable("the store returned an upload id this API cannot carry")
        numbers = range(1, min(plan.part_count, MAX_PART_URLS) + 1)
        return MultipartUpload(
            upload_id=handle,
            key=key,
            plan=plan,
            parts=self._part_urls(key, str(upload_id), numbers, now=now, lifetime=lifetime),
            expires_at=now + timedelta(seconds=lifetime),
        )

    def multipart_status(
        self,
        scope: JobScope,
        *,
        upload_id: object,
        path: object,
        size: object,
        now: datetime,
        expires_in: int,
    ) -> MultipartStatus:
        """List the parts stored so far and presign (up to MAX_PART_URLS of) the missing ones.

        A part whose stored size is not what the plan says is counted missing: uploading it
        again replaces it, and R2 would refuse to complete with it.
        """
        now = _whole_seconds(now)
        key = output_key(scope.output_prefix, path)
        handle = validate_upload_id(upload_id)
        store_id = self.handles.open(handle, job_id=scope.job_id, key=key)
        plan = plan_multipart(size)
        lifetime = self._lifetime(self.delivery, scope, now, expires_in)
        uploaded = [
            part
            for part in list_parts(self.delivery, key, store_id)
            if part.part_number <= plan.part_count
            and part.size == plan.part_length(part.part_number)
        ]
        done = {part.part_number for part in uploaded}
        missing = [n for n in range(1, plan.part_count + 1) if n not in done]
        return MultipartStatus(
            upload_id=handle,
            key=key,
            plan=plan,
            uploaded=tuple(uploaded),
            missing_count=len(missing),
            parts=self._part_urls(
                key, store_id, missing[:MAX_PART_URLS], now=now, lifetime=lifetime
            ),
            expires_at=now + timedelta(seconds=lifetime),
        )

    def complete_multipart(
        self,
        scope: JobScope,
        *,
        upload_id: object,
        path: object,
        size: object,
        parts: object,
    ) -> tuple[str, str]:
        """Complete with the worker's ETags: exactly parts 1..N of the plan, in order.

        What is checked, so that no store's behaviour decides what a worker ends up with:

        * before: the stored parts (ListParts) are exactly the plan's, each of the planned size
          and with the ETag the worker names; otherwise ``Conflict`` (409, ``parts_mismatch``)
          naming the parts to upload again, and nothing is completed. A truncated or short
          object cannot be completed, by mistake or on purpose;
        * one complete of an upload at a time in this process (the embedded store assembles
          garbage when completes of one upload race; see docs/coordinator.md);
        * after: the object's size (HEAD) is the declared size and its ETag the one the store
          answered; otherwise ``StoreIntegrity`` (502).

        Completing twice (a retry after a lost answer, or two workers racing) does not complete
        twice: the store no longer knows the upload. If the object at the key is exactly these
        parts (its multipart ETag and size), the answer is ``Conflict`` (409,
        ``already_completed``), so the worker knows its object is safe; otherwise 404.
        """
        key = output_key(scope.output_prefix, path)
        handle = validate_upload_id(upload_id)
        store_id = self.handles.open(handle, job_id=scope.job_id, key=key)
        plan = plan_multipart(size)
        etags = checked_parts(parts, plan.part_count)
        with self._completing.hold(store_id):
            try:
                listed = list_parts(self.delivery, key, store_id)
                stored = {part.part_number: part for part in listed}
                check_stored_parts(plan, etags, stored)
                answer = call(
                    self.delivery,
                    "complete_multipart_upload",
                    Key=key,
                    UploadId=store_id,
                    MultipartUpload={
                        "Parts": [
                            {"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, 1)
                        ]
                    },
                )
            except (NotFound, StoreRefused):
                etag = multipart_etag(etags)
                if etag is not None and self._holds(key, etag=etag, size=plan.size):
                    raise Conflict(
                        f"upload already completed: the object holds exactly these parts ({etag})",
                        code="already_completed",
                    ) from None
                raise
            etag = answer.get("ETag")
            if not isinstance(etag, str) or not etag:
                # An empty or non-S3 200 (a proxy's page, a cut connection after S3's 200 and
                # keep-alive whitespace) parses as {}: not proof of an object. Say 503; the
                # retry completes it or finds it completed (409).
                raise StoreUnavailable(
                    "the store's answer to complete_multipart_upload has no ETag"
                )
            if not self._holds(key, etag=etag.strip('"'), size=plan.size):
                raise StoreIntegrity(
                    f"the store completed the upload but the object at {key!r} is not "
                    f"{plan.size} bytes with ETag {etag}: upload the file again",
                    code="store_integrity",
                )
        return key, etag

    def abort_multipart(self, scope: JobScope, *, upload_id: object, path: object) -> None:
        """Abort the upload; its stored parts are discarded."""
        key = output_key(scope.output_prefix, path)
        store_id = self.handles.open(validate_upload_id(upload_id), job_id=scope.job_id, key=key)
        call(self.delivery, "abort_multipart_upload", Key=key, UploadId=store_id)

    # -- helpers ------------------------------------------------------------------------------

    def _holds(self, key: str, *, etag: str, size: int) -> bool:
        """True if the delivery object at ``key`` has this ETag and size."""
        try:
            head = call(self.delivery, "head_object", Key=key)
        except NotFound:
            return False
        return head.get("ETag", "").strip('"') == etag and head.get("ContentLength") == size

    @staticmethod
    def _lifetime(store: Store, scope: JobScope, now: datetime, expires_in: int) -> int:
        return url_lifetime(
            expires_in,
            now=now,
            scope_expires_at=scope.expires_at,
            credentials=store.credentials,
            store_max=store.max_expires,
        )

    def _part_urls(
        self, key: str, upload_id: str, numbers: Sequence[int], *, now: datetime, lifetime: int
    ) -> tuple[PartUrl, ...]:
        # UploadPart is a PUT with uploadId and partNumber in the query (botocore's order).
        return tuple(
            PartUrl(
                part_number=n,
                url=self.delivery.presign(
                    "PUT",
                    key,
                    now=now,
                    expires_in=lifetime,
                    query={"uploadId": upload_id, "partNumber": str(n)},
                ),
            )
            for n in numbers
        )



class _KeyedLocks:
    """One lock per name, kept only while someone holds or waits for it."""

    __slots__ = ("_guard", "_locks")

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(name, (threading.Lock(), 0))
            self._locks[name] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[name]
                if users == 1:
                    del self._locks[name]
                else:
                    self._locks[name] = (lock, users - 1)


def _whole_seconds(now: datetime) -> datetime:
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.replace(microsecond=0)
