"""The broker's pure rules: keys, prefixes, content types, multipart plans, expiry caps."""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from coordinator.broker import MAX_EXPIRES, Broker, OutputFile, url_lifetime
from coordinator.errors import InvalidInput, StoreUnavailable
from coordinator.handles import UploadHandles
from coordinator.keys import output_key, validate_content_type, validate_key, validate_prefix
from coordinator.multipart import (
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    plan_multipart,
)
from coordinator.sigv4 import Credentials
from coordinator.store import Store
from coordinator.tokens import JobScope

NOW = datetime(2026, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)
MiB = 2**20
PREFIX = "renditions/title-1/"
CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def _store(bucket: str, **kw: object) -> Store:
    def no_network() -> None:
        raise AssertionError("pure broker paths must not touch the store")

    return Store(
        endpoint="https://account.r2.example.com",
        region="auto",
        bucket=bucket,
        credentials=kw.pop("credentials", CREDS),  # type: ignore[arg-type]
        client=no_network,
        **kw,  # type: ignore[arg-type]
    )


def _scope(*, lifetime: timedelta = timedelta(hours=2)) -> JobScope:
    start = NOW.replace(microsecond=0)
    return JobScope("job-1", ("masters/a.mov",), PREFIX, start, start + lifetime)


HANDLES = UploadHandles({"k1": "0" * 32}, signing_kid="k1")
BROKER = Broker(mezzanine=_store("mezzanine"), delivery=_store("delivery"), handles=HANDLES)

BAD_KEYS = {
    "dot-dot": "a/../b",
    "leading-dot-dot": "../b",
    "trailing-dot-dot": "a/..",
    "dot": "a/./b",
    "only-dot": ".",
    "double-slash": "a//b",
    "leading-slash": "/a",
    "nul": "a\x00b",
    "newline": "a\nb",
    "del": "a\x7fb",
    "c1": "a\x85b",
    "backslash": "a\\..\\b",
    "lone-surrogate": "a\ud800b",
    "too-long": "k" * 1025,
    "too-long-in-utf8": "é" * 513,
    "empty": "",
    # Invisible format characters and slash look-alikes (Unicode category Cf; confusables of
    # U+002F SOLIDUS): inside the prefix, but they make a key read as another name.
    "first-strong-isolate": "a\u2068b.ts",
    "byte-order-mark": "\ufeffa.ts",
    "word-joiner": "a\u2060b.ts",
    "left-to-right-mark": "a\u200eb.ts",
    "fraction-slash": "a\u2044b.ts",
    "big-solidus": "a\u29f8b.ts",
}


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidInput):
        validate_key(key)
    with pytest.raises(InvalidInput):
        output_key(PREFIX, key)


@pytest.mark.parametrize(
    "key", ["a/b.ts", "..a/b..", "a/.hidden", "x%2e%2e/.%2ex", "a%2F..%2Fb", "k" * 1024, "é" * 512]
)
def test_odd_but_harmless_keys_are_accepted(key: str) -> None:
    assert validate_key(key) == key


def test_not_a_string_is_refused() -> None:
    for value in (None, 3, ["a"], {"a": 1}):
        with pytest.raises(InvalidInput):
            validate_key(value)


@pytest.mark.parametrize("prefix", ["jobs/1", "", "/jobs/1/", "jobs//1/", "jobs/../1/", "a\x01/"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(InvalidInput):
        validate_prefix(prefix)


def test_output_key_is_prefix_plus_path_and_respects_the_total_length() -> None:
    assert output_key(PREFIX, "hls/index.m3u8") == PREFIX + "hls/index.m3u8"
    assert output_key(PREFIX, "a%2F..%2Fb") == PREFIX + "a%2F..%2Fb"  # literal, confined
    with pytest.raises(InvalidInput, match="output key"):
        output_key(PREFIX, "k" * (1025 - len(PREFIX)))
    with pytest.raises(InvalidInput):
        output_key(PREFIX, "dir/")


def _object_key_of(url: str, bucket: str) -> str:
    path = urlsplit(url).path
    assert path.startswith(f"/{bucket}/")
    return unquote(path[len(bucket) + 2 :])


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.text(max_size=80))
@example("../../etc/passwd")
@example("a/%2e%2e/%2e%2e/b")
@example("a%2F..%2F..%2Fb")
@example("..%2f..%2fb")
@example("a/b/../../..")
def test_no_path_yields_a_url_outside_the_prefix(path: str) -> None:
    """Whatever the path, either no URL at all, or one whose key (decoded once, as a server
    does, and even dot-segment-normalised, as a CDN might) stays strictly under the prefix."""
    try:
        puts, _ = BROKER.output_urls(
            _scope(), [OutputFile(path, "video/mp2t")], now=NOW, expires_in=60
        )
    except InvalidInput:
        return
    key = _object_key_of(puts[0].url, "delivery")
    assert key == PREFIX + path
    normalised = posixpath.normpath("/" + key).lstrip("/")
    assert normalised.startswith(PREFIX) and len(normalised) > len(PREFIX)


def test_a_bad_file_anywhere_in_the_request_yields_no_url_at_all() -> None:
    files = [OutputFile("ok.ts", "video/mp2t"), OutputFile("../escape.ts", "video/mp2t")]
    with pytest.raises(InvalidInput):
        BROKER.output_urls(_scope(), files, now=NOW, expires_in=60)


@pytest.mark.parametrize(
    "content_type",
    ["video/mp4", "application/vnd.apple.mpegurl", "text/plain; charset=utf-8", 'a/b; c="d e"'],
)
def test_media_types_are_accepted(content_type: str) -> None:
    assert validate_content_type(content_type) == content_type


@pytest.mark.parametrize(
    "content_type",
    [
        "video",
        "",
        "video/mp4\r\nX-Injected: 1",
        "vidéo/mp4",
        " video/mp4",
        "video/mp4;",
        "x/" + "y" * 300,
        "application/x-www-form-urlencoded; charset=utf-8",  # botocore would not sign it
        None,
    ],
)
def test_bad_media_types_are_refused(content_type: object) -> None:
    with pytest.raises(InvalidInput):
        validate_content_type(content_type)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.integers(min_value=1, max_value=MAX_OBJECT_SIZE))
@example(1)
@example(5 * MiB)
@example(5 * MiB + 1)
@example(MAX_PARTS * 5 * MiB)
@example(MAX_PARTS * 5 * MiB + 1)
@example(MAX_OBJECT_SIZE)
def test_multipart_plan_obeys_r2_limits(size: int) -> None:
    plan = plan_multipart(size)
    assert MIN_PART_SIZE <= plan.part_size <= MAX_PART_SIZE
    assert plan.part_size % MiB == 0
    assert 1 <= plan.part_count <= MAX_PARTS
    # Every part but the last is part_size; the last is 1..part_size bytes.
    last = plan.part_length(plan.part_count)
    assert 1 <= last <= plan.part_size
    assert plan.part_size * (plan.part_count - 1) + last == size


def test_multipart_plan_examples() -> None:
    assert (plan_multipart(12 * MiB).part_size, plan_multipart(12 * MiB).part_count) == (5 * MiB, 3)
    big = plan_multipart(100 * 2**30)  # 100 GiB does not fit 10,000 parts of 5 MiB
    assert big.part_size == 11 * MiB and big.part_count == 9310


@pytest.mark.parametrize("size", [0, -1, MAX_OBJECT_SIZE + 1, True, 1.5, "10", None])
def test_multipart_plan_refuses_impossible_sizes(size: object) -> None:
    with pytest.raises(InvalidInput):
        plan_multipart(size)


def test_url_lifetime_is_the_least_of_every_cap() -> None:
    now = NOW.replace(microsecond=0)
    token_end = now + timedelta(hours=1)
    kw = {"now": now, "scope_expires_at": token_end, "credentials": CREDS}
    assert url_lifetime(60, **kw) == 60
    assert url_lifetime(86400, **kw) == 3600  # the token ends first
    far = {**kw, "scope_expires_at": now + timedelta(days=30)}
    assert url_lifetime(10**9, **far) == MAX_EXPIRES  # SigV4's 7 days
    assert url_lifetime(86400, **far, store_max=900) == 900
    temporary = Credentials("ASIA", "secret", "session", expires_at=now + timedelta(seconds=1234))
    assert url_lifetime(86400, **{**far, "credentials": temporary}) == 1234


def test_url_lifetime_refuses_expired_credentials_and_bad_asks() -> None:
    now = NOW.replace(microsecond=0)
    dead = Credentials("ASIA", "secret", "session", expires_at=now)
    with pytest.raises(StoreUnavailable):
        url_lifetime(60, now=now, scope_expires_at=now + timedelta(hours=1), credentials=dead)
    for asked in (0, -5, True, 1.5):
        with pytest.raises(InvalidInput):
            url_lifetime(
                asked, now=now, scope_expires_at=now + timedelta(hours=1), credentials=CREDS
            )  # type: ignore[arg-type]


def test_expires_at_is_exactly_when_the_signature_stops() -> None:
    """X-Amz-Date has whole seconds: expires_at is that date plus X-Amz-Expires."""
    puts, expires_at = BROKER.output_urls(
        _scope(), [OutputFile("a.ts", "video/mp2t")], now=NOW, expires_in=120
    )
    query = dict(p.split("=", 1) for p in urlsplit(puts[0].url).query.split("&"))
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert expires_at == signed_at + timedelta(seconds=int(query["X-Amz-Expires"]))
    assert query["X-Amz-Expires"] == "120"
    assert query["X-Amz-SignedHeaders"] == "content-type%3Bhost"
    assert not any(name.lower().startswith("x-amz-checksum") for name in query)


def test_input_urls_are_capped_by_the_mezzanine_store() -> None:
    capped = Broker(
        mezzanine=_store("mezzanine", max_expires=300), delivery=_store("delivery"), handles=HANDLES
    )
    urls, expires_at = capped.input_urls(_scope(), now=NOW, expires_in=3600)
    assert expires_at == NOW.replace(microsecond=0) + timedelta(seconds=300)
    assert "X-Amz-Expires=300" in urls[0].get_url and "X-Amz-Expires=300" in urls[0].head_url
