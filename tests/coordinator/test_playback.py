"""Playback URLs checked by an independent implementation of Cloudflare's documented HMAC check.

``cloudflare_check`` below is written from the Rules language reference (HMAC validation,
``is_timed_hmac_valid_v0``) and "Configure token authentication", not from
``coordinator.playback``, which it does not import for the check itself:

* the MessageMAC "satisfies the regular expression ``(.+)(.*)(\\d{10})-(.{43,})``": message,
  separator, a 10-digit Unix timestamp, ``-``, the base64 MAC;
* lengthOfSeparator is "the length of the separator between the timestamp and the message";
* the MAC is made "from the message and the timestamp regions" (the documented generator:
  ``hmac.new(secret, message + timestamp, sha256)``, base64);
* flag ``'s'``: "the URL-safe character set with no padding"; without it the base64 value is
  URL-encoded (the generator uses ``urllib.parse.quote_plus``);
* valid while ``http.request.timestamp.sec < timestamp + ttl``.

The documentation's worked example tokens (``cat.jpg?verify=1484063787-9JQB8...``) are
illustrative: they do not reproduce with the example secrets, so the checker is pinned to the
documented generator instead (``test_the_checker_accepts_the_documented_generator``).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
import urllib.parse
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.app import create_app
from coordinator.config import ConfigError, Settings, load_settings
from coordinator.errors import InvalidInput
from coordinator.playback import PlaybackSigner, url_path
from tests.coordinator.adapters import LambdaTransport

RULE_TTL = 86_400
HOSTS = ("media.example.eu", "live.example.eu")
# The key as the WAF rule holds it: a string literal (hex of 32 random bytes).
KEY_TEXT = "5f" * 32
NOW = datetime(2026, 3, 14, 15, 9, 26, 535_000, tzinfo=UTC)

_MESSAGE_MAC = re.compile(r"(.+)(\d{10})-(.{43,})", re.DOTALL)


def cloudflare_check(
    key: str,
    message_mac: str,
    ttl: int,
    current_timestamp: int,
    length_of_separator: int = 0,
    flags: str = "",
) -> bool:
    """is_timed_hmac_valid_v0(key, message_mac, ttl, current_timestamp, sep_len, flags)."""
    match = _MESSAGE_MAC.fullmatch(message_mac)
    if match is None:
        return False
    message_and_separator, timestamp, mac = match.groups()
    if length_of_separator:
        if len(message_and_separator) <= length_of_separator:
            return False
        message = message_and_separator[:-length_of_separator]
    else:
        message = message_and_separator
    digest = hmac.new(key.encode(), (message + timestamp).encode(), hashlib.sha256).digest()
    if flags == "s":
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        supplied = mac
    else:
        expected = base64.b64encode(digest).decode()
        supplied = urllib.parse.unquote(mac)
    if not hmac.compare_digest(expected, supplied):
        return False
    return current_timestamp < int(timestamp) + ttl


def edge_accepts(url: str, at: int, *, key: str = KEY_TEXT, ttl: int = RULE_TTL) -> bool:
    """What the deployed rule does with ``url``: MessageMAC is http.request.uri, separator 8."""
    parts = urllib.parse.urlsplit(url)
    uri = parts.path + ("?" + parts.query if parts.query else "")
    return cloudflare_check(key, uri, ttl, at, len("?verify="), "s")


def signer(**overrides) -> PlaybackSigner:
    values = {
        "secret": KEY_TEXT.encode(),
        "rule_ttl": RULE_TTL,
        "base_urls": tuple(f"https://{h}/" for h in HOSTS),
    }
    return PlaybackSigner(**(values | overrides))


def test_the_checker_accepts_the_documented_generator():
    # The Python 3 generator from "Configure token authentication", verbatim in substance.
    message, secret, separator = "/images/cat.jpg", "mysecrettoken", "verify"
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode("utf8"), f"{message}{timestamp}".encode(), hashlib.sha256)
    token = urllib.parse.quote_plus(base64.b64encode(digest.digest()))
    uri = f"{message}?{separator}={timestamp}-{token}"
    now = int(timestamp)
    assert cloudflare_check(secret, uri, 10800, now, 8)
    assert cloudflare_check(secret, uri, 10800, now + 10799, 8)
    assert not cloudflare_check(secret, uri, 10800, now + 10800, 8)
    assert not cloudflare_check("another", uri, 10800, now, 8)


def test_a_playback_url_has_the_documented_shape():
    signed = signer().sign("vod/title-0042/master.m3u8", now=NOW, expires_in=3600)
    assert signed.url.startswith("https://media.example.eu/vod/title-0042/master.m3u8?verify=")
    token = signed.url.split("?verify=", 1)[1]
    timestamp, mac = token.split("-", 1)
    assert re.fullmatch(r"\d{10}", timestamp)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", mac), "base64url, no padding"
    assert "?" not in token and "&" not in token, "the token is the last (only) parameter"
    assert signed.path == "/vod/title-0042/master.m3u8"


def test_the_edge_accepts_a_fresh_url_until_exactly_its_expiry():
    signed = signer().sign("vod/title-0042/seg_00001.m4s", now=NOW, expires_in=600)
    start = int(NOW.timestamp())
    assert signed.expires_at == datetime.fromtimestamp(start + 600, UTC)
    assert edge_accepts(signed.url, start)
    assert edge_accepts(signed.url, start + 599)
    assert not edge_accepts(signed.url, start + 600)
    assert not edge_accepts(signed.url, start + 86_400)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    expires_in=st.integers(min_value=1, max_value=RULE_TTL),
    offset=st.integers(min_value=0, max_value=10**6),
    microseconds=st.integers(min_value=0, max_value=999_999),
)
def test_expiry_is_exact_for_every_lifetime(expires_in, offset, microseconds):
    now = NOW + timedelta(seconds=offset, microseconds=microseconds)
    signed = signer().sign("live/ch1/index.m3u8", now=now, expires_in=expires_in)
    start = int(now.timestamp())
    assert edge_accepts(signed.url, start + expires_in - 1)
    assert not edge_accepts(signed.url, start + expires_in)
    # Back-dated to fit the rule's fixed ttl, never dated in the future.
    timestamp = int(signed.url.rsplit("=", 1)[1].split("-", 1)[0])
    assert timestamp <= start


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: url.replace("seg_00001", "seg_00002"),  # another object
        lambda url: url.replace("/vod/", "/vod2/"),
        lambda url: url[:-1] + ("A" if url[-1] != "A" else "B"),  # the MAC
        lambda url: re.sub(r"verify=(\d)", lambda m: f"verify={(int(m[1]) + 1) % 10}", url),
        lambda url: url.replace("?verify=", "?a=b&verify="),  # another parameter
        lambda url: url + "&x=1",  # the token must be last
        lambda url: url.split("?")[0],  # no token at all
    ],
)
def test_the_edge_refuses_a_tampered_url(tamper):
    signed = signer().sign("vod/title-0042/seg_00001.m4s", now=NOW, expires_in=600)
    start = int(NOW.timestamp())
    assert edge_accepts(signed.url, start)
    assert not edge_accepts(tamper(signed.url), start)


def test_the_edge_refuses_a_url_signed_with_another_key():
    signed = signer(secret=b"x" * 32).sign("vod/a.mp4", now=NOW, expires_in=60)
    assert not edge_accepts(signed.url, int(NOW.timestamp()))


def test_the_rule_key_is_the_literal_text_not_the_bytes_it_spells():
    # The rule holds the key as a string literal; Cloudflare keys the HMAC with its bytes.
    wrong = signer(secret=bytes.fromhex(KEY_TEXT)).sign("vod/a.mp4", now=NOW, expires_in=60)
    assert not edge_accepts(wrong.url, int(NOW.timestamp()))


def test_a_url_longer_than_the_rule_allows_is_refused():
    with pytest.raises(InvalidInput) as caught:
        signer(rule_ttl=3600).sign("vod/a.mp4", now=NOW, expires_in=3601)
    assert caught.value.code == "invalid_expires_in"


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("vod/title 42/seg 1.m4s", "/vod/title%2042/seg%201.m4s"),
        ("vod/été/index.m3u8", "/vod/%C3%A9t%C3%A9/index.m3u8"),
        ("vod/a+b=c/x.ts", "/vod/a%2Bb%3Dc/x.ts"),
        ("vod/~user_1-2.3/x.vtt", "/vod/~user_1-2.3/x.vtt"),  # unreserved stays as is
        ("vod/100%/x.mp4", "/vod/100%25/x.mp4"),
    ],
)
def test_paths_are_signed_in_the_form_the_request_carries(key, path):
    assert url_path(key) == path
    signed = signer().sign(key, now=NOW, expires_in=60)
    assert signed.path == path
    assert edge_accepts(signed.url, int(NOW.timestamp()))


@pytest.mark.parametrize("key", ["", "/vod/a.mp4", "vod//a.mp4", "vod/../a.mp4", "vod/./a.mp4"])
def test_paths_that_url_normalisation_would_rewrite_are_refused(key):
    with pytest.raises(InvalidInput):
        url_path(key)


def test_each_delivery_host_can_be_chosen_and_no_other():
    s = signer()
    assert s.sign("a.mp4", now=NOW, expires_in=60, host="live.example.eu").url.startswith(
        "https://live.example.eu/a.mp4?verify="
    )
    with pytest.raises(InvalidInput) as caught:
        s.sign("a.mp4", now=NOW, expires_in=60, host="evil.example.com")
    assert caught.value.code == "invalid_host"


@pytest.mark.parametrize(
    "overrides",
    [
        {"secret": b"short"},
        {"rule_ttl": 0},
        {"rule_ttl": 8 * 86_400},
        {"base_urls": ()},
        {"base_urls": ("http://media.example.eu/",)},
        {"base_urls": ("https://media.example.eu/vod/",)},
    ],
)
def test_a_misconfigured_signer_is_refused(overrides):
    with pytest.raises(ValueError):
        signer(**overrides)


def test_the_key_stays_out_of_repr():
    assert KEY_TEXT not in repr(signer())


# --- configuration and the HTTP route ----------------------------------------------------------

ADMIN_KEY = "a" * 40


def _env(tmp_path, **outputs) -> dict[str, str]:
    stack = {
        "jurisdiction": "eu",
        "r2_account_id": "0123456789abcdef0123456789abcdef",
        "delivery_bucket": "media-eu",
        "mezzanine_bucket": "masters-eu",
        "aws_region": "eu-central-1",
        "delivery_base_urls": [f"https://{h}/" for h in HOSTS],
        **outputs,
    }
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(stack))
    return {
        "COORDINATOR_STACK_OUTPUTS": str(path),
        "COORDINATOR_ADMIN_KEY": ADMIN_KEY,
        "COORDINATOR_TOKEN_KEYS": json.dumps({"k1": "t" * 40}),
        "R2_ACCESS_KEY_ID": "r2-key-id",
        "R2_SECRET_ACCESS_KEY": "r2-secret-value-0123456789",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-value-0123456789",
    }


def test_the_stack_outputs_configure_playback(tmp_path):
    # What `pulumi stack output --json --show-secrets` prints for a stack with signed delivery.
    settings = load_settings(
        _env(tmp_path, playback_hmac_key=KEY_TEXT, playback_token_ttl=RULE_TTL)
    )
    assert settings.playback == signer()


def test_playback_is_off_without_a_key(tmp_path):
    assert load_settings(_env(tmp_path)).playback is None


def test_the_environment_configures_playback_too(tmp_path):
    env = {
        **_env(tmp_path, delivery_base_urls=None),
        "COORDINATOR_PLAYBACK_HMAC_KEY": KEY_TEXT,
        "COORDINATOR_PLAYBACK_TOKEN_TTL": "600",
        "DELIVERY_BASE_URLS": "https://media.example.eu/, https://live.example.eu/",
    }
    assert load_settings(env).playback == signer(rule_ttl=600)


@pytest.mark.parametrize(
    ("outputs", "words"),
    [
        ({"playback_hmac_key": KEY_TEXT}, "COORDINATOR_PLAYBACK_TOKEN_TTL"),
        ({"playback_hmac_key": "short", "playback_token_ttl": 60}, "at least 32 bytes"),
        (
            {"playback_hmac_key": KEY_TEXT, "playback_token_ttl": 60, "delivery_base_urls": "x"},
            "list",
        ),
    ],
)
def test_a_bad_playback_setting_is_named_without_the_key(tmp_path, outputs, words):
    with pytest.raises(ConfigError) as caught:
        load_settings(_env(tmp_path, **outputs))
    assert words in str(caught.value)
    assert KEY_TEXT not in str(caught.value)


def _post(
    settings: Settings, body: object, headers: dict[str, str], adapter: str
) -> httpx.Response:
    """POST /v1/playback in process over ``adapter``, the clock stopped at NOW."""
    if adapter == "lambda":
        transport = LambdaTransport(settings, clock=lambda: NOW)
        with httpx.Client(transport=transport, base_url="https://coordinator") as client:
            return client.post("/v1/playback", headers=headers, json=body)

    async def send() -> httpx.Response:
        app = create_app(settings, clock=lambda: NOW)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://coordinator") as c:
            return await c.post("/v1/playback", headers=headers, json=body)

    # Not asyncio.run: it leaves the thread without an event loop, which Pulumi's synchronous
    # helpers in later tests expect to find.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(send())
    finally:
        loop.close()


def _admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


def test_the_route_mints_urls_the_edge_accepts(tmp_path, adapter):
    settings = load_settings(
        _env(tmp_path, playback_hmac_key=KEY_TEXT, playback_token_ttl=RULE_TTL)
    )
    body = {"paths": ["vod/t/master.m3u8", "vod/t/seg 1.m4s"], "expires_in": 900}
    answer = _post(settings, body | {"host": "live.example.eu"}, _admin(), adapter)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    start = int(NOW.timestamp())
    assert body["expires_at"] == (
        datetime.fromtimestamp(start + 900, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    assert [u["path"] for u in body["urls"]] == ["/vod/t/master.m3u8", "/vod/t/seg%201.m4s"]
    for entry in body["urls"]:
        assert entry["url"].startswith("https://live.example.eu/")
        assert edge_accepts(entry["url"], start + 899)
        assert not edge_accepts(entry["url"], start + 900)


def test_the_default_lifetime_fits_the_rule(tmp_path, adapter):
    settings = load_settings(_env(tmp_path, playback_hmac_key=KEY_TEXT, playback_token_ttl=60))
    body = _post(settings, {"paths": ["a.mp4"]}, _admin(), adapter).json()
    assert body["expires_at"] == (NOW.replace(microsecond=0) + timedelta(seconds=60)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({}, {"paths": ["a.mp4"]}, 401, None),
        ({"Authorization": "Bearer " + "b" * 40}, {"paths": ["a.mp4"]}, 401, "invalid_admin_key"),
        (_admin(), {"paths": []}, 400, "invalid_paths"),
        (_admin(), {"paths": ["a.mp4"] * 101}, 400, "invalid_paths"),
        (_admin(), {"paths": [1]}, 400, "invalid_paths"),
        (_admin(), {"paths": ["../a.mp4"]}, 400, "invalid_key"),
        (_admin(), {"paths": ["a.mp4"], "expires_in": RULE_TTL + 1}, 400, "invalid_expires_in"),
        (_admin(), {"paths": ["a.mp4"], "host": "evil.example.com"}, 400, "invalid_host"),
        (_admin(), {"paths": ["a.mp4"], "ttl": 5}, 400, "unknown_field"),
    ],
)
def test_the_route_refuses_what_it_cannot_sign(tmp_path, adapter, headers, body, status, code):
    settings = load_settings(
        _env(tmp_path, playback_hmac_key=KEY_TEXT, playback_token_ttl=RULE_TTL)
    )
    answer = _post(settings, body, headers, adapter)
    assert answer.status_code == status, answer.text
    if code is not None:
        assert answer.json()["error"]["code"] == code
    assert "verify=" not in answer.text


def test_without_signed_delivery_the_route_is_404_for_the_admin(tmp_path, adapter):
    settings = load_settings(_env(tmp_path))
    answer = _post(settings, {"paths": ["a.mp4"]}, _admin(), adapter)
    anonymous = _post(settings, {"paths": ["a.mp4"]}, {}, adapter)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "playback_not_configured"
    assert anonymous.status_code == 401, "nothing about the configuration before the admin key"
