"""coordinator.sigv4 at fixed inputs, in milliseconds: AWS's published SigV4 test vectors, botocore
as an independent oracle for one case of each kind, the composition of the spec's steps, and
every refusal with its exact message. (test_sigv4.py holds the slower property tests.)

AWS vectors: the "get-vanilla", "get-vanilla-query-order-key-case", "get-vanilla-query-order-value"
and "get-header-value-trim" cases of AWS's Signature Version 4 test suite (credentials AKIDEXAMPLE /
wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20150830T123600Z, us-east-1, service "service"):
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
(the suite is linked from the SigV4 documentation and ships with botocore's own tests).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import pytest

from coordinator import sigv4
from coordinator.sigv4 import (
    Credentials,
    canonical_query_string,
    canonical_request,
    check_target,
    credential_scope,
    presign_url,
    signature,
    signed_headers,
    signing_key,
    string_to_sign,
    uri_encode,
)
from tests.coordinator.test_sigv4 import botocore_presign

SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_DATE = "20150830T123600Z"
SUITE_SCOPE = "20150830/us-east-1/service/aws4_request"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SUITE_HOST = {"Host": "example.amazonaws.com", "X-Amz-Date": SUITE_DATE}


@pytest.fixture(autouse=True)
def cold_caches() -> None:
    """Each test starts with sigv4's memo caches empty, so what it checks (an endpoint, a bucket
    and its addressing style) is computed for it, not read from a cache an earlier test filled
    (a mutation run forks every mutant from a process that already ran the tests)."""
    for value in vars(sigv4).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


def _suite_signature(request: str) -> str:
    sts = string_to_sign(SUITE_DATE, credential_scope("20150830", "us-east-1", "service"), request)
    return signature(signing_key(SUITE_SECRET, "20150830", "us-east-1", "service"), sts)


# --- AWS's SigV4 test suite -----------------------------------------------------------------


def test_aws_suite_get_vanilla() -> None:
    request = canonical_request("GET", "/", "", SUITE_HOST, EMPTY_SHA256)
    assert request == (
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
        f"host;x-amz-date\n{EMPTY_SHA256}"
    )
    sts = string_to_sign(SUITE_DATE, SUITE_SCOPE, request)
    assert sts == (
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
        "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    )
    assert _suite_signature(request) == (
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


@pytest.mark.parametrize(
    ("pairs", "query", "expected"),
    [
        (
            [("Param2", "value2"), ("Param1", "value1")],
            "Param1=value1&Param2=value2",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        (
            [("Param1", "value2"), ("Param1", "Value1")],
            "Param1=Value1&Param1=value2",
            "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
        ),
    ],
    ids=["get-vanilla-query-order-key-case", "get-vanilla-query-order-value"],
)
def test_aws_suite_query_order(pairs: list[tuple[str, str]], query: str, expected: str) -> None:
    assert canonical_query_string(pairs) == query
    request = canonical_request("GET", "/", query, SUITE_HOST, EMPTY_SHA256)
    assert _suite_signature(request) == expected


def test_aws_suite_get_header_value_trim() -> None:
    headers = {**SUITE_HOST, "My-Header1": " value1", "My-Header2": ' "a   b   c"'}
    request = canonical_request("GET", "/", "", headers, EMPTY_SHA256)
    assert request.split("\n")[3:8] == [
        "host:example.amazonaws.com",
        "my-header1:value1",
        'my-header2:"a b c"',
        "x-amz-date:20150830T123600Z",
        "",
    ]
    assert signed_headers(headers) == "host;my-header1;my-header2;x-amz-date"
    assert _suite_signature(request) == (
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"
    )


def test_canonical_request_defaults_to_the_unsigned_payload() -> None:
    # Presigned URLs: "you use a constant string UNSIGNED-PAYLOAD" (sigv4-query-string-auth).
    assert canonical_request("GET", "/", "", {"Host": "h"}).endswith("\nUNSIGNED-PAYLOAD")


# --- presign_url against botocore, one case of each kind ------------------------------------

ACCOUNT_HOST = "0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com"
EXAMPLE = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
TEMPORARY = Credentials("ASIAEXAMPLE", "secret", session_token="tok/en+==")
NOW = datetime(2013, 5, 24, 0, 0, 0, tzinfo=UTC)
BASE: dict[str, Any] = {
    "endpoint": f"https://{ACCOUNT_HOST}",
    "bucket": "delivery",
    "key": "jobs/1/seg 1.m4s",
    "credentials": EXAMPLE,
    "region": "auto",
    "now": NOW,
    "expires_in": 900,
}
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "get-path-ip": ("GET", {"endpoint": "http://127.0.0.1:9000", "key": "k"}),
    "get-ipv6": ("GET", {"endpoint": "http://[::1]:9000"}),
    "head-virtual": ("HEAD", {"addressing_style": "virtual"}),
    "delete-session-token": ("DELETE", {"credentials": TEMPORARY}),
    "put": ("PUT", {}),
    "put-content-type": ("PUT", {"content_type": "video/mp4"}),
    "put-content-type-spaces": ("PUT", {"content_type": "  text/plain;   charset=utf-8  "}),
    "put-content-type-token": ("PUT", {"content_type": "video/mp4", "credentials": TEMPORARY}),
    "https-443-dropped": ("GET", {"endpoint": "https://Storage.Example.COM:443"}),
    "https-443-virtual": (
        "GET",
        {"endpoint": "https://Storage.Example.COM:443/", "addressing_style": "virtual"},
    ),
    "http-80-dropped": ("GET", {"endpoint": "http://minio.internal:80"}),
    "https-8443-kept": ("GET", {"endpoint": "https://storage.example.com:8443"}),
    "http-on-443-kept": ("GET", {"endpoint": "http://storage.example.com:443"}),
    "govcloud": (
        "GET",
        {"endpoint": "https://s3.us-gov-west-1.amazonaws.com/", "region": "us-gov-west-1"},
    ),
    "dotted-bucket-path": ("GET", {"bucket": "my.media.bucket"}),
    "awkward-key": ("GET", {"key": "é/日本/😀 a+b=c&d?e#f%g~h*'()!$,;:@"}),
    "access-key-to-encode": ("GET", {"credentials": Credentials("AKIA+EX=AMPLE", "s")}),
    "non-ascii-secret": ("GET", {"credentials": Credentials("AKIDEXAMPLE", "sécret😀")}),
    "local-time-and-microseconds": (
        "GET",
        {"now": datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=5)))},
    ),
    "shortest-expiry": ("GET", {"expires_in": 1}),
    "longest-expiry": ("GET", {"expires_in": 604_800}),  # 7 days: SigV4's and R2's maximum
}


@pytest.mark.parametrize(("method", "changes"), CASES.values(), ids=CASES.keys())
def test_presigned_urls_match_botocore(method: str, changes: dict[str, Any]) -> None:
    args = {**BASE, **changes}
    assert presign_url(method, **args) == botocore_presign(method, **args)


@pytest.mark.parametrize("upload_id", ["abc/def+1==", "abc/def+1== é", "2~iCw_lDY8Vo", "ñ"])
@pytest.mark.parametrize("credentials", [EXAMPLE, TEMPORARY])
def test_upload_part_urls_match_botocore(credentials: Credentials, upload_id: str) -> None:
    args = {**BASE, "credentials": credentials}
    ours = presign_url("PUT", query={"uploadId": upload_id, "partNumber": "7"}, **args)
    assert ours == botocore_presign("PUT", upload=(upload_id, 7), **args)


def test_urls_do_not_depend_on_the_machines_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """X-Amz-Date is UTC whatever the local zone (a developer's laptop, not only Lambda's UTC)."""
    east = datetime(2013, 5, 24, 5, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    expected = presign_url("GET", **{**BASE, "now": NOW})
    for zone in ("IST-5:30", "NST+3:30"):  # POSIX TZ strings: no tzdata needed
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        try:
            assert presign_url("GET", **{**BASE, "now": east}) == expected
        finally:
            monkeypatch.delenv("TZ")
            time.tzset()


class Seconds(int):
    """An int subclass (an IntEnum member, a typed alias): still an int number of seconds."""


@pytest.mark.parametrize("expires_in", [1, 604_800])
def test_the_expiry_bounds_are_inclusive_for_any_int(expires_in: int) -> None:
    url = presign_url("GET", **{**BASE, "expires_in": Seconds(expires_in)})
    assert f"&X-Amz-Expires={expires_in}&" in url


# --- the fast path is the spec's steps composed ---------------------------------------------


def _spec_signature(url: str, method: str, content_type: str | None, secret: str) -> str:
    """The signature the spec's steps give for a presigned URL's own query, path and host."""
    parts = urlsplit(url)
    pairs = [tuple(p.split("=", 1)) for p in parts.query.split("&")]
    params = dict(pairs)
    query = canonical_query_string([(n, v) for n, v in pairs if n != "X-Amz-Signature"])
    headers = {"host": parts.netloc}
    if content_type is not None:
        headers["content-type"] = content_type
    request = canonical_request(method, parts.path, query, headers)
    date = params["X-Amz-Date"]
    scope = params["X-Amz-Credential"].split("%2F", 1)[1].replace("%2F", "/")
    datestamp, region, service, _ = scope.split("/")
    sts = string_to_sign(date, scope, request)
    return signature(signing_key(secret, datestamp, region, service), sts)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"uploadId": "u p", "partNumber": "3"},
        {"Alpha": "1"},  # sorts before the X-Amz-* block
        {"Alpha": "1", "zeta": "z/z", "Mid": "m"},  # before and after
        {"X-Amx": "1", "X-Amz": "2", "X-Ama": "3"},  # just around "X-Amz-"
        {"a": "ü", "b": ""},
    ],
)
@pytest.mark.parametrize("credentials", [EXAMPLE, TEMPORARY])
@pytest.mark.parametrize("content_type", [None, "video/mp4"])
def test_the_signature_is_the_spec_steps_composed(
    query: dict[str, str], credentials: Credentials, content_type: str | None
) -> None:
    url = presign_url(
        "PUT", query=query, content_type=content_type, **{**BASE, "credentials": credentials}
    )
    given = url.rsplit("&X-Amz-Signature=", 1)[1]
    assert given == _spec_signature(url, "PUT", content_type, credentials.secret_key)
    # The operation's parameters come first, in the mapping's order.
    names = [p.split("=", 1)[0] for p in urlsplit(url).query.split("&")]
    assert names[: len(query)] == list(query)


def test_the_date_is_right_whichever_field_of_the_clock_changes() -> None:
    """Consecutive calls share a formatted date only while every field is the same."""
    base = datetime(2013, 5, 24, 10, 20, 30, tzinfo=UTC)
    moments = [
        base,
        base.replace(second=31),
        base.replace(minute=21),
        base.replace(hour=11),
        base.replace(day=25),
        base.replace(month=6),
        base.replace(year=2014),
        base,
    ]
    for moment in moments:
        url = presign_url("GET", **{**BASE, "now": moment})
        assert f"X-Amz-Date={moment.strftime('%Y%m%dT%H%M%SZ')}&" in url
        assert f"%2F{moment.strftime('%Y%m%d')}%2Fauto%2Fs3%2Faws4_request&" in url


def test_uri_encode_keeps_only_unreserved_characters_and_safe() -> None:
    # "URI encode every byte except the unreserved characters: 'A'-'Z', 'a'-'z', '0'-'9', '-',
    # '.', '_', and '~'", UTF-8, uppercase hex.
    assert uri_encode("AZaz09-._~", "") == "AZaz09-._~"
    assert uri_encode("a/b c+é", "") == "a%2Fb%20c%2B%C3%A9"
    assert uri_encode("a/b c+é", "/~") == "a/b%20c%2B%C3%A9"
    assert uri_encode("a/b c+é", "-_.~") == "a%2Fb%20c%2B%C3%A9"
    assert uri_encode("a/b c+é", "+") == "a%2Fb%20c+%C3%A9"
    assert uri_encode("a/b c+é", "/+") == "a/b%20c+%C3%A9"
    assert uri_encode("abc123", "") == "abc123"
    assert uri_encode("ÀÉ", "") == "%C3%80%C3%89"  # alphanumeric, not ASCII: encoded
    assert uri_encode("\x00\xff", "") == "%00%C3%BF"


# --- refusals, each with its message --------------------------------------------------------

BUCKET_RULE = (
    "bucket must be 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a "
    "letter or digit, got "
)
REFUSALS: dict[str, tuple[dict[str, Any], str]] = {
    "post": ({"method": "POST"}, "POST cannot be presigned: R2 does not support presigned POST"),
    "post-lowercase": (
        {"method": "post"},
        "POST cannot be presigned: R2 does not support presigned POST",
    ),
    "patch": ({"method": "PATCH"}, "method must be one of GET, HEAD, PUT, DELETE, got 'PATCH'"),
    "lowercase-get": ({"method": "get"}, "method must be one of GET, HEAD, PUT, DELETE, got 'get'"),
    "expiry-0": (
        {"expires_in": 0},
        "expires_in must be between 1 and 604800 seconds (7 days, the SigV4 and R2 limit), got 0",
    ),
    "expiry-7-days-and-1-s": (
        {"expires_in": 604_801},
        "expires_in must be between 1 and 604800 seconds (7 days, the SigV4 and R2 limit), "
        "got 604801",
    ),
    "naive-now": (
        {"now": datetime(2013, 5, 24)},
        "now must be a timezone-aware UTC datetime, got a naive datetime",
    ),
    "empty-key": ({"key": ""}, "key must not be empty"),
    "surrogate-key": (
        {"key": "a\ud800"},
        "cannot UTF-8 encode 'a\\ud800' for a URL: surrogates not allowed",
    ),
    "region": ({"region": "EU"}, "region must be lowercase letters, digits and '-', got 'EU'"),
    "empty-region": ({"region": ""}, "region must be lowercase letters, digits and '-', got ''"),
    "service": ({"service": "s_3"}, "service must be lowercase letters, digits and '-', got 's_3'"),
    "endpoint-space": (
        {"endpoint": "https://a b.com"},
        "endpoint must be printable ASCII without spaces: 'https://a b.com'",
    ),
    "endpoint-del": (
        {"endpoint": "https://ab\x7f.com"},
        "endpoint must be printable ASCII without spaces: 'https://ab\\x7f.com'",
    ),
    "endpoint-non-ascii": (
        {"endpoint": "https://é.com"},
        "endpoint must be printable ASCII without spaces: 'https://é.com'",
    ),
    **{
        f"endpoint-{name}": (
            {"endpoint": endpoint},
            "endpoint must be scheme://host[:port] with scheme http or https, got "
            + repr(endpoint),
        )
        for name, endpoint in {
            "ftp": "ftp://h.com",
            "no-scheme": "h.com",
            "no-host": "http://:9000",
            "userinfo": "https://u@h.com",
            "path": "https://h.com/p",
            "query": "https://h.com?x=1",
            "empty-query": "https://h.com?",
            "fragment": "https://h.com#f",
            "empty-fragment": "https://h.com#",
        }.items()
    },
    "endpoint-port": (
        {"endpoint": "https://h.com:99999"},
        "endpoint has an invalid port: 'https://h.com:99999'",
    ),
    "bucket-short": ({"bucket": "ab"}, BUCKET_RULE + "'ab'"),
    "bucket-long": ({"bucket": "b" * 64}, BUCKET_RULE + repr("b" * 64)),
    "bucket-upper": ({"bucket": "Media"}, BUCKET_RULE + "'Media'"),
    "bucket-trailing-dash": ({"bucket": "media-"}, BUCKET_RULE + "'media-'"),
    "express": (
        {"bucket": "media--x-s3"},
        "bucket 'media--x-s3' has an S3 Express directory-bucket suffix, which botocore "
        "addresses and signs differently; not supported here",
    ),
    "express-zonal": (
        {"bucket": "media--xa-s3"},
        "bucket 'media--xa-s3' has an S3 Express directory-bucket suffix, which botocore "
        "addresses and signs differently; not supported here",
    ),
    **{
        f"virtual-on-{name}": (
            {"endpoint": endpoint, "addressing_style": "virtual"},
            "virtual-hosted addressing needs a DNS hostname endpoint, not an IP address "
            "(botocore falls back to path style there); use addressing_style='path'",
        )
        for name, endpoint in {"ipv4": "http://10.1.2.3:9000", "ipv6": "http://[::1]"}.items()
    },
    "virtual-dotted-bucket": (
        {"bucket": "my.bucket", "addressing_style": "virtual"},
        "virtual-hosted addressing needs a bucket name without dots, got 'my.bucket' "
        "(botocore would not address it as asked); use addressing_style='path'",
    ),
    "style": (
        {"addressing_style": "host"},
        "addressing_style must be 'path' or 'virtual', got 'host'",
    ),
    "content-type-on-get": (
        {"content_type": "video/mp4"},
        "content_type can only be signed for PUT, not GET",
    ),
    "content-type-crlf": (
        {"method": "PUT", "content_type": "video/mp4\r\nX: 1"},
        "content_type must be printable ASCII (an HTTP header value), got 'video/mp4\\r\\nX: 1'",
    ),
    "content-type-botocore-drops": (
        {"method": "PUT", "content_type": "application/x-www-form-urlencoded; charset=utf-8"},
        "content_type 'application/x-www-form-urlencoded; charset=utf-8' is dropped from the "
        "signature by botocore's presigner, so it could not be enforced; use another content "
        "type",
    ),
    "query-reserved": (
        {"query": {"X-Amz-Date": "1"}},
        "query parameter name 'X-Amz-Date' is empty or reserved (X-Amz-*)",
    ),
    "query-reserved-lowercase": (
        {"query": {"x-amz-signature": "1"}},
        "query parameter name 'x-amz-signature' is empty or reserved (X-Amz-*)",
    ),
    "query-empty-name": (
        {"query": {"": "1"}},
        "query parameter name '' is empty or reserved (X-Amz-*)",
    ),
}


@pytest.mark.parametrize(("changes", "message"), REFUSALS.values(), ids=REFUSALS.keys())
def test_refusals_say_what_is_wrong(changes: dict[str, Any], message: str) -> None:
    args = {"method": "GET", **BASE, **changes}
    with pytest.raises(ValueError) as refused:
        presign_url(args.pop("method"), **args)
    assert str(refused.value) == message


@pytest.mark.parametrize("expires_in", [True, 60.0, "60", None])
def test_an_expiry_that_is_not_an_int_is_a_type_error(expires_in: object) -> None:
    with pytest.raises(TypeError) as refused:
        presign_url("GET", **{**BASE, "expires_in": expires_in})
    assert str(refused.value) == f"expires_in must be an int number of seconds, got {expires_in!r}"


@pytest.mark.parametrize(
    ("bucket", "style", "endpoint"),
    [
        ("abc", "path", BASE["endpoint"]),  # 3 characters
        ("b" * 63, "virtual", BASE["endpoint"]),  # 63
        ("1.2.3.4", "path", BASE["endpoint"]),
        ("media", "virtual", "https://1.2.3.4.nip.io"),  # a hostname that starts with digits
    ],
)
def test_bucket_and_endpoint_edges_that_are_accepted(
    bucket: str, style: str, endpoint: str
) -> None:
    args = {**BASE, "bucket": bucket, "addressing_style": style, "endpoint": endpoint}
    assert presign_url("GET", **args) == botocore_presign("GET", **args)


def test_credentials_are_refused_at_the_instant_they_expire() -> None:
    expires_at = NOW + timedelta(hours=1)
    expiring = Credentials("ASIAEXAMPLE", "secret", session_token="t", expires_at=expires_at)
    assert presign_url(
        "GET", **{**BASE, "credentials": expiring, "now": expires_at - timedelta(microseconds=1)}
    )
    with pytest.raises(ValueError) as refused:
        presign_url("GET", **{**BASE, "credentials": expiring, "now": expires_at})
    assert str(refused.value) == (
        "credentials for ASIAEXAMPLE expired at 2013-05-24T01:00:00+00:00; refresh them before "
        "presigning"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"access_key": ""}, "Credentials.access_key must be non-empty printable text without '/'"),
        (
            {"access_key": "A/B"},
            "Credentials.access_key must be non-empty printable text without '/'",
        ),
        (
            {"access_key": "A\nB"},
            "Credentials.access_key must be non-empty printable text without '/'",
        ),
        ({"secret_key": ""}, "Credentials.secret_key must be non-empty"),
        ({"session_token": ""}, "Credentials.session_token must be None or non-empty"),
        (
            {"expires_at": datetime(2030, 1, 1)},
            "Credentials.expires_at must be a timezone-aware datetime",
        ),
    ],
)
def test_credentials_refusals(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as refused:
        Credentials(**{"access_key": "AKID", "secret_key": "s", **kwargs})
    assert str(refused.value) == message


def test_check_target_refuses_what_presign_url_would_refuse() -> None:
    """A store is checked once at start with the signer's own rules (coordinator.config)."""
    endpoint = BASE["endpoint"]
    assert check_target(endpoint, "delivery", region="auto") is None
    assert check_target(endpoint, "my.bucket", region="auto") is None  # path style by default
    assert check_target(endpoint, "delivery", region="auto", addressing_style="virtual") is None
    for changes, message in [
        (
            {"bucket": "my.bucket", "addressing_style": "virtual"},
            REFUSALS["virtual-dotted-bucket"][1],
        ),
        ({"bucket": "ab"}, BUCKET_RULE + "'ab'"),
        ({"endpoint": "ftp://h.com"}, REFUSALS["endpoint-ftp"][1]),
        ({"region": "EU"}, REFUSALS["region"][1]),
        ({"service": "s_3"}, REFUSALS["service"][1]),
        ({"addressing_style": "host"}, REFUSALS["style"][1]),
    ]:
        args: dict[str, Any] = {"endpoint": endpoint, "bucket": "delivery", "region": "auto"}
        args.update(changes)
        with pytest.raises(ValueError) as refused:
            check_target(args.pop("endpoint"), args.pop("bucket"), **args)
        assert str(refused.value) == message
        with pytest.raises(ValueError) as also:
            presign_url("GET", **{**BASE, **changes})
        assert str(also.value) == message


# --- header signing (sign_headers): AWS's suite, then botocore's S3 signer -----------------------

SUITE_CREDENTIALS = Credentials("AKIDEXAMPLE", SUITE_SECRET)
SUITE_NOW = datetime(2015, 8, 30, 12, 36, tzinfo=UTC)
# The suite's session token (post-sts-token/post-sts-header-before).
SUITE_TOKEN = (
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxf"
    "pSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPky"
    "QDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBA"
    "z+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="
)
SUITE_HEADER_CASES = {
    "get-vanilla": (
        "GET", "", {}, None, b"", "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    ),
    "post-vanilla": (
        "POST", "", {}, None, b"", "host;x-amz-date",
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    ),
    "get-vanilla-query-order-key-case": (
        "GET", "Param1=value1&Param2=value2", {}, None, b"", "host;x-amz-date",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    ),
    "post-header-value-case": (
        "POST", "", {"My-Header1": "VALUE1"}, None, b"", "host;my-header1;x-amz-date",
        "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
    ),
    "post-sts-header-before": (
        "POST", "", {}, SUITE_TOKEN, b"", "host;x-amz-date;x-amz-security-token",
        "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
    ),
    "post-x-www-form-urlencoded": (
        "POST", "", {"Content-Type": "application/x-www-form-urlencoded"}, None,
        b"Param1=value1", "content-type;host;x-amz-date",
        "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("method", "query", "headers", "token", "body", "names", "expected"),
    SUITE_HEADER_CASES.values(),
    ids=SUITE_HEADER_CASES.keys(),
)
def test_aws_suite_header_signing(
    method: str,
    query: str,
    headers: dict[str, str],
    token: str | None,
    body: bytes,
    names: str,
    expected: str,
) -> None:
    import hashlib

    credentials = Credentials("AKIDEXAMPLE", SUITE_SECRET, session_token=token)
    signed = sigv4.sign_headers(
        method,
        host="example.amazonaws.com",
        path="/",
        query=query,
        headers=headers,
        payload_hash=hashlib.sha256(body).hexdigest(),
        credentials=credentials,
        region="us-east-1",
        service="service",
        now=SUITE_NOW,
    )
    assert signed["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders={names}, Signature={expected}"
    )
    assert signed["X-Amz-Date"] == SUITE_DATE and signed["Host"] == "example.amazonaws.com"
    assert signed.get("X-Amz-Security-Token") == token
    assert headers.items() <= signed.items()  # the caller's headers, unchanged


def test_header_signing_matches_botocores_s3_signer() -> None:
    """CreateMultipartUpload as S3SigV4Auth signs it: a key that needs encoding, the
    valueless ``uploads`` subresource, a Content-Type, a session token."""
    from unittest import mock

    import botocore.auth
    import botocore.credentials
    from botocore.awsrequest import AWSRequest

    credentials = Credentials("AKIDEXAMPLE", SUITE_SECRET, session_token="tok/en+=")
    key_path = "/bkt/" + uri_encode("jobs/a b/ü+x.mp4", "/~")
    request = AWSRequest(
        method="POST",
        url=f"http://127.0.0.1:9000{key_path}?uploads",
        headers={"Content-Type": "video/mp4"},
        data=b"",
    )
    theirs = botocore.auth.S3SigV4Auth(
        botocore.credentials.Credentials("AKIDEXAMPLE", SUITE_SECRET, "tok/en+="), "s3", "auto"
    )
    with mock.patch(
        "botocore.auth.get_current_datetime", return_value=SUITE_NOW.replace(tzinfo=None)
    ):
        theirs.add_auth(request)
    ours = sigv4.sign_headers(
        "POST",
        host="127.0.0.1:9000",
        path=key_path,
        query=canonical_query_string([("uploads", "")]),
        headers={
            "Content-Type": "video/mp4",
            "x-amz-content-sha256": request.headers["X-Amz-Content-SHA256"],
        },
        payload_hash=request.headers["X-Amz-Content-SHA256"],
        credentials=credentials,
        region="auto",
        service="s3",
        now=SUITE_NOW,
    )
    assert ours["Authorization"] == request.headers["Authorization"]


def test_header_signing_refuses_expired_credentials_and_header_breaks() -> None:
    expired = Credentials("AKIDEXAMPLE", SUITE_SECRET, expires_at=SUITE_NOW)
    common: dict[str, Any] = {
        "host": "example.amazonaws.com", "path": "/", "query": "", "payload_hash": EMPTY_SHA256,
        "region": "us-east-1", "service": "service", "now": SUITE_NOW,
    }  # fmt: skip
    with pytest.raises(ValueError, match="expired at 2015-08-30T12:36:00"):
        sigv4.sign_headers("GET", headers={}, credentials=expired, **common)
    with pytest.raises(ValueError, match="printable ASCII"):
        sigv4.sign_headers(
            "GET", headers={"X-A": "1\r\nX-B: 2"}, credentials=SUITE_CREDENTIALS, **common
        )
