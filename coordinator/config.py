"""The coordinator's settings: from environment variables and, optionally, Pulumi's outputs.

Non-secret facts come from the JSON that ``pulumi stack output --json --show-secrets`` prints,
saved to a file named by ``COORDINATOR_STACK_OUTPUTS``; any of them can be set (or overridden)
by an environment variable. Secrets come from environment variables (locally, your shell) or,
when ``COORDINATOR_SECRET_ARN`` is set (on Lambda), from one JSON secret in AWS Secrets Manager
read on the first event (``coordinator/secrets.py``). A bad or missing setting raises
``ConfigError`` naming the variable, never quoting a secret's value.

Environment variables (stack output key in brackets):

``COORDINATOR_STACK_OUTPUTS``
    Path to the saved ``pulumi stack output --json --show-secrets`` JSON. Optional.
``COORDINATOR_SECRET_ARN`` / ``COORDINATOR_SECRET_VERSION``
    A Secrets Manager secret (and optionally its version id) holding the admin key, token keys
    and R2 keys as JSON; its values win over the variables below. See ``coordinator/secrets.py``.
``COORDINATOR_ADMIN_KEY`` [``coordinator_admin_key``]
    Secret the control plane sends as ``Authorization: Bearer <key>`` to create jobs; 32+
    characters.
``COORDINATOR_TOKEN_KEYS``
    Secret. JSON object ``{"kid": "secret", ...}`` of HS256 keys (32+ bytes each) that verify
    worker tokens. Several keys let the signing key rotate without breaking jobs in flight.
``COORDINATOR_TOKEN_SIGNING_KID``
    Which of those keys signs new tokens; needed only when there are several.
``COORDINATOR_DEFAULT_EXPIRES_IN``
    Lifetime of a presigned URL when the worker does not ask (seconds, default 3600).
``COORDINATOR_MAX_JOB_TTL``
    Longest job (token) lifetime accepted at job creation (seconds, default 86400, at most
    604800: no presigned URL outlives 7 days anyway).
``R2_JURISDICTION`` [``jurisdiction``]
    ``default``, ``eu``, ``fedramp`` or ``us``; with the account id it decides the R2 endpoint.
``R2_ACCOUNT_ID`` [``r2_account_id``]
    Cloudflare account id (32 hex characters).
``R2_ENDPOINT_URL`` [``r2_endpoint``]
    The R2 S3 endpoint. From the environment it overrides everything (e.g. a local store);
    from the stack it must agree with ``endpoints.r2_endpoint(account, jurisdiction)``.
``R2_ACCESS_KEY_ID`` / ``R2_SECRET_ACCESS_KEY``
    Secret. The bucket-scoped R2 S3 credentials the delivery PUTs are signed with.
``DELIVERY_BUCKET`` [``delivery_bucket``] / ``MEZZANINE_BUCKET`` [``mezzanine_bucket``]
    The R2 delivery bucket and the S3 mezzanine bucket.
``AWS_REGION`` (or ``AWS_DEFAULT_REGION``) [``aws_region``]
    Region of the mezzanine bucket; S3 URLs are signed for it.
``S3_ENDPOINT_URL``
    Overrides ``https://s3.<region>.<partition DNS suffix>`` (a local store, or a FIPS endpoint).
``S3_ADDRESSING_STYLE``
    ``virtual`` (default on AWS) or ``path`` (default with ``S3_ENDPOINT_URL``).
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``
    Secret. Credentials the mezzanine GETs are signed with: on Lambda, the role's temporary
    credentials that Lambda puts in the environment.
``AWS_CREDENTIAL_EXPIRATION``
    When temporary credentials expire (ISO 8601). URLs are capped to it.
``S3_MAX_EXPIRES_IN``
    Cap on mezzanine URL lifetime (seconds). Default 604800, or 3600 when a session token is
    set without ``AWS_CREDENTIAL_EXPIRATION``: a URL dies with the session that signed it, and
    Lambda does not say when that is.
``COORDINATOR_PLAYBACK_HMAC_KEY`` [``playback_hmac_key``]
    Secret. The key of the delivery hostnames' signed-delivery WAF rule, as the rule holds it
    (the text, not the bytes it may spell). Unset: ``POST /v1/playback`` answers 404.
``COORDINATOR_PLAYBACK_TOKEN_TTL`` [``playback_token_ttl``]
    The rule's ttl: the longest a playback URL lives. Must equal the deployed rule's.
``DELIVERY_BASE_URLS`` [``delivery_base_urls``]
    The delivery hostnames' ``https://host/`` (comma-separated; a list in the stack outputs).

References: https://www.pulumi.com/docs/iac/cli/commands/pulumi_stack_output/ ,
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html ,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/ShareObjectPreSignedURL.html
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from . import sigv4
from .endpoints import SIGV4_REGION, Jurisdiction, aws_partition, is_account_id, r2_endpoint
from .errors import ConfigError
from .playback import PlaybackSigner
from .sigv4 import MAX_EXPIRES, Credentials
from .tokens import TokenCodec

__all__ = [
    "DEFAULT_EXPIRES_IN",
    "DEFAULT_MAX_JOB_TTL",
    "ConfigError",
    "Settings",
    "StoreSettings",
    "aws_s3_endpoint",
    "load_settings",
    "read_stack_outputs",
]

DEFAULT_EXPIRES_IN = 3600
DEFAULT_MAX_JOB_TTL = 86400
# A session token of unknown lifetime: keep mezzanine URLs short rather than promise a lifetime
# the signing session may not have.
UNKNOWN_SESSION_MAX_EXPIRES = 3600
MIN_ADMIN_KEY_CHARS = 32


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Where one object store is and what signs for it."""

    endpoint: str
    region: str
    bucket: str
    credentials: Credentials
    addressing_style: Literal["path", "virtual"] = "path"
    max_expires: int = MAX_EXPIRES

    def __post_init__(self) -> None:
        # A bucket or endpoint the signer refuses would otherwise be a 500 on every request.
        try:
            sigv4.check_target(
                self.endpoint, self.bucket, region=self.region,
                addressing_style=self.addressing_style,
            )  # fmt: skip
        except ValueError as error:
            raise ConfigError(f"bucket {self.bucket!r} at {self.endpoint}: {error}") from None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the coordinator needs; secrets are left out of ``repr``."""

    admin_key: str = field(repr=False)
    token_keys: Mapping[str, str] = field(repr=False)
    signing_kid: str
    mezzanine: StoreSettings
    delivery: StoreSettings
    jurisdiction: Jurisdiction = Jurisdiction.DEFAULT
    default_expires_in: int = DEFAULT_EXPIRES_IN
    max_job_ttl: int = DEFAULT_MAX_JOB_TTL
    playback: PlaybackSigner | None = None
    """Signs playback URLs; None when signed delivery is not configured."""


def aws_s3_endpoint(region: str) -> str:
    """The regional S3 endpoint of ``region`` in its partition's DNS suffix (``.amazonaws.eu``
    in the European Sovereign Cloud, ``.amazonaws.com.cn`` in China)."""
    partition = aws_partition(region)
    if partition is None:
        raise ConfigError(f"AWS_REGION {region!r} is not a region of a known AWS partition")
    return f"https://s3.{region}.{partition.dns_suffix}"


def read_stack_outputs(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The object ``pulumi stack output --json --show-secrets`` printed, read from ``path``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        message = f"COORDINATOR_STACK_OUTPUTS: cannot read {path}: {exc.strerror}"
        raise ConfigError(message) from None
    except ValueError:
        raise ConfigError(f"COORDINATOR_STACK_OUTPUTS: {path} is not JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(f"COORDINATOR_STACK_OUTPUTS: {path} is not a JSON object")
    return data


class _Source:
    """Looks a setting up in the environment first, then in the stack outputs."""

    def __init__(self, environ: Mapping[str, str], outputs: Mapping[str, Any]) -> None:
        self.environ = environ
        self.outputs = outputs

    def get(self, var: str, output: str | None = None) -> str | None:
        value = self.environ.get(var)
        if value:
            return value
        if output is not None:
            found = self.outputs.get(output)
            if found is not None:
                if not isinstance(found, str):
                    raise ConfigError(f"stack output {output!r} must be a string")
                return found or None
        return None

    def need(self, var: str, output: str | None = None) -> str:
        value = self.get(var, output)
        if value is None:
            where = f" (or stack output {output!r})" if output else ""
            raise ConfigError(f"{var}{where} is not set")
        return value

    def seconds(self, var: str, default: int, *, low: int, high: int) -> int:
        raw = self.environ.get(var)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{var} must be a whole number of seconds") from None
        if not low <= value <= high:
            raise ConfigError(f"{var} must be between {low} and {high}")
        return value


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``environ`` (default ``os.environ``) and the stack outputs it names."""
    env = os.environ if environ is None else environ
    if env.get("COORDINATOR_SECRET_ARN"):
        from .secrets import overlay_secrets  # only when a secret is configured

        env = overlay_secrets(env)
    outputs_path = env.get("COORDINATOR_STACK_OUTPUTS")
    source = _Source(env, read_stack_outputs(outputs_path) if outputs_path else {})

    admin_key = source.need("COORDINATOR_ADMIN_KEY", "coordinator_admin_key")
    if len(admin_key) < MIN_ADMIN_KEY_CHARS:
        message = f"COORDINATOR_ADMIN_KEY must be at least {MIN_ADMIN_KEY_CHARS} characters"
        raise ConfigError(message)
    token_keys = _token_keys(source.need("COORDINATOR_TOKEN_KEYS"))
    signing_kid = source.get("COORDINATOR_TOKEN_SIGNING_KID")
    if signing_kid is None:
        if len(token_keys) != 1:
            raise ConfigError("COORDINATOR_TOKEN_SIGNING_KID is needed when there are several keys")
        (signing_kid,) = token_keys
    elif signing_kid not in token_keys:
        raise ConfigError("COORDINATOR_TOKEN_SIGNING_KID names no key in COORDINATOR_TOKEN_KEYS")
    try:  # the codec's own rules (key id syntax, 32+ bytes), so a bad key stops the start here
        TokenCodec(token_keys, signing_kid=signing_kid)
    except ValueError as exc:  # its messages name the key id, never the key
        raise ConfigError(f"COORDINATOR_TOKEN_KEYS: {exc}") from None

    jurisdiction = _jurisdiction(source.get("R2_JURISDICTION", "jurisdiction") or "default")
    return Settings(
        admin_key=admin_key,
        token_keys=token_keys,
        signing_kid=signing_kid,
        mezzanine=_mezzanine(source),
        delivery=_delivery(source, jurisdiction),
        jurisdiction=jurisdiction,
        default_expires_in=source.seconds(
            "COORDINATOR_DEFAULT_EXPIRES_IN", DEFAULT_EXPIRES_IN, low=1, high=MAX_EXPIRES
        ),
        max_job_ttl=source.seconds(
            "COORDINATOR_MAX_JOB_TTL", DEFAULT_MAX_JOB_TTL, low=1, high=MAX_EXPIRES
        ),
        playback=_playback(source),
    )


def _playback(source: _Source) -> PlaybackSigner | None:
    key = source.get("COORDINATOR_PLAYBACK_HMAC_KEY", "playback_hmac_key")
    if key is None:
        return None
    ttl: object = source.environ.get("COORDINATOR_PLAYBACK_TOKEN_TTL") or source.outputs.get(
        "playback_token_ttl"
    )
    if ttl is None:
        raise ConfigError(
            "COORDINATOR_PLAYBACK_TOKEN_TTL (or stack output 'playback_token_ttl') is not set"
        )
    raw_urls: object = source.environ.get("DELIVERY_BASE_URLS")
    if raw_urls:
        base_urls = [u.strip() for u in str(raw_urls).split(",") if u.strip()]
    else:
        base_urls = source.outputs.get("delivery_base_urls") or []
    if not isinstance(base_urls, list) or not all(isinstance(u, str) for u in base_urls):
        raise ConfigError("stack output 'delivery_base_urls' must be a list of URLs")
    try:
        return PlaybackSigner(
            secret=key.encode("utf-8"), rule_ttl=int(str(ttl)), base_urls=tuple(base_urls)
        )
    except ValueError as exc:  # messages name the setting's rule, never the key
        raise ConfigError(f"signed playback: {exc}") from None


_KEYS_FORMAT_HINT = 'COORDINATOR_TOKEN_KEYS must be a JSON object {"kid": "secret", ...}'


def _token_keys(raw: str) -> dict[str, str]:
    try:
        keys = json.loads(raw)
    except ValueError:
        raise ConfigError(_KEYS_FORMAT_HINT) from None
    if (
        not isinstance(keys, dict)
        or not keys
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in keys.items())
    ):
        raise ConfigError(_KEYS_FORMAT_HINT)
    return keys


def _jurisdiction(raw: str) -> Jurisdiction:
    try:
        return Jurisdiction(raw)
    except ValueError:
        allowed = ", ".join(j.value for j in Jurisdiction)
        raise ConfigError(f"R2_JURISDICTION must be one of {allowed}, got {raw!r}") from None


def _credentials(source: _Source, key_var: str, secret_var: str, **extra: Any) -> Credentials:
    try:
        return Credentials(source.need(key_var), source.need(secret_var), **extra)
    except ValueError as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{key_var}/{secret_var}: malformed credentials") from None


def _mezzanine(source: _Source) -> StoreSettings:
    region = source.get("AWS_REGION", "aws_region") or source.get("AWS_DEFAULT_REGION")
    if region is None:
        raise ConfigError("AWS_REGION (or stack output 'aws_region') is not set")
    if aws_partition(region) is None:
        raise ConfigError(f"AWS_REGION {region!r} does not look like an AWS region")
    override = source.get("S3_ENDPOINT_URL")
    style = source.get("S3_ADDRESSING_STYLE") or ("path" if override else "virtual")
    if style not in ("path", "virtual"):
        raise ConfigError("S3_ADDRESSING_STYLE must be 'path' or 'virtual'")
    session_token = source.get("AWS_SESSION_TOKEN")
    expires_at = _timestamp(source.get("AWS_CREDENTIAL_EXPIRATION"), "AWS_CREDENTIAL_EXPIRATION")
    default_cap = (
        UNKNOWN_SESSION_MAX_EXPIRES if session_token and expires_at is None else MAX_EXPIRES
    )
    return _store(
        "MEZZANINE_BUCKET (S3_ENDPOINT_URL, AWS_REGION)",
        endpoint=override or aws_s3_endpoint(region),
        region=region,
        bucket=source.need("MEZZANINE_BUCKET", "mezzanine_bucket"),
        credentials=_credentials(
            source,
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            session_token=session_token,
            expires_at=expires_at,
        ),
        addressing_style="path" if style == "path" else "virtual",
        max_expires=source.seconds("S3_MAX_EXPIRES_IN", default_cap, low=1, high=MAX_EXPIRES),
    )


def _delivery(source: _Source, jurisdiction: Jurisdiction) -> StoreSettings:
    endpoint = source.environ.get("R2_ENDPOINT_URL") or None
    if endpoint is None:
        account = source.need("R2_ACCOUNT_ID", "r2_account_id")
        if not is_account_id(account):
            raise ConfigError("R2_ACCOUNT_ID must be 32 lowercase hex characters")
        endpoint = r2_endpoint(account, jurisdiction)
        exported = source.get("R2_ENDPOINT_URL", "r2_endpoint")
        if exported is not None and exported.rstrip("/") != endpoint:
            raise ConfigError(
                f"stack output 'r2_endpoint' ({exported}) disagrees with the account and "
                f"jurisdiction {jurisdiction.value!r} ({endpoint})"
            )
    return _store(
        "DELIVERY_BUCKET (R2_ENDPOINT_URL)",
        endpoint=endpoint,
        region=SIGV4_REGION,
        bucket=source.need("DELIVERY_BUCKET", "delivery_bucket"),
        credentials=_credentials(source, "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"),
        addressing_style="path",
    )


def _store(names: str, **fields: Any) -> StoreSettings:
    try:
        return StoreSettings(**fields)
    except ConfigError as error:
        raise ConfigError(f"{names}: {error}") from None


def _timestamp(raw: str | None, var: str) -> datetime | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{var} must be an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise ConfigError(f"{var} must carry a timezone (e.g. a trailing Z)")
    return moment
