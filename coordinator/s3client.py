"""The few S3 calls the broker makes over the network, signed by ``coordinator.sigv4`` and sent
over ``coordinator.httppool``: no boto3 on the request path.

``S3Client`` has the broker's five operations with boto3's names, parameters and answer keys
(``head_object``, ``create_multipart_upload``, ``list_parts``, ``complete_multipart_upload``,
``abort_multipart_upload``), so it is measured against boto3 call for call
(``bench/store_client.py``: about 10x less CPU a call, and no 200 ms import). Each request is
signed in its Authorization header with the payload's SHA-256 (``x-amz-content-sha256``; the
empty body's for all but CompleteMultipartUpload), and never carries a checksum header (R2
answered 501 to the CRC32 headers boto3 >= 1.36 sends by default).

Failures are exceptions of this module, mapped to the coordinator's errors in ``store.call``:
``S3Error`` (the store answered an error), ``httppool.TransportError`` (no answer;
``BudgetExceeded`` when the request's deadline ended it) and ``BadAnswer`` (an answer that
cannot be read: a value that is not one, XML with a DOCTYPE, more than ``MAX_ANSWER_BYTES``).

Attempts: ``MAX_ATTEMPTS`` in all (one retry) on a connection error, a read timeout, a 5xx, a
throttling code (SlowDown) or a 200 that is not the document asked for (S3 may send an error
inside a 200 to CompleteMultipartUpload; botocore reads these as 500s too), with one backoff of
at most 1 s (full jitter) that must fit in the deadline. A silent store costs ``MAX_ATTEMPTS``
x ``READ_TIMEOUT`` plus the backoff, and never more than the request's budget
(``store.store_budget``), which bounds every read (not each read: a store that drips bytes is
cut too).

References: https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html ,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html (an error in
a 200), https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html (standard
retries, full-jitter backoff), botocore/handlers.py ``_handle_200_error``,
https://github.com/boto/botocore/pull/3277 (default checksums), cloudflare-docs PR 19236.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from . import sigv4
from .httppool import AnswerTooLarge, BudgetExceeded, Pool, Response, TransportError
from .sigv4 import Credentials

__all__ = [
    "CONNECT_TIMEOUT",
    "DEADLINE",
    "MAX_ANSWER_BYTES",
    "MAX_ATTEMPTS",
    "READ_TIMEOUT",
    "RETRY_CODES",
    "RETRY_STATUSES",
    "BadAnswer",
    "BudgetExceeded",
    "Element",
    "HostileDocument",
    "LazyClient",
    "S3Client",
    "S3Error",
    "SigningError",
    "TransportError",
    "backoff_seconds",
    "make_client",
    "parse_xml",
    "random_fraction",
]

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
MAX_ATTEMPTS = 2  # in all, the first try included: one retry
MAX_BACKOFF = 1.0  # seconds, the most the one backoff waits
# A ListParts page of 1,000 parts is about 200 KB; nothing the broker reads is larger.
MAX_ANSWER_BYTES = 1 << 20

# When the request's store calls must be done (time.monotonic()); set by store.store_budget.
DEADLINE: ContextVar[float | None] = ContextVar("store_deadline", default=None)

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_USER_AGENT = "r2-video-coordinator"
# botocore's standard retry mode: transient and throttling error codes.
RETRY_CODES = frozenset(
    {
        "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete", "SlowDown",
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "RequestLimitExceeded", "BandwidthLimitExceeded",
        "RequestThrottled", "InternalError",
    }
)  # fmt: skip
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def backoff_seconds(attempt: int, jitter: Callable[[], float]) -> float:
    """The wait before ``attempt`` (2, 3...): full jitter, ``jitter() * min(1 s, 2^(n-2) s)``."""
    return jitter() * min(MAX_BACKOFF, 2.0 ** (attempt - 2))


def random_fraction() -> float:
    """A random number in [0, 1) from os.urandom (the random module costs a cold start more)."""
    return int.from_bytes(os.urandom(4)) / 2**32


class S3Error(Exception):
    """The store answered with an error: its status, S3 code (the status as text when the
    answer has no body, as for a HEAD) and headers (the store's Date tells of clock skew)."""

    def __init__(self, status: int, code: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"{status} {code}")
        self.status = status
        self.code = code
        self.headers = headers


class SigningError(Exception):
    """The request cannot be signed (credentials expired, a header that is not ASCII)."""


class BadAnswer(Exception):
    """An answer this client will not read: malformed values, a DOCTYPE, too large."""


# -- XML, read safely --------------------------------------------------------------------------


class Element:
    """An element of a store's answer: local name, text, child elements (what S3 answers hold:
    no attributes, no mixed content)."""

    __slots__ = ("children", "name", "text")

    def __init__(self, name: str) -> None:
        self.name = name
        self.text = ""
        self.children: list[Element] = []

    def __iter__(self) -> Iterator[Element]:
        return iter(self.children)

    def fields(self) -> dict[str, str]:
        """The leaf children's texts, by local name."""
        return {child.name: child.text for child in self.children if not child.children}


class HostileDocument(BadAnswer):
    """An XML answer with a DOCTYPE or an entity declaration: refused, never retried."""


def _refuse(*_: object) -> None:
    raise HostileDocument("the answer declares a DOCTYPE or an entity (refused, never expanded)")


def parse_xml(body: bytes) -> Element:
    """The root element of a store's XML answer, read with expat directly (no tree library):
    a DOCTYPE or an entity declaration is refused (BadAnswer) the moment expat meets it,
    whatever encoding the document declares, so no entity is ever expanded (no billion
    laughs, no external entity). Size is bounded before (``MAX_ANSWER_BYTES``, in httppool).

    References: https://docs.python.org/3/library/xml.html#xml-vulnerabilities ,
    https://github.com/tiran/defusedxml (the same handlers: DTDs and entities refused).
    """
    from xml.parsers import expat

    parser = expat.ParserCreate(namespace_separator="}")
    stack: list[Element] = []
    roots: list[Element] = []

    def start(name: str, _attributes: object) -> None:
        element = Element(name.rpartition("}")[2])
        (stack[-1].children if stack else roots).append(element)
        stack.append(element)

    def end(_name: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if stack:
            stack[-1].text += data

    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.buffer_text = True
    try:
        parser.Parse(body, True)
    except expat.ExpatError:
        raise BadAnswer("the answer is not well-formed XML") from None
    if len(roots) != 1:
        raise BadAnswer("the answer is not one XML document")
    return roots[0]


def _int(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise BadAnswer(f"{name} is not an integer") from None
    if number < 0:
        raise BadAnswer(f"{name} is negative")
    return number


def _bool(value: str, name: str) -> bool:
    if value in ("true", "false"):
        return value == "true"
    raise BadAnswer(f"{name} is not true or false")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- the client ----------------------------------------------------------------------------------


class S3Client:
    """S3's multipart and HEAD calls for one endpoint, thread-safe, connections pooled.

    Methods take boto3's keyword names (``Bucket``, ``Key``, ``UploadId``...) and answer dicts
    with boto3's keys, for what the broker reads. ``sleep`` and ``jitter`` are injectable for
    tests (the backoff).
    """

    def __init__(
        self,
        *,
        endpoint: str,
        region: str,
        credentials: Credentials,
        addressing_style: Literal["path", "virtual"] = "path",
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random_fraction,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        sigv4.check_target(endpoint, "bucket-name", region=region)
        self.endpoint = endpoint
        self.region = region
        self._credentials = credentials
        self._addressing_style: Literal["path", "virtual"] = addressing_style
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._jitter = jitter
        self._pools: dict[str, Pool] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Client(endpoint={self.endpoint!r}, region={self.region!r})"

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    # -- the operations ---------------------------------------------------------------------

    def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        response, _ = self._send("HEAD", Bucket, Key, {})
        headers = response.headers
        answer: dict[str, Any] = {
            "ContentLength": _int(headers.get("content-length", ""), "Content-Length")
        }
        if "etag" in headers:
            answer["ETag"] = headers["etag"]
        if "content-type" in headers:
            answer["ContentType"] = headers["content-type"]
        if "last-modified" in headers:
            answer["LastModified"] = _http_date(headers["last-modified"])
        return answer

    def create_multipart_upload(
        self,
        *,
        Bucket: str,
        Key: str,
        ContentType: str | None = None,
        CacheControl: str | None = None,
    ) -> dict[str, Any]:
        headers = {}
        if ContentType is not None:
            headers["Content-Type"] = ContentType
        if CacheControl is not None:
            headers["Cache-Control"] = CacheControl
        root = self._document("POST", Bucket, Key, {"uploads": ""}, headers=headers)
        if root.name != "InitiateMultipartUploadResult":
            return {}  # not the answer: it carries no upload id (the broker says 503)
        return _pick(root.fields(), "Bucket", "Key", "UploadId")

    def list_parts(
        self,
        *,
        Bucket: str,
        Key: str,
        UploadId: str,
        MaxParts: int | None = None,
        PartNumberMarker: int | None = None,
    ) -> dict[str, Any]:
        query = {"uploadId": UploadId}
        if MaxParts is not None:
            query["max-parts"] = str(MaxParts)
        if PartNumberMarker is not None:
            query["part-number-marker"] = str(PartNumberMarker)
        root = self._document("GET", Bucket, Key, query)
        if root.name != "ListPartsResult":
            return {}  # not a listing (store.list_parts says 503)
        fields = root.fields()
        answer: dict[str, Any] = _pick(fields, "Bucket", "Key", "UploadId")
        if "IsTruncated" in fields:
            answer["IsTruncated"] = _bool(fields["IsTruncated"], "IsTruncated")
        for name in ("NextPartNumberMarker", "PartNumberMarker", "MaxParts"):
            if fields.get(name):
                answer[name] = _int(fields[name], name)
        parts = []
        for element in root:
            if element.name != "Part":
                continue
            part: dict[str, Any] = {}
            for name, value in element.fields().items():
                if name in ("PartNumber", "Size"):
                    part[name] = _int(value, name)
                elif name == "ETag":
                    part[name] = value
            parts.append(part)
        if parts:
            answer["Parts"] = parts
        return answer

    def complete_multipart_upload(
        self,
        *,
        Bucket: str,
        Key: str,
        UploadId: str,
        MultipartUpload: Mapping[str, Any],
    ) -> dict[str, Any]:
        parts = "".join(
            f"<Part><ETag>{_escape(str(part['ETag']))}</ETag>"
            f"<PartNumber>{int(part['PartNumber'])}</PartNumber></Part>"
            for part in MultipartUpload["Parts"]
        )
        body = f'<CompleteMultipartUpload xmlns="{_S3_NS}">{parts}</CompleteMultipartUpload>'
        root = self._document(
            "POST", Bucket, Key, {"uploadId": UploadId}, body=body.encode("utf-8")
        )
        if root.name != "CompleteMultipartUploadResult":
            return {}  # no ETag: not proof of an object (the broker says 503)
        return _pick(root.fields(), "Location", "Bucket", "Key", "ETag")

    def abort_multipart_upload(
        self,
        *,
        Bucket: str,
        Key: str,
        UploadId: str,
    ) -> dict[str, Any]:
        self._send("DELETE", Bucket, Key, {"uploadId": UploadId})
        return {}

    # -- sending ----------------------------------------------------------------------------

    def _document(
        self,
        method: str,
        bucket: str,
        key: str,
        query: Mapping[str, str],
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> Element:
        """The XML document a 2xx answer carries; a 200 without one (empty, not XML, or an
        S3 <Error>) is retried like a 500, then raised as an S3Error."""
        _, root = self._send(method, bucket, key, query, headers=headers, body=body, document=True)
        assert root is not None  # _send answers a document or raises
        return root

    def _send(
        self,
        method: str,
        bucket: str,
        key: str,
        query: Mapping[str, str],
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        document: bool = False,
    ) -> tuple[Response, Element | None]:
        """One call, retried as the module docstring says: the answer, and its XML root when
        ``document`` (a 2xx that must carry one)."""
        url_prefix, uri_prefix, host = sigv4.request_target(
            self.endpoint, bucket, region=self.region, addressing_style=self._addressing_style
        )
        if not key:
            raise ValueError("key must not be empty")
        encoded_key = sigv4.encode_key(key)
        path = f"{uri_prefix}{encoded_key}"
        encode = sigv4.encode_query
        pairs = [(encode(name), encode(value)) for name, value in query.items()]
        canonical_query = sigv4.canonical_query_string(pairs)
        # botocore writes a valueless subresource as "?uploads"; both are signed "uploads=".
        target = (
            path
            if not pairs
            else path
            + "?"
            + "&".join([f"{name}={value}" if value else name for name, value in pairs])
        )
        payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        pool = self._pool(url_prefix)
        deadline = DEADLINE.get()
        last: Exception | None = None
        for attempt in range(1, self._max_attempts + 1):
            if attempt > 1:
                pause = backoff_seconds(attempt, self._jitter)
                if deadline is not None and time.monotonic() + pause >= deadline:
                    break  # no time to try again: the last failure stands
                self._sleep(pause)
            try:
                signed = sigv4.sign_headers(
                    method,
                    host=host,
                    path=path,
                    query=canonical_query,
                    headers={**(headers or {}), "x-amz-content-sha256": payload_hash},
                    payload_hash=payload_hash,
                    credentials=self._credentials,
                    region=self.region,
                    service="s3",
                    now=datetime.now(UTC),
                )
            except ValueError as exc:
                raise SigningError(str(exc)) from None
            signed["User-Agent"] = _USER_AGENT
            try:
                response = pool.request(
                    method,
                    target,
                    signed,
                    body,
                    connect_timeout=self._connect_timeout,
                    read_timeout=self._read_timeout,
                    deadline=deadline,
                    max_body=MAX_ANSWER_BYTES,
                )
            except BudgetExceeded:
                raise
            except AnswerTooLarge as exc:
                raise BadAnswer(str(exc)) from None
            except TransportError as exc:
                last = exc
                continue
            if response.status < 300:
                if not document:
                    return response, None
                root = _document_of(response)
                if root is not None:
                    return response, root
                error = S3Error(500, _error_code(response) or "InvalidAnswer", response.headers)
            else:
                error = S3Error(response.status, _error_code(response), response.headers)
            if not (error.status in RETRY_STATUSES or error.code in RETRY_CODES):
                raise error
            last = error
        assert last is not None  # the loop ran at least once
        raise last

    def _pool(self, url_prefix: str) -> Pool:
        pool = self._pools.get(url_prefix)
        if pool is None:
            with self._lock:
                pool = self._pools.get(url_prefix)
                if pool is None:
                    parts = urlsplit(url_prefix)
                    port = parts.port or (443 if parts.scheme == "https" else 80)
                    pool = Pool(parts.scheme, parts.hostname or "", port)
                    self._pools[url_prefix] = pool
        return pool


def _pick(fields: Mapping[str, str], *names: str) -> dict[str, Any]:
    return {name: fields[name] for name in names if name in fields}


def _document_of(response: Response) -> Element | None:
    """The answer's root element, or None when a 200 is empty, not XML or an <Error>."""
    if not response.body.strip():
        return None
    try:
        root = parse_xml(response.body)
    except HostileDocument:
        raise  # refused, not retried
    except BadAnswer:
        return None
    return None if root.name == "Error" else root


def _error_code(response: Response) -> str:
    """The S3 error code of an answer (its status as text when it has no readable <Error>)."""
    if response.body.strip():
        try:
            root = parse_xml(response.body)
        except BadAnswer:
            return str(response.status)
        if root.name == "Error":
            code = root.fields().get("Code")
            if code:
                return code
    return str(response.status)


def _http_date(value: str) -> datetime:
    from email.utils import parsedate_to_datetime

    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise BadAnswer("Last-Modified is not an HTTP date") from None
    if moment.tzinfo is None:
        raise BadAnswer("Last-Modified has no time zone")
    return moment


class LazyClient:
    """Calling it returns one ``S3Client``, built on the first call (thread-safe)."""

    __slots__ = ("_client", "_lock", "_options")

    def __init__(self, **options: Any) -> None:
        """``options`` go to ``S3Client`` (endpoint, region, credentials, timeouts, attempts)."""
        self._options = options
        self._client: S3Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"LazyClient(endpoint={self._options.get('endpoint')!r}, "
            f"region={self._options.get('region')!r})"
        )

    def __call__(self) -> S3Client:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = S3Client(**self._options)
                client = self._client
        return client


def make_client(
    *,
    endpoint: str,
    region: str,
    credentials: Credentials,
    addressing_style: Literal["path", "virtual"] = "path",
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    max_attempts: int = MAX_ATTEMPTS,
) -> Any:
    """A boto3 S3 client configured as R2 needs (imports boto3 now): for the tests, the demo
    and the benches, which set up and read back objects; the coordinator does not use it.

    SigV4 only, checksums only when an operation requires them (boto3 >= 1.36 otherwise sends
    CRC32 headers that R2 answered with 501), explicit addressing style, ``max_attempts`` in
    all (botocore's ``max_attempts`` counts retries, ``total_max_attempts`` the first try too).

    References: https://developers.cloudflare.com/r2/examples/aws/boto3/ ,
    https://github.com/boto/boto3/issues/2680 (SigV2 unless told s3v4).
    """
    from boto3.session import Session
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": addressing_style},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )
    # A session of its own: boto3's default session is shared mutable state.
    session = Session()
    return session.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.session_token,
        config=config,
    )
