"""Signed playback URLs, checked at Cloudflare's edge by the WAF's ``is_timed_hmac_valid_v0()``.

A delivery hostname with signed delivery on (``infra/components/edge.py``) blocks every request
whose URL does not end in a valid token. The token is Cloudflare's documented HMAC scheme:

* *message*: the URL path of the object (``/vod/title/master.m3u8``), percent-encoded the way
  the request will carry it;
* *separator*: ``?verify=``; the rule passes ``http.request.uri`` as the MessageMAC and
  ``len("?verify=") = 8`` as lengthOfSeparator, so the token must be the only query parameter;
* *timestamp*: 10 decimal digits of Unix time, seconds;
* *mac*: HMAC-SHA256 over ``message + timestamp`` with the shared key, base64 with the URL-safe
  alphabet and no padding (the rule's ``"s"`` flag), so nothing in it needs percent-encoding and
  no URL normalisation can change it.

The edge accepts the token while ``http.request.timestamp.sec < timestamp + ttl``, where ``ttl``
is a literal in the rule, the same for every URL. A URL that should live ``expires_in <= ttl``
seconds therefore carries the timestamp ``now + expires_in - ttl``: it stops working exactly at
``now + expires_in``, and the timestamp is never in the future.

Pure functions of their arguments, no I/O: the clock is an argument.

References:
https://developers.cloudflare.com/waf/custom-rules/use-cases/configure-token-authentication/ ,
https://developers.cloudflare.com/ruleset-engine/rules-language/functions/#hmac-validation ,
https://developers.cloudflare.com/rules/normalization/ (what the edge does to a path first)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from .errors import InvalidInput
from .keys import validate_key

__all__ = [
    "MAC_FLAGS",
    "MAX_RULE_TTL",
    "MIN_KEY_BYTES",
    "SEPARATOR",
    "TOKEN_PARAMETER",
    "PlaybackSigner",
    "PlaybackUrl",
    "mac",
    "token",
    "url_path",
]

TOKEN_PARAMETER = "verify"  # noqa: S105 - a query parameter name, not a password
# "The separator between message and timestamp"; its length is the rule's lengthOfSeparator.
SEPARATOR = f"?{TOKEN_PARAMETER}="
# "When you set this optional argument to 's', the function expects the value of the
# base64-encoded mac ... to use the URL-safe character set with no padding."
MAC_FLAGS = "s"
MIN_KEY_BYTES = 32
# A token's timestamp is "the 10-digit Unix timestamp": the rule's ttl may not reach past it.
MAX_RULE_TTL = 7 * 86_400
_TEN_DIGITS = range(1_000_000_000, 10_000_000_000)


def url_path(key: str) -> str:
    """The URL path that serves object ``key``: ``/`` plus the key, percent-encoded.

    Every byte outside RFC 3986's unreserved set and ``/`` is encoded (upper-case hex), which is
    the form Cloudflare's URL normalisation leaves as it is, so the edge checks the MAC over the
    same text it was computed on. Keys follow the broker's rules (no ``.``/``..`` segments, no
    ``//``), which normalisation would rewrite.
    """
    return "/" + quote(validate_key(key, what="path"), safe="/")


def mac(secret: bytes, message: str, timestamp: int) -> str:
    """base64url (no padding) of HMAC-SHA256(secret, message + timestamp)."""
    digest = hmac.new(secret, f"{message}{timestamp}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def token(secret: bytes, message: str, timestamp: int) -> str:
    """The ``<timestamp>-<mac>`` value of the ``verify`` parameter."""
    if timestamp not in _TEN_DIGITS:
        raise ValueError("a token's timestamp has exactly 10 digits")
    return f"{timestamp}-{mac(secret, message, timestamp)}"


@dataclass(frozen=True, slots=True)
class PlaybackUrl:
    """One signed URL and the moment the edge starts refusing it."""

    path: str
    url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PlaybackSigner:
    """Signs playback URLs for the delivery hostnames' WAF rule.

    ``rule_ttl`` must equal the ttl literal of the deployed rule (stack output
    ``playback_token_ttl``); ``base_urls`` are the delivery hostnames' ``https://host/``.
    """

    secret: bytes = field(repr=False)
    rule_ttl: int
    base_urls: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_BYTES:
            raise ValueError(f"the playback key must be at least {MIN_KEY_BYTES} bytes")
        if not 1 <= self.rule_ttl <= MAX_RULE_TTL:
            raise ValueError(f"rule_ttl must be between 1 and {MAX_RULE_TTL}")
        if not self.base_urls:
            raise ValueError("at least one delivery base URL is needed")
        for base in self.base_urls:
            parts = urlsplit(base)
            if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
                raise ValueError(f"{base!r} is not https://<host>/")
            if parts.query or parts.fragment:
                raise ValueError(f"{base!r} is not https://<host>/")

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(urlsplit(base).netloc for base in self.base_urls)

    def base_url(self, host: str | None) -> str:
        """The base URL of ``host`` (one of the delivery hostnames), the first by default."""
        if host is None:
            return self.base_urls[0]
        for base, known in zip(self.base_urls, self.hosts, strict=True):
            if host == known:
                return base
        raise InvalidInput(
            f"host must be one of the delivery hostnames: {', '.join(self.hosts)}",
            code="invalid_host",
        )

    def sign(
        self, key: str, *, now: datetime, expires_in: int, host: str | None = None
    ) -> PlaybackUrl:
        """A URL for object ``key`` that the edge accepts from ``now`` for ``expires_in`` s."""
        if isinstance(expires_in, bool) or not 1 <= expires_in <= self.rule_ttl:
            raise InvalidInput(
                f"expires_in must be an integer from 1 to {self.rule_ttl}",
                code="invalid_expires_in",
            )
        path = url_path(key)
        issued = int(now.timestamp())
        expires = issued + expires_in
        value = token(self.secret, path, expires - self.rule_ttl)
        base = self.base_url(host).rstrip("/")
        return PlaybackUrl(
            path=path,
            url=f"{base}{path}{SEPARATOR}{value}",
            expires_at=datetime.fromtimestamp(expires, UTC),
        )
