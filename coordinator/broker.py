"""What a job may sign: key rules, expiry caps, multipart plans, and the few store calls.

Everything here is a pure function of its arguments except the multipart and HEAD calls, which
go through the boto3 client a ``Store`` hands out (created lazily by the caller, so importing
this module never imports boto3). Presigning is local CPU work (``sigv4.presign_url``).

Rules a key must follow before anything is signed for it:

* UTF-8, 1 to 1,024 bytes (R2's and S3's limit);
* no control characters (C0, DEL, C1): they break logs, XML listings and HTTP tooling;
* no backslash: Cloudflare's URL normalisation (and Windows tools) turn it into ``/``;
* no leading ``/``, no empty segment (``//``), no ``.`` or ``..`` segment: S3 keys are flat
  strings, but browsers, CDNs and SDKs normalise such paths, and a key that reads differently
  after normalisation could land outside its prefix. The percent-encoded spellings of a dot
  segment (``%2e``, ``.%2e``, ``%2e.``, ``%2e%2e``, any case) count too: the WHATWG URL parser
  treats them as dot segments when a player resolves a manifest's relative URL;
* none of those rules may break once Unicode look-alikes are folded (NFKC): U+2025 (two-dot
  leader) folds to ``..``, U+FF0F (fullwidth solidus) to ``/``, U+FF3C to a backslash. Other
  non-ASCII text (titles in any script) is fine;
* outputs are ``output_prefix + path``, strictly under the prefix, which itself follows the
  rules and ends in ``/``. Percent signs are otherwise literal characters (``..%2F`` is not
  ``../``); the signer encodes them, so they cannot climb out either.

References: https://developers.cloudflare.com/r2/platform/limits/ ,
https://developers.cloudflare.com/r2/objects/multipart-objects/ ,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html ,
https://developers.cloudflare.com/rules/normalization/ , RFC 3986 section 5.2.4,
https://url.spec.whatwg.org/#double-dot-path-segment , UAX #15 (NFKC).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from . import sigv4
from .errors import Conflict, InvalidInput, NotFound, StoreUnavailable
from .tokens import JobScope

__all__ = [
    "MAX_EXPIRES",
    "MAX_KEY_BYTES",
    "MAX_OBJECT_SIZE",
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MAX_PART_URLS",
    "MAX_PUT_SIZE",
    "MIN_PART_SIZE",
    "Broker",
    "InputUrls",
    "MultipartPlan",
    "MultipartStatus",
    "MultipartUpload",
    "OutputFile",
    "PartUrl",
    "SignedPut",
    "Store",
    "UploadedPart",
    "multipart_etag",
    "output_key",
    "plan_multipart",
    "url_lifetime",
    "validate_content_type",
    "validate_key",
    "validate_prefix",
]

MiB = 1024**2
GiB = 1024**3
TiB = 1024**4
MAX_KEY_BYTES = 1024
# R2: "The max upload size is 5 MiB less than 5 GiB" for one PUT and for one part, and "the
# object size limit is 5 GiB less than 5 TiB".
MAX_PUT_SIZE = 5 * GiB - 5 * MiB
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = MAX_PUT_SIZE
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 * TiB - 5 * GiB
MAX_EXPIRES = sigv4.MAX_EXPIRES  # 7 days: SigV4's and R2's ceiling
# Part URLs handed out per response: 10,000 URLs of a long key would exceed Lambda's 6 MB
# response limit. The rest come from the resume listing, which re-presigns missing parts.
MAX_PART_URLS = 1000
_LIST_PARTS_PAGE = 1000  # S3's ListParts page size
_MAX_CONTENT_TYPE = 255

# RFC 9110 media-type: type "/" subtype *( OWS ";" OWS parameter ), parameter values a token or
# a quoted-string. Anything else is refused rather than signed.
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t !#-\[\]-~]|\\[\t -~])*"'
_MEDIA_TYPE = re.compile(rf"{_TCHARS}/{_TCHARS}(?:[ \t]*;[ \t]*{_TCHARS}=(?:{_TCHARS}|{_QUOTED}))*")
# botocore's presigner drops this exact value from the signature, so sigv4 refuses to sign it.
_UNSIGNABLE_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
# An S3 or R2 ETag: hex MD5 (a "-N" suffix for multipart objects), quoted or not.
_ETAG = re.compile(r'"?([0-9A-Za-z_.:+/=-]{1,128})"?')
_MD5_HEX = re.compile(r"[0-9a-fA-F]{32}")
# Upload ids travel as one URL path segment. S3 promises no format; in practice they are
# base64url-like (S3, R2) or UUIDs (MinIO). No '/': it could not round-trip through a route.
_UPLOAD_ID = re.compile(r"[A-Za-z0-9._~=+-]{1,1024}")


# ---------------------------------------------------------------------------------------------
# Keys, prefixes, content types


def _is_control(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or 0x7F <= code <= 0x9F


def _check_key_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} must be a non-empty string", code="invalid_key")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} is not valid UTF-8", code="invalid_key") from None
    if size > MAX_KEY_BYTES:
        raise InvalidInput(f"{what} is longer than {MAX_KEY_BYTES} bytes", code="invalid_key")
    if any(_is_control(ch) for ch in value):
        raise InvalidInput(f"{what} contains a control character", code="invalid_key")
    problem = _path_problem(value)
    if problem is None:
        folded = unicodedata.normalize("NFKC", value)
        if folded != value and _path_problem(folded) is not None:
            problem = "reads as a path with '..', '//' or '\\' once look-alikes are folded (NFKC)"
    if problem is not None:
        raise InvalidInput(f"{what} {problem}", code="invalid_key")
    return value


# WHATWG URL: a single-dot segment is "." or "%2e", a double-dot one "..", ".%2e", "%2e." or
# "%2e%2e", ASCII case-insensitively.
_DOT_SEGMENTS = frozenset({".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"})


def _path_problem(value: str) -> str | None:
    if "\\" in value:
        return "contains a backslash"
    if value.startswith("/"):
        return "starts with '/'"
    if "//" in value:
        return "contains an empty segment ('//')"
    if any(segment.lower() in _DOT_SEGMENTS for segment in value.split("/")):
        return "contains a '.' or '..' segment (or a percent-encoded one)"
    return None


def validate_key(value: object, *, what: str = "key") -> str:
    """``value`` if it is an acceptable object key (see the module docstring), else InvalidInput.

    An object key names an object, not a folder, so it does not end in ``/``.
    """
    key = _check_key_text(value, what)
    if key.endswith("/"):
        raise InvalidInput(f"{what} ends with '/'", code="invalid_key")
    return key


def validate_prefix(value: object, *, what: str = "output_prefix") -> str:
    """``value`` if it is an acceptable key prefix: the key rules, and ending in ``/``."""
    prefix = _check_key_text(value, what)
    if not prefix.endswith("/"):
        raise InvalidInput(f"{what} must end with '/'", code="invalid_key")
    return prefix


def output_key(prefix: str, path: object) -> str:
    """The object key for ``path`` under the job's ``prefix``, strictly inside it."""
    validate_prefix(prefix)
    relative = validate_key(path, what="path")
    key = validate_key(prefix + relative, what="output key")
    if not key.startswith(prefix) or len(key) <= len(prefix):  # belt and braces
        raise InvalidInput("path leaves the job's output prefix", code="out_of_prefix")
    return key


def validate_content_type(value: object) -> str:
    """``value`` if it is a media type we can sign as a header (RFC 9110 syntax, ASCII)."""
    if (
        not isinstance(value, str)
        or len(value) > _MAX_CONTENT_TYPE
        or _MEDIA_TYPE.fullmatch(value) is None
    ):
        raise InvalidInput(
            "content_type must be a media type such as 'video/mp4' (RFC 9110 syntax)",
            code="invalid_content_type",
        )
    if value == _UNSIGNABLE_CONTENT_TYPE:
        raise InvalidInput(
            "this content_type cannot be bound to a presigned URL; drop the charset parameter",
            code="invalid_content_type",
        )
    return value


def _validate_upload_id(value: object) -> str:
    if not isinstance(value, str) or _UPLOAD_ID.fullmatch(value) is None:
        raise InvalidInput("upload_id is malformed", code="invalid_upload_id")
    return value


# ---------------------------------------------------------------------------------------------
# Multipart plans


@dataclass(frozen=True, slots=True)
class MultipartPlan:
    """How an object of ``size`` bytes is cut: equal parts of ``part_size``, a shorter last one.

    R2 needs every part but the last to be the same size (S3 does not, but accepts it).
    """

    size: int
    part_size: int
    part_count: int

    def part_length(self, part_number: int) -> int:
        """Bytes in part ``part_number`` (1-based)."""
        if not 1 <= part_number <= self.part_count:
            raise ValueError(f"part_number {part_number} outside 1..{self.part_count}")
        if part_number < self.part_count:
            return self.part_size
        return self.size - self.part_size * (self.part_count - 1)


def plan_multipart(size: object) -> MultipartPlan:
    """The smallest whole-MiB part size (at least 5 MiB) that fits ``size`` in 10,000 parts."""
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_OBJECT_SIZE:
        raise InvalidInput(
            f"size must be an integer from 1 to {MAX_OBJECT_SIZE} bytes (4.995 TiB)",
            code="invalid_size",
        )
    needed = -(-size // MAX_PARTS)  # ceil: the part size that makes exactly MAX_PARTS parts
    part_size = max(MIN_PART_SIZE, -(-needed // MiB) * MiB)
    if part_size > MAX_PART_SIZE:  # unreachable below MAX_OBJECT_SIZE; kept as a guard
        raise InvalidInput("size needs parts larger than R2 accepts", code="invalid_size")
    return MultipartPlan(size=size, part_size=part_size, part_count=-(-size // part_size))


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
class Store:
    """One object store and bucket the broker signs for, with a lazy boto3 client factory."""

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
class UploadedPart:
    part_number: int
    etag: str
    size: int


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

    __slots__ = ("delivery", "mezzanine")

    def __init__(self, *, mezzanine: Store, delivery: Store) -> None:
        self.mezzanine = mezzanine
        self.delivery = delivery

    # -- inputs -------------------------------------------------------------------------------

    def check_mezzanine(self, key: object) -> str:
        """``key`` if the mezzanine object exists (HEAD on the S3 side), else InvalidInput."""
        key = validate_key(key, what="mezzanine_key")
        try:
            _call(self.mezzanine, "head_object", Key=key)
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
        now: datetime,
        expires_in: int,
    ) -> MultipartUpload:
        """Start a multipart upload under the job's prefix and presign its first parts."""
        now = _whole_seconds(now)
        key = output_key(scope.output_prefix, path)
        plan = plan_multipart(size)
        content_type = validate_content_type(content_type)
        lifetime = self._lifetime(self.delivery, scope, now, expires_in)
        answer = _call(self.delivery, "create_multipart_upload", Key=key, ContentType=content_type)
        upload_id = answer.get("UploadId")
        if not isinstance(upload_id, str) or _UPLOAD_ID.fullmatch(upload_id) is None:
            raise StoreUnavailable("the store returned an upload id this API cannot carry")
        numbers = range(1, min(plan.part_count, MAX_PART_URLS) + 1)
        return MultipartUpload(
            upload_id=upload_id,
            key=key,
            plan=plan,
            parts=self._part_urls(key, upload_id, numbers, now=now, lifetime=lifetime),
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
        upload_id = _validate_upload_id(upload_id)
        plan = plan_multipart(size)
        lifetime = self._lifetime(self.delivery, scope, now, expires_in)
        uploaded = [
            part
            for part in self._list_parts(key, upload_id)
            if part.part_number <= plan.part_count
            and part.size == plan.part_length(part.part_number)
        ]
        done = {part.part_number for part in uploaded}
        missing = [n for n in range(1, plan.part_count + 1) if n not in done]
        return MultipartStatus(
            upload_id=upload_id,
            key=key,
            plan=plan,
            uploaded=tuple(uploaded),
            missing_count=len(missing),
            parts=self._part_urls(
                key, upload_id, missing[:MAX_PART_URLS], now=now, lifetime=lifetime
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

        The count is checked against the declared size so that a worker cannot (by mistake)
        complete a truncated object. Returns the object's key and ETag.

        Completing twice (a retry after a lost answer, or two workers racing) does not complete
        twice: the store no longer knows the upload, or refuses. If the object at the key is
        exactly these parts (its multipart ETag and size), the answer is ``Conflict`` (409,
        ``already_completed``), so the worker knows its object is safe; otherwise the store's
        refusal stands (404, or 503 to retry). A complete that races another one still being
        assembled may hear 404 or 503; its retry hears 409.
        """
        key = output_key(scope.output_prefix, path)
        upload_id = _validate_upload_id(upload_id)
        plan = plan_multipart(size)
        etags = _checked_parts(parts, plan.part_count)
        try:
            answer = _call(
                self.delivery,
                "complete_multipart_upload",
                Key=key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, 1)]
                },
            )
        except (NotFound, _StoreRefused):
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
            # keep-alive whitespace) parses as {}: not proof of an object. Say 503; the retry
            # completes it or finds it completed (409).
            raise StoreUnavailable("the store's answer to complete_multipart_upload has no ETag")
        return key, etag

    def abort_multipart(self, scope: JobScope, *, upload_id: object, path: object) -> None:
        """Abort the upload; its stored parts are discarded."""
        key = output_key(scope.output_prefix, path)
        upload_id = _validate_upload_id(upload_id)
        _call(self.delivery, "abort_multipart_upload", Key=key, UploadId=upload_id)

    # -- helpers ------------------------------------------------------------------------------

    def _holds(self, key: str, *, etag: str, size: int) -> bool:
        """True if the delivery object at ``key`` has this ETag and size."""
        try:
            head = _call(self.delivery, "head_object", Key=key)
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

    def _list_parts(self, key: str, upload_id: str) -> Iterator[UploadedPart]:
        marker = 0
        for _ in range(MAX_PARTS // _LIST_PARTS_PAGE + 1):
            page = _call(
                self.delivery,
                "list_parts",
                Key=key,
                UploadId=upload_id,
                MaxParts=_LIST_PARTS_PAGE,
                PartNumberMarker=marker,
            )
            for part in page.get("Parts", []):
                yield UploadedPart(
                    part_number=int(part["PartNumber"]),
                    etag=str(part["ETag"]),
                    size=int(part["Size"]),
                )
            if not page.get("IsTruncated"):
                return
            marker = int(page.get("NextPartNumberMarker", 0))
        raise StoreUnavailable("the store's part listing does not end")


def _whole_seconds(now: datetime) -> datetime:
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now.replace(microsecond=0)


def multipart_etag(part_etags: Sequence[str]) -> str | None:
    """The ETag S3 and R2 give an object assembled from parts with these (MD5) ETags: the MD5
    of the parts' binary MD5s, ``-`` and the part count; None if an ETag is not an MD5.

    References: https://developers.cloudflare.com/r2/objects/multipart-objects/ (R2 mimics S3
    for uploads created after 2023-06-21).
    """
    digests = []
    for etag in part_etags:
        text = etag.strip('"')
        if _MD5_HEX.fullmatch(text) is None:
            return None
        digests.append(bytes.fromhex(text))
    combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(digests)}"


def _checked_parts(parts: object, expected: int) -> list[str]:
    """The ETags of parts 1..expected, in order, each quoted as S3 wants them."""
    if not isinstance(parts, list) or not parts:
        raise InvalidInput("parts must be a non-empty list", code="invalid_parts")
    if len(parts) != expected:
        raise InvalidInput(
            f"expected {expected} parts for the declared size, got {len(parts)}",
            code="invalid_parts",
        )
    etags = []
    for position, part in enumerate(parts, 1):
        if not isinstance(part, dict):
            raise InvalidInput("each part must be an object", code="invalid_parts")
        number, etag = part.get("part_number"), part.get("etag")
        if number != position or isinstance(number, bool):
            raise InvalidInput(
                f"parts must be listed in order 1..{expected}; position {position} "
                f"has part_number {number!r}",
                code="invalid_parts",
            )
        match = _ETAG.fullmatch(etag) if isinstance(etag, str) else None
        if match is None:
            raise InvalidInput(f"part {position} has a malformed etag", code="invalid_parts")
        etags.append(f'"{match.group(1)}"')
    return etags


# S3 error codes that describe the client's request, not the store's health.
_NOT_FOUND_CODES = frozenset({"NoSuchUpload", "NoSuchKey", "NotFound", "404"})
_CLIENT_CODES = frozenset({"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "EntityTooLarge"})


class _StoreRefused(StoreUnavailable):
    """The store answered with an error of its own (not: it did not answer)."""


def _call(store: Store, operation: str, **params: Any) -> Mapping[str, Any]:
    """``client.<operation>(Bucket=..., **params)``, with the store's failures mapped."""
    # botocore is already imported once a client exists; importing here keeps it off the
    # module's import path (cold start).
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = store.client()
        return getattr(client, operation)(Bucket=store.bucket, **params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        # A HEAD of a missing key is a 403 when the signer may not list the bucket.
        hidden_missing = operation == "head_object" and status == 403
        if code in _NOT_FOUND_CODES or status == 404 or hidden_missing:
            message = _NOT_FOUND_MESSAGES.get(operation, "not found")
            raise NotFound(message, code="not_found") from None
        if code in _CLIENT_CODES:
            message = f"the store refused the parts ({code})"
            raise InvalidInput(message, code="invalid_parts") from None
        message = f"the object store refused {operation} ({code or status})"
        raise _StoreRefused(message) from None
    except BotoCoreError:
        raise StoreUnavailable(f"the object store did not answer {operation}") from None


_NOT_FOUND_MESSAGES = {
    "head_object": "object not found",
    "list_parts": "no such multipart upload for this path",
    "complete_multipart_upload": "no such multipart upload for this path",
    "abort_multipart_upload": "no such multipart upload for this path",
}
