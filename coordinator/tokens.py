"""Worker tokens: a job's scope, signed by the coordinator, carried by a credential-less worker.

A token is a JWT (HS256, via PyJWT) whose claims are the whole of what a worker may ask for:
its job id (``sub``), the mezzanine key(s) it may read, the output prefix it may write under,
and when all of that ends (``exp``). The coordinator keeps no job table: whoever holds a signing
key can mint or read a token, so any control plane can.

Keys rotate by ``kid``: the header names the key that signed the token, verification accepts
every key it was given, and signing uses one of them. Deploy a new key next to the old one,
switch signing to it, and drop the old one after the longest job TTL; jobs in flight keep
working throughout.

Time is an argument (``now``), never read here: PyJWT's own ``exp``/``iat`` checks read the wall
clock, so they are switched off and done below against the caller's clock.

References: RFC 7519 (JWT), RFC 7518 section 3.2 (HS256 keys of at least 256 bits),
RFC 8725 section 3.1 (pin the algorithm; never trust the token's ``alg``).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt

from .errors import OutOfScope, Unauthenticated

__all__ = [
    "ALGORITHM",
    "AUDIENCE",
    "ISSUER",
    "MIN_KEY_BYTES",
    "JobScope",
    "TokenCodec",
    "is_job_id",
    "new_job_id",
]

ALGORITHM = "HS256"
AUDIENCE = "r2-video-worker"
ISSUER = "r2-video-coordinator"
MIN_KEY_BYTES = 32  # RFC 7518 3.2: an HS256 key at least as long as the hash output
# A real token is well under 2 KiB; refuse to parse anything bigger. With one mezzanine key and
# a prefix of 1,024 UTF-8 bytes each, claims written as UTF-8 (not \u escapes, which cost up to
# 3 bytes per key byte) keep the worst token near 6 KiB: every token issue() makes verifies.
MAX_TOKEN_CHARS = 8192
VERIFIED_TOKENS = 256  # decoded tokens remembered per codec (a few live jobs per process)
_NO_NBF = object()  # the token has no nbf claim
MAX_MEZZANINE_KEYS = 16
# Tokens are minted by the coordinator itself, but Lambda instances' clocks drift a little.
IAT_LEEWAY = timedelta(seconds=60)

_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_KID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_REQUIRED = ("iss", "aud", "sub", "iat", "exp", "mezzanine_keys", "output_prefix")


def is_job_id(value: object) -> bool:
    """True for a job id: 1-64 of ``[A-Za-z0-9_-]``, starting alphanumeric (safe in a URL path)."""
    return isinstance(value, str) and _JOB_ID.fullmatch(value) is not None


def new_job_id() -> str:
    """A fresh, unguessable job id."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class JobScope:
    """Everything a worker token grants: one job's inputs, output prefix and lifetime."""

    job_id: str
    mezzanine_keys: tuple[str, ...]
    output_prefix: str
    issued_at: datetime
    expires_at: datetime


def _epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return int(moment.timestamp())


def _b64url(secret: bytes) -> str:
    return base64.urlsafe_b64encode(secret).rstrip(b"=").decode("ascii")


class TokenCodec:
    """Issues and verifies worker tokens with a set of HS256 keys, one of which signs.

    The key objects are built once, here; ``repr`` shows key ids only, never a secret.
    """

    __slots__ = ("_audience", "_issuer", "_jwt", "_keys", "_signing_kid", "_verified")

    def __init__(
        self,
        keys: Mapping[str, str | bytes],
        *,
        signing_kid: str,
        audience: str = AUDIENCE,
        issuer: str = ISSUER,
    ) -> None:
        if not keys:
            raise ValueError("at least one token key is needed")
        built: dict[str, jwt.PyJWK] = {}
        for kid, secret in keys.items():
            if not isinstance(kid, str) or _KID.fullmatch(kid) is None:
                raise ValueError(f"token key id {kid!r} must be 1-64 of [A-Za-z0-9._-]")
            raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
            if len(raw) < MIN_KEY_BYTES:
                raise ValueError(f"token key {kid!r} must be at least {MIN_KEY_BYTES} bytes")
            built[kid] = jwt.PyJWK({"kty": "oct", "k": _b64url(raw), "kid": kid}, ALGORITHM)
        if signing_kid not in built:
            raise ValueError(f"signing key id {signing_kid!r} is not among the token keys")
        self._keys = built
        self._signing_kid = signing_kid
        self._audience = audience
        self._issuer = issuer
        self._jwt = jwt.PyJWT(
            options={
                "verify_exp": False,  # checked below against the injected clock
                "verify_iat": False,
                "verify_nbf": False,
                "require": list(_REQUIRED),
                "enforce_minimum_key_length": True,
            }
        )
        # A worker sends the same token on every call. What decoding it yields (signature,
        # audience, issuer, claim shapes) depends on nothing but the token and these keys, so
        # it is remembered per token; the clock checks run on every call. Failures are not
        # cached (lru_cache does not keep exceptions): a bad token is decoded each time.
        self._verified = lru_cache(maxsize=VERIFIED_TOKENS)(self._decode)

    def __repr__(self) -> str:
        return f"TokenCodec(kids={sorted(self._keys)!r}, signing_kid={self._signing_kid!r})"

    @property
    def signing_kid(self) -> str:
        return self._signing_kid

    def issue(self, scope: JobScope) -> str:
        """A signed token granting ``scope``."""
        if not is_job_id(scope.job_id):
            raise ValueError(f"invalid job id {scope.job_id!r}")
        payload: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": scope.job_id,
            "iat": _epoch(scope.issued_at),
            "exp": _epoch(scope.expires_at),
            "mezzanine_keys": list(scope.mezzanine_keys),
            "output_prefix": scope.output_prefix,
        }
        token = self._jwt.encode(
            payload,
            self._keys[self._signing_kid],
            algorithm=ALGORITHM,
            headers={"kid": self._signing_kid},
            json_encoder=_Utf8Json,
        )
        if len(token) > MAX_TOKEN_CHARS:  # never hand out a token that verify() refuses
            raise ValueError(f"the scope makes a token longer than {MAX_TOKEN_CHARS} characters")
        return token

    def verify(self, token: str, *, now: datetime, job_id: str | None = None) -> JobScope:
        """The scope ``token`` grants at ``now``; raises ``Unauthenticated`` or ``OutOfScope``.

        With ``job_id``, a valid token for another job is refused (``OutOfScope``): a worker
        of job A cannot use its token on job B's routes.
        """
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            raise Unauthenticated("malformed token", code="invalid_token")
        scope, nbf = self._verified(token)
        if scope.expires_at <= now:
            raise Unauthenticated("token expired", code="token_expired")
        if scope.issued_at > now + IAT_LEEWAY:
            raise Unauthenticated("token issued in the future", code="invalid_token")
        # We never set nbf, but another control plane minting tokens may (RFC 7519 4.1.5):
        # honour it with the same leeway as iat, against the injected clock.
        if nbf is not _NO_NBF:
            if isinstance(nbf, bool) or not isinstance(nbf, int):
                raise Unauthenticated("token nbf is not a NumericDate", code="invalid_token")
            if _epoch(now + IAT_LEEWAY) < nbf:
                raise Unauthenticated("token is not valid yet (nbf)", code="token_not_yet_valid")
        if job_id is not None and scope.job_id != job_id:
            raise OutOfScope("token is for another job", code="wrong_job")
        return scope

    def _decode(self, token: str) -> tuple[JobScope, object]:
        """The scope and ``nbf`` claim of a token whose signature and claims check."""
        key = self._key_for(token)
        try:
            payload = self._jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(_reason(exc), code="invalid_token") from None
        return _scope_from(payload), payload.get("nbf", _NO_NBF)

    def _key_for(self, token: str) -> jwt.PyJWK:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed token", code="invalid_token") from None
        if header.get("alg") != ALGORITHM:
            # Checked again by PyJWT with the pinned list; refusing early keeps "none" and
            # algorithm-confusion tokens away from any key material.
            raise Unauthenticated("token algorithm not allowed", code="invalid_token")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthenticated("token has no key id", code="invalid_token")
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated("token key id is unknown", code="invalid_token")
        return key


class _Utf8Json(json.JSONEncoder):
    """Claims as UTF-8 text (RFC 7519 section 7.1), not ASCII with ``\\uXXXX`` escapes: a key
    of 4-byte characters would otherwise triple in the token."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**{**options, "ensure_ascii": False})


# Why a token failed, in words safe to return: none of them quotes the token or a key.
_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.InvalidAudienceError, "token is for another audience"),
    (jwt.InvalidIssuerError, "token is from another issuer"),
    (jwt.InvalidAlgorithmError, "token algorithm not allowed"),
    (jwt.InvalidSignatureError, "token signature does not verify"),
    (jwt.MissingRequiredClaimError, "token lacks a required claim"),
)


def _reason(exc: jwt.PyJWTError) -> str:
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return "malformed token"


def _scope_from(payload: Mapping[str, Any]) -> JobScope:
    """Shape-check the claims: a token signed by a key we trust may still come from a buggy
    minting tool, and nothing below should meet a claim of the wrong type."""
    sub = payload["sub"]
    keys = payload["mezzanine_keys"]
    prefix = payload["output_prefix"]
    iat, exp = payload["iat"], payload["exp"]
    if not is_job_id(sub):
        raise Unauthenticated("token job id is malformed", code="invalid_token")
    if (
        not isinstance(keys, list)
        or not 1 <= len(keys) <= MAX_MEZZANINE_KEYS
        or not all(isinstance(k, str) for k in keys)
        or not isinstance(prefix, str)
    ):
        raise Unauthenticated("token scope is malformed", code="invalid_token")
    # bool is an int in Python; a JSON true is not a timestamp.
    if any(isinstance(t, bool) or not isinstance(t, int) for t in (iat, exp)):
        raise Unauthenticated("token times are malformed", code="invalid_token")
    try:
        issued_at = datetime.fromtimestamp(iat, UTC)
        expires_at = datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        raise Unauthenticated("token times are malformed", code="invalid_token") from None
    return JobScope(
        job_id=sub,
        mezzanine_keys=tuple(keys),
        output_prefix=prefix,
        issued_at=issued_at,
        expires_at=expires_at,
    )
