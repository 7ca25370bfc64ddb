"""Fast SigV4 query-string presigner for S3 and R2, byte-identical to botocore's, and the
header signer (``sign_headers``) for the few calls the coordinator makes itself.

botocore's ``generate_presigned_url`` spends most of its time in machinery (events, endpoint
rules, request objects, re-deriving the signing key on every call). The signature itself is a
few string joins, one SHA-256 and one HMAC once the signing key is cached. This module does just
that, with pure functions named after the steps of the spec, the clock passed in, and the
standard library only (it is on the Lambda cold-start path: no boto3/botocore here).

For the same inputs and clock, ``presign_url`` returns exactly the string that botocore 1.44's
``generate_presigned_url`` returns for get_object, head_object, put_object (with and without
ContentType), delete_object and upload_part (tests/coordinator/test_sigv4.py checks this).
Inputs botocore would treat specially (S3 Express bucket names, virtual-hosted style that
botocore silently turns into path style) are refused with ValueError rather than signed
differently.

References: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html,
botocore/auth.py (SigV4Auth, SigV4QueryAuth, S3SigV4QueryAuth).
"""

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
TERMINATION_STRING = "aws4_request"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

MIN_EXPIRES = 1
MAX_EXPIRES = 604800  # 7 days, SigV4 and R2 limit

METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})

# botocore.utils.percent_encode's SAFE_CHARS, used for every query name and value.
_QUERY_SAFE = "-_.~"
# botocore's rest serializer encodes the greedy {Key+} label with safe="/~".
_KEY_SAFE = "/~"
_PERCENT = tuple(f"%{byte:02X}" for byte in range(256))
# botocore's query signer drops a content-type equal to this (its own form default), so a
# URL "signed" with it would not bind the content type: refused instead.
_BOTOCORE_DROPPED_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
_DEFAULT_PORTS = {"http": 80, "https": 443}

# Bucket names: 3..63 of [a-z0-9.-], starting and ending with a letter or digit. Virtual-hosted
# style also needs a single DNS label (for dotted names botocore uses path style over https
# and a dotted host over http: refused rather than guessed).
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_DNS_LABEL_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
# S3 Express directory-bucket suffixes: botocore's endpoint rules address (and sign) these
# differently, whatever the addressing style.
_SPECIAL_BUCKET_SUFFIXES = ("--x-s3", "--xa-s3")
_IPV4_RE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_SCOPE_PART_RE = re.compile(r"[a-z0-9-]+")
_HEADER_VALUE_RE = re.compile(r"[\t\x20-\x7e]*")


@dataclass(frozen=True, slots=True)
class Credentials:
    """An access key pair, with a session token for temporary credentials.

    The secret and the token never appear in ``repr()``. ``expires_at`` (timezone-aware) is set
    for temporary credentials, e.g. a Lambda role's; ``presign_url`` refuses to sign with
    credentials that have expired, and a presigned URL stops working when they expire,
    whatever its ``X-Amz-Expires`` says.

    References: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
    """

    access_key: str
    secret_key: str = field(repr=False)  # never printed
    session_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None  # set for temporary credentials (e.g. a Lambda role)

    def __post_init__(self) -> None:
        if not self.access_key or "/" in self.access_key or not self.access_key.isprintable():
            raise ValueError("Credentials.access_key must be non-empty printable text without '/'")
        if not self.secret_key:
            raise ValueError("Credentials.secret_key must be non-empty")
        if self.session_token is not None and not self.session_token:
            raise ValueError("Credentials.session_token must be None or non-empty")
        if self.expires_at is not None and self.expires_at.utcoffset() is None:
            raise ValueError("Credentials.expires_at must be a timezone-aware datetime")


_QUERY_RUN = re.compile(r"[^A-Za-z0-9_.~-]+")  # runs of bytes to encode in a query
_KEY_RUN = re.compile(r"[^A-Za-z0-9_.~/-]+")  # runs of bytes to encode in an S3 key's path


@lru_cache(maxsize=8)
def _unreserved_run(safe: str) -> re.Pattern[str]:
    return re.compile(f"[^A-Za-z0-9_.~{re.escape(safe)}-]+")


def _percent_encode_run(match: re.Match[str]) -> str:
    return "".join([_PERCENT[byte] for byte in match.group().encode("utf-8")])


def uri_encode(value: str, safe: str) -> str:
    """UTF-8 percent-encode ``value``, leaving letters, digits, ``-_.~`` and ``safe`` as is.

    Same output as ``urllib.parse.quote(value, safe=safe)`` (which botocore uses) for ASCII
    ``safe``, in about half the time for typical object keys.

    References: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
    (UriEncode), botocore/utils.py percent_encode.
    """
    # "URI encode every byte except the unreserved characters: 'A'-'Z', 'a'-'z', '0'-'9',
    # '-', '.', '_', and '~'." (and '/' in an S3 object key's path).
    if value.isascii() and value.isalnum():  # nothing to encode (part numbers, many ids)
        return value
    pattern = _QUERY_RUN if safe == _QUERY_SAFE else _KEY_RUN if safe == _KEY_SAFE else None
    try:
        return (pattern or _unreserved_run(safe)).sub(_percent_encode_run, value)
    except UnicodeEncodeError as exc:
        raise ValueError(f"cannot UTF-8 encode {value!r} for a URL: {exc.reason}") from None


@lru_cache(maxsize=256)
def _encoded_auth_value(value: str) -> str:
    """Query-encode values that repeat across calls: credential (per day), session token."""
    return uri_encode(value, _QUERY_SAFE)


def canonical_query_string(encoded_params: Iterable[tuple[str, str]]) -> str:
    """Join already URI-encoded (name, value) pairs in canonical order.

    References: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html,
    botocore/auth.py SigV4Auth._canonical_query_string_url.
    """
    # "Sort the parameter names by character code point in ascending order. Parameters with
    # duplicate names should be sorted by value." botocore sorts (name, value) tuples of the
    # encoded strings, which is not the same as sorting the joined "name=value" strings.
    return "&".join([f"{name}={value}" for name, value in sorted(encoded_params)])


def signed_headers(headers: Mapping[str, str]) -> str:
    """The SignedHeaders list: lowercase header names, sorted, joined by ``;``.

    References: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
    """
    return ";".join(sorted([name.lower() for name in headers]))


def canonical_request(
    method: str,
    canonical_uri: str,
    canonical_query: str,
    headers: Mapping[str, str],
    payload_hash: str = UNSIGNED_PAYLOAD,
) -> str:
    """The canonical request: method, URI, query, headers, signed headers, payload hash.

    ``canonical_uri`` is used as given: for S3 it is the URL's path, encoded once and not
    normalised. ``headers`` maps header names to values.

    References: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html,
    botocore/auth.py SigV4Auth.canonical_request.
    """
    # "CanonicalHeaders: Lowercase(<HeaderName>) + ':' + Trim(<value>) + '\n'", sorted by
    # name; botocore's Trimall also collapses inner runs of whitespace to one space.
    lowered = sorted([(name.lower(), " ".join(value.split())) for name, value in headers.items()])
    return _canonical_request(
        method,
        canonical_uri,
        canonical_query,
        "".join([f"{name}:{value}\n" for name, value in lowered]),
        ";".join([name for name, _ in lowered]),
        payload_hash,
    )


def _canonical_request(
    method: str,
    canonical_uri: str,
    canonical_query: str,
    canonical_headers: str,
    signed_headers: str,
    payload_hash: str = UNSIGNED_PAYLOAD,
) -> str:
    # "CanonicalRequest = HTTPMethod + '\n' + CanonicalURI + '\n' + CanonicalQueryString + '\n'
    #  + CanonicalHeaders + '\n' + SignedHeaders + '\n' + HashedPayload"
    return (
        f"{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n"
        f"{signed_headers}\n{payload_hash}"
    )


def credential_scope(datestamp: str, region: str, service: str) -> str:
    """The credential scope ``<yyyymmdd>/<region>/<service>/aws4_request``.

    References: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
    """
    return f"{datestamp}/{region}/{service}/{TERMINATION_STRING}"


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    """The string to sign for ``canonical_request`` at ``amz_date`` (yyyymmddThhmmssZ).

    References: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html,
    botocore/auth.py SigV4Auth.string_to_sign.
    """
    # "StringToSign = Algorithm + '\n' + RequestDateTime + '\n' + CredentialScope + '\n'
    #  + HashedCanonicalRequest", HashedCanonicalRequest = Lowercase(HexEncode(SHA256(CR))).
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


@lru_cache(maxsize=128)
def signing_key(secret_key: str, datestamp: str, region: str, service: str) -> bytes:
    """The derived signing key, cached per (secret, date, region, service).

    References: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html,
    botocore/auth.py SigV4Auth.signature.
    """
    # "DateKey = HMAC-SHA256("AWS4"+"<SecretAccessKey>", "<YYYYMMDD>")
    #  DateRegionKey = HMAC-SHA256(<DateKey>, "<aws-region>")
    #  DateRegionServiceKey = HMAC-SHA256(<DateRegionKey>, "<aws-service>")
    #  SigningKey = HMAC-SHA256(<DateRegionServiceKey>, "aws4_request")"
    key = hmac.digest(f"AWS4{secret_key}".encode(), datestamp.encode(), "sha256")
    key = hmac.digest(key, region.encode(), "sha256")
    key = hmac.digest(key, service.encode(), "sha256")
    return hmac.digest(key, TERMINATION_STRING.encode(), "sha256")


def signature(key: bytes, string_to_sign: str) -> str:
    """The hex signature of ``string_to_sign`` with a derived signing key.

    References: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
    """
    # "signature = hex(HMAC-SHA256(SigningKey, StringToSign))"
    return hmac.digest(key, string_to_sign.encode("utf-8"), "sha256").hex()


@lru_cache(maxsize=32)
def _endpoint(endpoint: str) -> tuple[str, str, str, bool]:
    """(scheme, netloc as written, host header value, host is an IP literal)."""
    if not endpoint.isascii() or any(ch <= " " or ch == "\x7f" for ch in endpoint):
        raise ValueError(f"endpoint must be printable ASCII without spaces: {endpoint!r}")
    parts = urlsplit(endpoint)
    if (
        parts.scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or "@" in parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or endpoint.endswith(("?", "#"))
    ):
        raise ValueError(
            f"endpoint must be scheme://host[:port] with scheme http or https, got {endpoint!r}"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"endpoint has an invalid port: {endpoint!r}") from None
    ipv6 = "[" in parts.netloc
    # botocore's _host_from_url: "is lowercase", "excludes port, if it was the default port".
    host = f"[{parts.hostname}]" if ipv6 else parts.hostname
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    is_ip = ipv6 or _IPV4_RE.fullmatch(parts.hostname) is not None
    return parts.scheme, parts.netloc, host, is_ip


def _check_expires(expires_in: int) -> None:
    if not isinstance(expires_in, int) or isinstance(expires_in, bool):
        raise TypeError(f"expires_in must be an int number of seconds, got {expires_in!r}")
    if not MIN_EXPIRES <= expires_in <= MAX_EXPIRES:
        raise ValueError(
            f"expires_in must be between {MIN_EXPIRES} and {MAX_EXPIRES} seconds "
            f"(7 days, the SigV4 and R2 limit), got {expires_in}"
        )


def _check_bucket(bucket: str, addressing_style: str, endpoint_is_ip: bool) -> None:
    if not _BUCKET_RE.fullmatch(bucket):
        raise ValueError(
            "bucket must be 3-63 characters of a-z, 0-9, '.' and '-', starting and ending "
            f"with a letter or digit, got {bucket!r}"
        )
    if bucket.endswith(_SPECIAL_BUCKET_SUFFIXES):
        raise ValueError(
            f"bucket {bucket!r} has an S3 Express directory-bucket suffix, which botocore "
            "addresses and signs differently; not supported here"
        )
    if addressing_style == "virtual":
        if endpoint_is_ip:
            raise ValueError(
                "virtual-hosted addressing needs a DNS hostname endpoint, not an IP address "
                "(botocore falls back to path style there); use addressing_style='path'"
            )
        if not _DNS_LABEL_BUCKET_RE.fullmatch(bucket):
            raise ValueError(
                f"virtual-hosted addressing needs a bucket name without dots, got {bucket!r} "
                "(botocore would not address it as asked); use addressing_style='path'"
            )
    elif addressing_style != "path":
        raise ValueError(f"addressing_style must be 'path' or 'virtual', got {addressing_style!r}")


def _check_content_type(method: str, content_type: str) -> None:
    if method != "PUT":
        raise ValueError(f"content_type can only be signed for PUT, not {method}")
    if not _HEADER_VALUE_RE.fullmatch(content_type):
        raise ValueError(
            f"content_type must be printable ASCII (an HTTP header value), got {content_type!r}"
        )
    if content_type == _BOTOCORE_DROPPED_CONTENT_TYPE:
        raise ValueError(
            f"content_type {content_type!r} is dropped from the signature by botocore's "
            "presigner, so it could not be enforced; use another content type"
        )


_AUTH_PREFIX = "X-Amz-"
_LAST_AMZ_DATE: tuple[tuple[int, int, int, int, int, int], str] = ((0, 0, 0, 0, 0, 0), "")


def _amz_date(now: datetime) -> str:
    """``now`` (UTC) as yyyymmddThhmmssZ, formatted once per second of the clock."""
    # Formatting costs several times reading the fields; URLs signed in a batch share `now`,
    # and URLs signed one by one mostly share its second. One slot, replaced whole (no lock).
    global _LAST_AMZ_DATE
    fields = (now.second, now.minute, now.hour, now.day, now.month, now.year)
    last_fields, last_text = _LAST_AMZ_DATE
    if fields == last_fields:
        return last_text
    second, minute, hour, day, month, year = fields
    text = f"{year:04d}{month:02d}{day:02d}T{hour:02d}{minute:02d}{second:02d}Z"
    _LAST_AMZ_DATE = (fields, text)
    return text


@lru_cache(maxsize=64)
def _target(
    endpoint: str, bucket: str, addressing_style: str, region: str, service: str
) -> tuple[str, str, str]:
    """(URL up to the key, canonical URI up to the key, host header): checked once per store."""
    if not _SCOPE_PART_RE.fullmatch(region):
        raise ValueError(f"region must be lowercase letters, digits and '-', got {region!r}")
    if not _SCOPE_PART_RE.fullmatch(service):
        raise ValueError(f"service must be lowercase letters, digits and '-', got {service!r}")
    scheme, netloc, host, endpoint_is_ip = _endpoint(endpoint)
    _check_bucket(bucket, addressing_style, endpoint_is_ip)
    if addressing_style == "virtual":
        return f"{scheme}://{bucket}.{netloc}/", "/", f"{bucket}.{host}"
    return f"{scheme}://{netloc}/{bucket}/", f"/{bucket}/", host


@lru_cache(maxsize=64)
def _content_type_value(method: str, content_type: str) -> str:
    """The checked, trimmed Content-Type header value (a handful of types repeat)."""
    _check_content_type(method, content_type)
    return " ".join(content_type.split())


@lru_cache(maxsize=64)
def _encoded_query_name(name: str) -> str:
    """An operation parameter's name, checked and encoded (uploadId, partNumber, ...)."""
    if not name or name.lower().startswith("x-amz-"):
        raise ValueError(f"query parameter name {name!r} is empty or reserved (X-Amz-*)")
    return uri_encode(name, _QUERY_SAFE)


@lru_cache(maxsize=256)
def _encoded_query_value(value: str) -> str:
    """An operation parameter's value: an upload id repeats for each of its parts."""
    return uri_encode(value, _QUERY_SAFE)


@lru_cache(maxsize=256)
def _encoded_key(key: str) -> str:
    """An object key, encoded for the path: a multipart key repeats for each of its parts."""
    return uri_encode(key, _KEY_SAFE)


@lru_cache(maxsize=64)
def _auth_params(
    access_key: str, session_token: str | None, datestamp: str, region: str, service: str
) -> tuple[str, str, str | None]:
    """(scope, the auth query up to X-Amz-Date's value, encoded token): fixed for a day."""
    scope = credential_scope(datestamp, region, service)
    head = (
        f"X-Amz-Algorithm={ALGORITHM}"
        f"&X-Amz-Credential={uri_encode(f'{access_key}/{scope}', _QUERY_SAFE)}&X-Amz-Date="
    )
    token = None if session_token is None else uri_encode(session_token, _QUERY_SAFE)
    return scope, head, token


def check_target(
    endpoint: str,
    bucket: str,
    *,
    region: str,
    addressing_style: Literal["path", "virtual"] = "path",
    service: str = "s3",
) -> None:
    """Raise ValueError when ``presign_url`` could never sign for this bucket at this endpoint
    (the same checks, made once when a store is configured instead of on every request)."""
    _target(endpoint, bucket, addressing_style, region, service)


def request_target(
    endpoint: str,
    bucket: str,
    *,
    region: str,
    addressing_style: Literal["path", "virtual"] = "path",
    service: str = "s3",
) -> tuple[str, str, str]:
    """(URL up to the key, canonical URI up to the key, Host header) for a bucket, checked as
    ``presign_url`` checks them (ValueError), cached per store."""
    return _target(endpoint, bucket, addressing_style, region, service)


def encode_key(key: str) -> str:
    """An S3 object key encoded for the URL's path and the canonical URI (once, '/' kept)."""
    return _encoded_key(key)


def encode_query(text: str) -> str:
    """A query parameter's name or value, encoded for the URL and the canonical query."""
    return _encoded_query_value(text)


def presign_url(
    method: str,
    *,
    endpoint: str,
    bucket: str,
    key: str,
    credentials: Credentials,
    region: str,
    now: datetime,
    expires_in: int,
    content_type: str | None = None,
    query: Mapping[str, str] | None = None,
    addressing_style: Literal["path", "virtual"] = "path",
    service: str = "s3",
) -> str:
    """A SigV4 presigned URL for one object, one method, valid ``expires_in`` s from ``now``.

    ``method`` is GET, HEAD, PUT or DELETE (POST is refused: R2 has no presigned POST).
    ``endpoint`` is ``scheme://host[:port]``; ``now`` must be timezone-aware. A ``content_type``
    (PUT only) is signed as a header, so the upload must send exactly that Content-Type.
    ``query`` holds extra operation parameters, placed before the X-Amz-* parameters in the
    mapping's order: botocore writes UploadPart's as ``uploadId`` then ``partNumber``, so pass
    ``{"uploadId": ..., "partNumber": ...}`` for a URL identical to botocore's (the signature
    does not depend on the order). Raises ValueError (TypeError for a non-int ``expires_in``)
    for anything it will not sign.

    References: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html,
    botocore/auth.py SigV4QueryAuth._modify_request_before_signing.
    """
    if method not in METHODS:
        if method.upper() == "POST":
            raise ValueError("POST cannot be presigned: R2 does not support presigned POST")
        raise ValueError(f"method must be one of GET, HEAD, PUT, DELETE, got {method!r}")
    if type(expires_in) is not int or not MIN_EXPIRES <= expires_in <= MAX_EXPIRES:
        _check_expires(expires_in)  # says what is wrong
    if now.tzinfo is not UTC:  # the common case skips utcoffset(): a fraction of a microsecond
        offset = now.utcoffset()
        if offset is None:
            raise ValueError("now must be a timezone-aware UTC datetime, got a naive datetime")
        if offset:
            now = now.astimezone(UTC)
    if credentials.expires_at is not None and credentials.expires_at <= now:
        raise ValueError(
            f"credentials for {credentials.access_key} expired at "
            f"{credentials.expires_at.isoformat()}; refresh them before presigning"
        )
    if not key:
        raise ValueError("key must not be empty")
    url_prefix, uri_prefix, host = _target(endpoint, bucket, addressing_style, region, service)

    # S3: "Each path segment must be URI-encoded twice (except for Amazon S3 which only gets
    # URI-encoded once)"; "Do not normalize URI paths for requests to Amazon S3."
    encoded_key = _encoded_key(key)
    path = f"{uri_prefix}{encoded_key}"

    # Only two header sets are ever signed; canonical headers are sorted by name, and
    # "content-type" < "host".
    if content_type is None:
        header_lines, header_names, query_names = f"host:{host}\n", "host", "host"
    else:
        header_lines = f"content-type:{_content_type_value(method, content_type)}\nhost:{host}\n"
        header_names, query_names = "content-type;host", "content-type%3Bhost"  # ';' encoded

    # The operation's own parameters come first in the URL, in the mapping's order, as
    # "name=value" pairs; the canonical query needs them sorted by name (a mapping's names are
    # unique, and encoding keeps them so, so the name alone orders them).
    pairs: list[tuple[str, str]] = []
    if query:
        for name, value in query.items():
            encoded = _encoded_query_name(name)
            text = str(value)
            if not (text.isascii() and text.isalnum()):  # part numbers skip the cache
                text = _encoded_query_value(text)
            pairs.append((encoded, f"{encoded}={text}"))

    amz_date = _amz_date(now)
    datestamp = amz_date[:8]
    scope, auth_head, token = _auth_params(
        credentials.access_key, credentials.session_token, datestamp, region, service
    )
    # The authentication parameters; "The canonical query string must include all the query
    # parameters from the preceding table except for X-Amz-Signature." They are built from
    # pieces fixed per (credentials, day, region, service), and written in botocore's order in
    # the URL (SignedHeaders before Security-Token) but sorted in the canonical query.
    auth_tail = f"{auth_head}{amz_date}&X-Amz-Expires={expires_in}&"
    if token is None:
        url_auth = canonical_auth = f"{auth_tail}X-Amz-SignedHeaders={query_names}"
    else:
        url_auth = f"{auth_tail}X-Amz-SignedHeaders={query_names}&X-Amz-Security-Token={token}"
        canonical_auth = (
            f"{auth_tail}X-Amz-Security-Token={token}&X-Amz-SignedHeaders={query_names}"
        )
    if pairs:
        # Every X-Amz-* name shares the prefix "X-Amz-" and other names starting with it are
        # refused, so each operation parameter sorts wholly before or after the auth block.
        ordered = sorted(pairs)
        before = [pair for name, pair in ordered if name < _AUTH_PREFIX]
        after = [pair for name, pair in ordered if name > _AUTH_PREFIX]
        canonical_query = "&".join([*before, canonical_auth, *after])
        url_query = "&".join([*[pair for _, pair in pairs], url_auth])
    else:
        canonical_query = canonical_auth
        url_query = url_auth

    # "You don't include a payload hash in the Canonical Request, because when you create a
    # presigned URL, you don't know the payload. Instead, you use a constant string
    # UNSIGNED-PAYLOAD."
    request = _canonical_request(method, path, canonical_query, header_lines, header_names)
    sts = string_to_sign(amz_date, scope, request)
    key_bytes = signing_key(credentials.secret_key, datestamp, region, service)
    return f"{url_prefix}{encoded_key}?{url_query}&X-Amz-Signature={signature(key_bytes, sts)}"


def authorization_header(
    access_key: str, scope: str, signed_header_names: str, signature_hex: str
) -> str:
    """The Authorization header value of a header-signed request.

    References: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
    """
    # "Authorization: AWS4-HMAC-SHA256 Credential=<key>/<scope>, SignedHeaders=<names>,
    #  Signature=<signature>"
    return (
        f"{ALGORITHM} Credential={access_key}/{scope}, "
        f"SignedHeaders={signed_header_names}, Signature={signature_hex}"
    )


def sign_headers(
    method: str,
    *,
    host: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    payload_hash: str,
    credentials: Credentials,
    region: str,
    service: str,
    now: datetime,
) -> dict[str, str]:
    """The headers of a request signed in its Authorization header (not a presigned URL).

    ``path`` is the canonical URI as sent (for S3: the URL's path, encoded once), ``query`` the
    canonical query string (``canonical_query_string`` of encoded pairs), ``headers`` the other
    headers to sign (Content-Type, ``x-amz-content-sha256`` for S3, ``X-Amz-Target``...), and
    ``payload_hash`` the hex SHA-256 of the body or ``UNSIGNED_PAYLOAD``. The answer is
    ``headers`` plus Host, X-Amz-Date, X-Amz-Security-Token (with a session token) and
    Authorization: every one of them signed. Expired credentials raise ValueError.

    References: https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html ,
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html ,
    botocore/auth.py SigV4Auth.add_auth.
    """
    if now.tzinfo is not UTC:
        if now.utcoffset() is None:
            raise ValueError("now must be a timezone-aware UTC datetime, got a naive datetime")
        now = now.astimezone(UTC)
    if credentials.expires_at is not None and credentials.expires_at <= now:
        raise ValueError(
            f"credentials for {credentials.access_key} expired at "
            f"{credentials.expires_at.isoformat()}; refresh them before signing"
        )
    amz_date = _amz_date(now)
    datestamp = amz_date[:8]
    signed = {**headers, "Host": host, "X-Amz-Date": amz_date}
    if credentials.session_token is not None:
        # Signed like any header: "X-Amz-Security-Token ... must be included in the signature".
        signed["X-Amz-Security-Token"] = credentials.session_token
    for value in signed.values():
        if not _HEADER_VALUE_RE.fullmatch(value):
            raise ValueError(f"header value must be printable ASCII, got {value!r}")
    request = canonical_request(method, path, query, signed, payload_hash)
    scope = credential_scope(datestamp, region, service)
    sts = string_to_sign(amz_date, scope, request)
    key_bytes = signing_key(credentials.secret_key, datestamp, region, service)
    signed["Authorization"] = authorization_header(
        credentials.access_key, scope, signed_headers(signed), signature(key_bytes, sts)
    )
    return signed
