"""coordinator.sigv4 against AWS's documented examples and, byte for byte, against botocore.

botocore's clock is frozen by patching ``botocore.auth.get_current_datetime`` (botocore 1.44
reads the time through that function, not ``datetime.datetime.utcnow``); every comparison also
checks that botocore's X-Amz-Date is the frozen one, so a patch that stopped working would fail
loudly instead of comparing two different clocks.

Set SIGV4_EXAMPLES (default 1) to multiply the hypothesis example counts for a deeper run.
"""

import contextlib
import copy
import os
import re
import unittest.mock
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import botocore.auth
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordinator.sigv4 import (
    ALGORITHM,
    MAX_EXPIRES,
    MIN_EXPIRES,
    UNSIGNED_PAYLOAD,
    Credentials,
    canonical_query_string,
    canonical_request,
    credential_scope,
    presign_url,
    signing_key,
    string_to_sign,
    uri_encode,
)

_SCALE = max(1, int(os.environ.get("SIGV4_EXAMPLES", "1")))


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples * _SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


# --- botocore reference -------------------------------------------------------------------

_SESSION = boto3.session.Session()
_OPERATIONS = {"GET": "get_object", "HEAD": "head_object", "DELETE": "delete_object"}


@contextlib.contextmanager
def frozen_botocore_clock(now: datetime) -> Iterator[None]:
    """Make botocore's SigV4 signers see ``now`` (converted to naive UTC, as botocore does)."""
    naive_utc = now.astimezone(UTC).replace(tzinfo=None)
    if not hasattr(botocore.auth, "get_current_datetime"):  # older botocore: datetime.utcnow()
        pytest.fail("this botocore reads the clock differently; update frozen_botocore_clock")
    with unittest.mock.patch.object(botocore.auth, "get_current_datetime", return_value=naive_utc):
        yield


def botocore_client(
    *, endpoint: str, region: str, credentials: Credentials, addressing_style: str
) -> Any:
    return _SESSION.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.session_token,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": addressing_style},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def botocore_presign(
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
    upload: tuple[str, int] | None = None,
    addressing_style: str = "path",
    client: Any = None,
) -> str:
    """What botocore's generate_presigned_url returns for the equivalent S3 operation."""
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if upload is not None:
        operation = "upload_part"
        params["UploadId"], params["PartNumber"] = upload
    elif method == "PUT":
        operation = "put_object"
        if content_type is not None:
            params["ContentType"] = content_type
    else:
        operation = _OPERATIONS[method]
    if client is None:
        client = botocore_client(
            endpoint=endpoint,
            region=region,
            credentials=credentials,
            addressing_style=addressing_style,
        )
    with frozen_botocore_clock(now):
        url = client.generate_presigned_url(operation, Params=params, ExpiresIn=expires_in)
    amz_date = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    assert f"X-Amz-Date={amz_date}&" in url, "botocore's clock was not frozen"
    return url


def assert_no_checksum_params(url: str) -> None:
    names = [name.lower() for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)]
    assert not [n for n in names if "checksum" in n or n == "x-amz-sdk-checksum-algorithm"]
    assert "checksum" not in url.lower()


# --- strategies ---------------------------------------------------------------------------

# Endpoints a virtual-hosted bucket can go in front of (DNS names), and loopback/IP ones that
# only path style supports. Mixed case, default and explicit ports, a trailing slash.
HOSTNAME_ENDPOINTS = [
    "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com",
    "https://0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com",
    "https://0123456789abcdef0123456789abcdef.fedramp.r2.cloudflarestorage.com",
    "https://s3.eu-west-1.amazonaws.com",
    "https://s3.us-gov-west-1.amazonaws.com/",
    "https://0123456789abcdef0123456789abcdef.us.r2.cloudflarestorage.com",
    "https://s3.eusc-de-east-1.amazonaws.eu",
    "https://Storage.Example.COM:443",
    "https://storage.example.com:8443",
    "http://localhost:9000",
    "http://minio.internal:80",
]
IP_ENDPOINTS = ["http://127.0.0.1:9000", "http://[::1]:9000", "https://10.1.2.3"]
REGIONS = ["auto", "us-east-1", "eu-west-1", "us-gov-west-1", "eusc-de-east-1"]

AWKWARD_PIECES = [
    "/",
    "//",
    " ",
    "  ",
    "+",
    "=",
    "&",
    "?",
    "#",
    "%",
    "%2F",
    "%20",
    "~",
    ".",
    "..",
    "./",
    "../",
    "*",
    "'",
    '"',
    "(",
    ")",
    "!",
    "$",
    ",",
    ";",
    ":",
    "@",
    "[",
    "]",
    "{",
    "}",
    "\\",
    "^",
    "`",
    "|",
    "<",
    ">",
    "\t",
    "\n",
    "\r",
    "\x00",
    "\x7f",
    "é",
    "e\u0301",
    "日本語",
    "😀",
    "\u00a0",
    "\u2028",
    "\ufeff",
    "seg_00001.m4s",
    "master.m3u8",
    "out/",
    "a//b",
]
any_text = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8)
object_keys = st.lists(
    st.one_of(st.sampled_from(AWKWARD_PIECES), any_text), min_size=1, max_size=8
).map("".join)

dns_buckets = st.from_regex(r"[a-z0-9][a-z0-9-]{1,30}[a-z0-9]", fullmatch=True).filter(
    lambda b: not b.endswith(("--x-s3", "--xa-s3"))
)
dotted_buckets = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,30}[a-z0-9]", fullmatch=True).filter(
    lambda b: not b.endswith(("--x-s3", "--xa-s3"))
)


@st.composite
def places(draw: st.DrawFn) -> dict[str, Any]:
    """endpoint, bucket and addressing style botocore and presign_url both accept."""
    if draw(st.booleans()):
        return {
            "addressing_style": "virtual",
            "endpoint": draw(st.sampled_from(HOSTNAME_ENDPOINTS)),
            "bucket": draw(dns_buckets),
        }
    return {
        "addressing_style": "path",
        "endpoint": draw(st.sampled_from(HOSTNAME_ENDPOINTS + IP_ENDPOINTS)),
        "bucket": draw(dotted_buckets),
    }


token_text = st.text(
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=%&- ~"),
    min_size=1,
    max_size=80,
)
credentials_st = st.builds(
    Credentials,
    access_key=st.from_regex(r"[A-Z0-9]{16,32}", fullmatch=True),
    secret_key=st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=48),
    session_token=st.none() | token_text,
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2099, 12, 31),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-9, minutes=-30))]
    ),
)
expiries = st.one_of(
    st.sampled_from([MIN_EXPIRES, 60, 900, 3600, MAX_EXPIRES]),
    st.integers(MIN_EXPIRES, MAX_EXPIRES),
)
content_types = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "video/mp4",
            "video/iso.segment",
            "application/vnd.apple.mpegurl",
            "application/dash+xml",
            "text/plain; charset=utf-8",
            "  text/plain;   charset=utf-8  ",
            'multipart/mixed; boundary="a b"',
            "",
        ]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.just("\t"), max_size=40),
).filter(lambda ct: ct != "application/x-www-form-urlencoded; charset=utf-8")


# --- AWS's documented examples ------------------------------------------------------------

AWS_EXAMPLE_CREDENTIALS = Credentials(
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)
AWS_EXAMPLE_NOW = datetime(2013, 5, 24, 0, 0, 0, tzinfo=UTC)


def test_aws_documented_presigned_url_example() -> None:
    # https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html, "An
    # example": GET examplebucket/test.txt, us-east-1, 20130524T000000Z, 86400 s.
    url = presign_url(
        "GET",
        endpoint="https://s3.amazonaws.com",
        bucket="examplebucket",
        key="test.txt",
        credentials=AWS_EXAMPLE_CREDENTIALS,
        region="us-east-1",
        now=AWS_EXAMPLE_NOW,
        expires_in=86400,
        addressing_style="virtual",
    )
    assert url == (
        "https://examplebucket.s3.amazonaws.com/test.txt"
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )


def test_aws_documented_example_canonical_request_and_string_to_sign() -> None:
    query = canonical_query_string(
        [
            ("X-Amz-SignedHeaders", "host"),
            ("X-Amz-Expires", "86400"),
            ("X-Amz-Date", "20130524T000000Z"),
            ("X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"),
            ("X-Amz-Algorithm", ALGORITHM),
        ]
    )
    request = canonical_request(
        "GET", "/test.txt", query, {"Host": "examplebucket.s3.amazonaws.com"}
    )
    assert request == (
        "GET\n/test.txt\n"
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\n"
        "host:examplebucket.s3.amazonaws.com\n\nhost\nUNSIGNED-PAYLOAD"
    )
    sts = string_to_sign(
        "20130524T000000Z", credential_scope("20130524", "us-east-1", "s3"), request
    )
    algorithm, amz_date, scope, digest = sts.split("\n")
    assert (algorithm, amz_date, scope) == (
        ALGORITHM,
        "20130524T000000Z",
        "20130524/us-east-1/s3/aws4_request",
    )
    assert re.fullmatch(r"[0-9a-f]{64}", digest)


def test_aws_documented_signing_key_example() -> None:
    # AWS General Reference, "Examples of how to derive a signing key for Signature Version 4".
    key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_canonical_query_sorts_pairs_not_joined_strings() -> None:
    # "a" < "a-b" as names, although "a-b=..." < "a=..." as joined strings ('-' < '=').
    assert canonical_query_string([("a-b", "1"), ("a", "2")]) == "a=2&a-b=1"
    assert canonical_query_string([("k", "b"), ("k", "a")]) == "k=a&k=b"


def test_header_values_are_trimmed_and_names_lowercased() -> None:
    request = canonical_request(
        "PUT", "/b/k", "", {"Host": "h", "Content-Type": "  text/plain;\t  charset=utf-8 "}
    )
    assert request.split("\n")[3:7] == [
        "content-type:text/plain; charset=utf-8",
        "host:h",
        "",
        "content-type;host",
    ]
    assert request.endswith("\n" + UNSIGNED_PAYLOAD)


@_settings(200)
@given(
    value=st.text(st.characters(exclude_categories=("Cs",))),
    safe=st.sampled_from(["/~", "-_.~"]),
)
def test_uri_encode_agrees_with_urllib_quote(value: str, safe: str) -> None:
    # botocore encodes with urllib.parse.quote; uri_encode is a faster equivalent.
    assert uri_encode(value, safe) == quote(value, safe=safe)


# --- byte-identical to botocore -----------------------------------------------------------


@_settings(300)
@given(
    method=st.sampled_from(["GET", "HEAD", "PUT", "DELETE"]),
    place=places(),
    key=object_keys,
    credentials=credentials_st,
    region=st.sampled_from(REGIONS),
    now=moments,
    expires_in=expiries,
    content_type=content_types,
)
def test_matches_botocore_byte_for_byte(
    method: str,
    place: dict[str, Any],
    key: str,
    credentials: Credentials,
    region: str,
    now: datetime,
    expires_in: int,
    content_type: str | None,
) -> None:
    if method != "PUT":
        content_type = None
    ours = presign_url(
        method,
        key=key,
        credentials=credentials,
        region=region,
        now=now,
        expires_in=expires_in,
        content_type=content_type,
        **place,
    )
    theirs = botocore_presign(
        method,
        key=key,
        credentials=credentials,
        region=region,
        now=now,
        expires_in=expires_in,
        content_type=content_type,
        **place,
    )
    assert ours == theirs
    assert_no_checksum_params(ours)
    signed = dict(parse_qsl(urlsplit(ours).query))["X-Amz-SignedHeaders"]
    assert signed == ("host" if content_type is None else "content-type;host")


@_settings(100)
@given(
    place=places(),
    key=object_keys,
    credentials=credentials_st,
    now=moments,
    expires_in=expiries,
    part_number=st.integers(1, 10_000),
    upload_id=st.one_of(
        st.from_regex(r"[A-Za-z0-9._-]{20,80}", fullmatch=True),
        st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40),
    ),
)
def test_upload_part_matches_botocore(
    place: dict[str, Any],
    key: str,
    credentials: Credentials,
    now: datetime,
    expires_in: int,
    part_number: int,
    upload_id: str,
) -> None:
    common: dict[str, Any] = {
        "key": key,
        "credentials": credentials,
        "region": "auto",
        "now": now,
        "expires_in": expires_in,
        **place,
    }
    ours = presign_url(
        "PUT", query={"uploadId": upload_id, "partNumber": str(part_number)}, **common
    )
    assert ours == botocore_presign("PUT", upload=(upload_id, part_number), **common)
    assert_no_checksum_params(ours)
    # The order of `query` changes the URL but not what is signed.
    swapped = presign_url(
        "PUT", query={"partNumber": str(part_number), "uploadId": upload_id}, **common
    )
    assert swapped != ours
    assert swapped.rsplit("&X-Amz-Signature=", 1)[1] == ours.rsplit("&X-Amz-Signature=", 1)[1]


_KEY_CLIENTS: dict[str, Any] = {}


@_settings(150)
@given(key=object_keys, style=st.sampled_from(["path", "virtual"]))
def test_key_encoding_matches_botocore(key: str, style: str) -> None:
    # Many keys, one client per style: the cheapest way to hammer the URI encoding.
    endpoint = "https://0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com"
    common: dict[str, Any] = {
        "endpoint": endpoint,
        "bucket": "delivery",
        "key": key,
        "credentials": AWS_EXAMPLE_CREDENTIALS,
        "region": "auto",
        "now": AWS_EXAMPLE_NOW,
        "expires_in": 3600,
        "addressing_style": style,
    }
    if style not in _KEY_CLIENTS:
        _KEY_CLIENTS[style] = botocore_client(
            endpoint=endpoint,
            region="auto",
            credentials=AWS_EXAMPLE_CREDENTIALS,
            addressing_style=style,
        )
    assert presign_url("GET", **common) == botocore_presign(
        "GET", client=_KEY_CLIENTS[style], **common
    )


@pytest.mark.parametrize(
    ("key", "encoded"),
    [
        ("a b", "a%20b"),
        ("a+b", "a%2Bb"),
        ("a=b", "a%3Db"),
        ("a&b", "a%26b"),
        ("a?b", "a%3Fb"),
        ("a#b", "a%23b"),
        ("100%", "100%25"),
        ("%2F", "%252F"),
        ("~user", "~user"),
        ("é/日本/😀", "%C3%A9/%E6%97%A5%E6%9C%AC/%F0%9F%98%80"),
        ("a//b", "a//b"),
        ("/lead", "/lead"),
        ("trail/", "trail/"),
        ("a/../b", "a/../b"),
        ("./x", "./x"),
        ("..", ".."),
    ],
)
@pytest.mark.parametrize("style", ["path", "virtual"])
def test_awkward_keys_match_botocore(key: str, encoded: str, style: str) -> None:
    common: dict[str, Any] = {
        "endpoint": "https://storage.example.com:8443",
        "bucket": "media-out",
        "key": key,
        "credentials": Credentials("AKIDEXAMPLE", "secret", session_token="tok/en+=="),
        "region": "eu-west-1",
        "now": AWS_EXAMPLE_NOW,
        "expires_in": 900,
        "addressing_style": style,
    }
    ours = presign_url("PUT", content_type="video/mp4", **common)
    assert ours == botocore_presign("PUT", content_type="video/mp4", **common)
    # Keys are encoded once, '/' kept, repeated slashes and dot segments not normalised.
    prefix = "/" if style == "virtual" else "/media-out/"
    assert urlsplit(ours).path == prefix + encoded
    # The session token goes after X-Amz-SignedHeaders, just before the signature.
    assert re.search(
        r"&X-Amz-SignedHeaders=content-type%3Bhost&X-Amz-Security-Token=tok%2Fen%2B%3D%3D"
        r"&X-Amz-Signature=[0-9a-f]{64}$",
        ours,
    )


def test_path_and_virtual_urls_have_the_expected_shape() -> None:
    common: dict[str, Any] = {
        "bucket": "delivery",
        "key": "jobs/1/out/seg 1.m4s",
        "credentials": AWS_EXAMPLE_CREDENTIALS,
        "region": "auto",
        "now": AWS_EXAMPLE_NOW,
        "expires_in": 60,
    }
    path = presign_url("GET", endpoint="http://127.0.0.1:9000", **common)
    assert path.startswith("http://127.0.0.1:9000/delivery/jobs/1/out/seg%201.m4s?X-Amz-Algo")
    virtual = presign_url(
        "GET", endpoint="https://Acct.R2.example.com:443/", addressing_style="virtual", **common
    )
    # The URL keeps the endpoint as written; the signed host is lowercased, default port dropped.
    assert virtual.startswith("https://delivery.Acct.R2.example.com:443/jobs/1/out/seg%201.m4s?")
    same_host = presign_url(
        "GET", endpoint="https://acct.r2.example.com", addressing_style="virtual", **common
    )
    assert same_host.rsplit("=", 1)[1] == virtual.rsplit("=", 1)[1]


@pytest.mark.parametrize("expires_in", [MIN_EXPIRES, MAX_EXPIRES])
def test_expiry_bounds_are_accepted_and_match_botocore(expires_in: int) -> None:
    common: dict[str, Any] = {
        "endpoint": "http://127.0.0.1:9000",
        "bucket": "bkt",
        "key": "k",
        "credentials": AWS_EXAMPLE_CREDENTIALS,
        "region": "auto",
        "now": AWS_EXAMPLE_NOW,
        "expires_in": expires_in,
    }
    ours = presign_url("GET", **common)
    assert f"&X-Amz-Expires={expires_in}&" in ours
    assert ours == botocore_presign("GET", **common)


# --- refusals -----------------------------------------------------------------------------


def _presign(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "method": "GET",
        "endpoint": "https://acct.r2.cloudflarestorage.com",
        "bucket": "delivery",
        "key": "k",
        "credentials": AWS_EXAMPLE_CREDENTIALS,
        "region": "auto",
        "now": AWS_EXAMPLE_NOW,
        "expires_in": 60,
    }
    args.update(overrides)
    method = args.pop("method")
    return presign_url(method, **args)


def test_defaults_sign() -> None:
    assert _presign().startswith("https://acct.r2.cloudflarestorage.com/delivery/k?")


@pytest.mark.parametrize("expires_in", [0, -1, MAX_EXPIRES + 1, 10**9])
def test_expiry_out_of_range_is_refused(expires_in: int) -> None:
    with pytest.raises(ValueError, match=r"expires_in must be between 1 and 604800 seconds"):
        _presign(expires_in=expires_in)


@pytest.mark.parametrize("expires_in", [True, 60.0, "60", None])
def test_expiry_of_wrong_type_is_refused(expires_in: object) -> None:
    with pytest.raises(TypeError, match="expires_in must be an int"):
        _presign(expires_in=expires_in)


@pytest.mark.parametrize("method", ["POST", "post"])
def test_post_is_refused_with_the_reason(method: str) -> None:
    with pytest.raises(ValueError, match="R2 does not support presigned POST"):
        _presign(method=method)


@pytest.mark.parametrize("method", ["PATCH", "get", "OPTIONS", "", "GET "])
def test_other_methods_are_refused(method: str) -> None:
    with pytest.raises(ValueError, match="method must be one of GET, HEAD, PUT, DELETE"):
        _presign(method=method)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="now must be a timezone-aware UTC datetime"):
        _presign(now=datetime(2013, 5, 24))


def test_aware_non_utc_now_is_converted_to_utc() -> None:
    east = AWS_EXAMPLE_NOW.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert _presign(now=east) == _presign()
    assert "X-Amz-Date=20130524T000000Z" in _presign(now=east)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"endpoint": "https://acct.r2.cloudflarestorage.com/prefix"}, "scheme://host"),
        ({"endpoint": "ftp://acct.r2.cloudflarestorage.com"}, "scheme://host"),
        ({"endpoint": "acct.r2.cloudflarestorage.com"}, "scheme://host"),
        ({"endpoint": "https://u:p@acct.r2.cloudflarestorage.com"}, "scheme://host"),
        ({"endpoint": "https://acct.r2.cloudflarestorage.com?x=1"}, "scheme://host"),
        ({"endpoint": "https://acct.r2.cloudflarestorage.com:99999"}, "invalid port"),
        ({"endpoint": "https://acct.r2.cloud\nflarestorage.com"}, "without spaces"),
        ({"bucket": "Delivery"}, "bucket must be 3-63"),
        ({"bucket": "a/b"}, "bucket must be 3-63"),
        ({"bucket": "ab"}, "bucket must be 3-63"),
        ({"bucket": "media--x-s3"}, "S3 Express"),
        ({"bucket": "my.bucket", "addressing_style": "virtual"}, "without dots"),
        (
            {"endpoint": "http://127.0.0.1:9000", "addressing_style": "virtual"},
            "not an IP address",
        ),
        ({"addressing_style": "host"}, "addressing_style must be"),
        ({"key": ""}, "key must not be empty"),
        ({"key": "bad\ud800surrogate"}, "cannot UTF-8 encode"),
        ({"region": "eu/west"}, "region must be"),
        ({"region": ""}, "region must be"),
        ({"service": "S3"}, "service must be"),
        ({"content_type": "video/mp4"}, "only be signed for PUT"),
        ({"method": "PUT", "content_type": "video/mp4\r\nX-Evil: 1"}, "printable ASCII"),
        ({"method": "PUT", "content_type": "vidéo/mp4"}, "printable ASCII"),
        (
            {"method": "PUT", "content_type": "application/x-www-form-urlencoded; charset=utf-8"},
            "dropped from the signature by botocore",
        ),
        ({"query": {"X-Amz-Expires": "1"}}, "reserved"),
        ({"query": {"x-amz-signature": "1"}}, "reserved"),
        ({"query": {"": "1"}}, "reserved"),
    ],
)
def test_invalid_inputs_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        _presign(**overrides)


def test_expired_credentials_are_refused() -> None:
    expired = Credentials(
        "ASIAEXAMPLE", "secret", session_token="token", expires_at=AWS_EXAMPLE_NOW
    )
    with pytest.raises(ValueError, match="expired") as info:
        _presign(credentials=expired)
    assert "secret" not in str(info.value) and "token" not in str(info.value)
    fresh = Credentials(
        "ASIAEXAMPLE",
        "secret",
        session_token="token",
        expires_at=AWS_EXAMPLE_NOW + timedelta(seconds=1),
    )
    assert "X-Amz-Security-Token=token&" in _presign(credentials=fresh)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"access_key": "", "secret_key": "s"}, "access_key"),
        ({"access_key": "A/B", "secret_key": "s"}, "access_key"),
        ({"access_key": "A", "secret_key": ""}, "secret_key"),
        ({"access_key": "A", "secret_key": "s", "session_token": ""}, "session_token"),
        (
            {"access_key": "A", "secret_key": "s", "expires_at": datetime(2030, 1, 1)},
            "timezone-aware",
        ),
    ],
)
def test_invalid_credentials_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Credentials(**kwargs)


# --- cache, purity, secrecy ---------------------------------------------------------------


def test_signing_key_is_cached_per_secret_date_region_service() -> None:
    signing_key.cache_clear()
    first = signing_key("secret", "20130524", "auto", "s3")
    assert signing_key("secret", "20130524", "auto", "s3") is first
    assert signing_key.cache_info().hits == 1
    for other in (
        ("secret2", "20130524", "auto", "s3"),
        ("secret", "20130525", "auto", "s3"),
        ("secret", "20130524", "eu-west-1", "s3"),
        ("secret", "20130524", "auto", "iam"),
    ):
        assert signing_key(*other) != first
    assert signing_key.cache_info().misses == 5


def test_presign_url_reuses_the_cached_key_within_a_day() -> None:
    signing_key.cache_clear()
    urls = {_presign(key=f"k{i}", now=AWS_EXAMPLE_NOW + timedelta(hours=i)) for i in range(24)}
    assert len(urls) == 24
    info = signing_key.cache_info()
    assert (info.misses, info.hits) == (1, 23)
    _presign(now=AWS_EXAMPLE_NOW + timedelta(days=1))
    assert signing_key.cache_info().misses == 2


def test_inputs_are_not_mutated() -> None:
    query = {"uploadId": "abc/def+1", "partNumber": "7"}
    credentials = Credentials("ASIAEXAMPLE", "secret", session_token="tok", expires_at=None)
    snapshot = (copy.deepcopy(query), copy.deepcopy(credentials))
    now = AWS_EXAMPLE_NOW.astimezone(timezone(timedelta(hours=-3)))
    url = _presign(method="PUT", query=query, credentials=credentials, now=now)
    assert (query, credentials) == snapshot
    assert list(query) == ["uploadId", "partNumber"]
    assert now.utcoffset() == timedelta(hours=-3)
    # A read-only mapping is enough: presign_url never writes to it.
    assert (
        _presign(method="PUT", query=MappingProxyType(query), credentials=credentials, now=now)
        == url
    )


def test_query_values_follow_the_mapping_order_before_the_auth_params() -> None:
    url = _presign(method="PUT", query={"uploadId": "u p", "partNumber": "3"})
    assert "/delivery/k?uploadId=u%20p&partNumber=3&X-Amz-Algorithm=" in url


def test_credentials_repr_hides_secret_and_token() -> None:
    credentials = Credentials(
        "AKIAREPR",
        "wJalrXUtnFEMI/SECRET",
        session_token="IQoJb3JpZ2luX2VjEXAMPLETOKEN",
        expires_at=AWS_EXAMPLE_NOW,
    )
    for shown in (repr(credentials), str(credentials), f"{credentials}", f"{[credentials]}"):
        assert "AKIAREPR" in shown
        assert "wJalrXUtnFEMI" not in shown and "SECRET" not in shown
        assert "IQoJb3JpZ2lu" not in shown and "TOKEN" not in shown


def test_credentials_are_immutable() -> None:
    with pytest.raises(AttributeError):
        AWS_EXAMPLE_CREDENTIALS.secret_key = "other"  # type: ignore[misc]


def test_module_imports_no_aws_sdk() -> None:
    import ast
    import inspect

    import coordinator.sigv4 as sigv4

    tree = ast.parse(inspect.getsource(sigv4))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert imported.isdisjoint({"boto3", "botocore", "aiobotocore", "s3transfer"})
    assert imported <= {
        "collections",
        "dataclasses",
        "datetime",
        "functools",
        "hashlib",
        "hmac",
        "re",
        "typing",
        "urllib",
    }
