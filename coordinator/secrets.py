"""The coordinator's secrets from AWS Secrets Manager: one JSON secret, read once per cold start.

On Lambda the stack sets ``COORDINATOR_SECRET_ARN`` (and ``COORDINATOR_SECRET_VERSION``, the
version it deployed with) instead of putting secrets in the function's environment, where
anyone who may read the function's configuration could see them. ``overlay_secrets`` fetches
that secret and lays its values over the environment under the variable names
``coordinator.config`` already reads, so the rest of the configuration code is unchanged:

=========================  =================================  ==========
secret key                 variable it stands for             required
=========================  =================================  ==========
``admin_key``              ``COORDINATOR_ADMIN_KEY``          yes
``token_keys``             ``COORDINATOR_TOKEN_KEYS``         yes: an object ``{"kid": "key"}``
``token_signing_kid``      ``COORDINATOR_TOKEN_SIGNING_KID``  with several keys
``r2_access_key_id``       ``R2_ACCESS_KEY_ID``               yes
``r2_secret_access_key``   ``R2_SECRET_ACCESS_KEY``           yes
``playback_hmac_key``      ``COORDINATOR_PLAYBACK_HMAC_KEY``  no (signed delivery URLs)
=========================  =================================  ==========

Values from the secret win over the environment. The call is the project's own: GetSecretValue
in the JSON 1.1 protocol (``X-Amz-Target: secretsmanager.GetSecretValue``), signed by
``coordinator.sigv4`` with the environment's credentials (on Lambda the function role's, with
its session token) and sent over ``coordinator.httppool`` to
``https://secretsmanager.<region>.<partition DNS suffix>`` (``-fips`` with
``AWS_USE_FIPS_ENDPOINT=true``; ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` or ``AWS_ENDPOINT_URL``
override it, as for the AWS SDKs): no boto3 at cold start. ``ATTEMPTS`` in all on a connection
error, a 5xx or throttling, within ``DEADLINE_SECONDS``. Every error (``SecretsError``, a
``ConfigError``) names the variable, the secret's ARN and the AWS error code, never a value.

References: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html ,
https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html ,
https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html (endpoint variables),
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-encryption
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import urlsplit

from .endpoints import aws_partition
from .errors import ConfigError
from .httppool import AnswerTooLarge, BudgetExceeded, Pool, Response, TransportError
from .s3client import RETRY_CODES, RETRY_STATUSES, backoff_seconds, random_fraction
from .sigv4 import Credentials, sign_headers

__all__ = [
    "ATTEMPTS",
    "BUNDLE_VARIABLES",
    "DEADLINE_SECONDS",
    "REQUIRED_KEYS",
    "SECRET_ARN_VAR",
    "SECRET_VERSION_VAR",
    "SecretsError",
    "bundle_environment",
    "fetch_secret_string",
    "overlay_secrets",
]

SECRET_ARN_VAR = "COORDINATOR_SECRET_ARN"  # noqa: S105 - a variable name
SECRET_VERSION_VAR = "COORDINATOR_SECRET_VERSION"  # noqa: S105 - a variable name

BUNDLE_VARIABLES: dict[str, str] = {
    "admin_key": "COORDINATOR_ADMIN_KEY",
    "token_keys": "COORDINATOR_TOKEN_KEYS",
    "token_signing_kid": "COORDINATOR_TOKEN_SIGNING_KID",
    "r2_access_key_id": "R2_ACCESS_KEY_ID",
    "r2_secret_access_key": "R2_SECRET_ACCESS_KEY",
    "playback_hmac_key": "COORDINATOR_PLAYBACK_HMAC_KEY",
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
REQUIRED_KEYS = ("admin_key", "token_keys", "r2_access_key_id", "r2_secret_access_key")


class SecretsError(ConfigError):
    """The secret bundle cannot be read or is malformed; the message never quotes a value."""


def _region_of(arn: str) -> str:
    # arn:<partition>:secretsmanager:<region>:<account>:secret:<name>
    parts = arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "secretsmanager" or not parts[3]:
        raise SecretsError(f"{SECRET_ARN_VAR} is not a Secrets Manager secret ARN: {arn!r}")
    return parts[3]


@contextmanager
def _no_debug_logging() -> Iterator[None]:
    """No DEBUG record anywhere while the secret is fetched: the answer is the whole bundle,
    and an operator debugging a cold start turns DEBUG on (botocore's parser logged every
    response body at DEBUG, when it made this call). The fetch runs once, before serving."""
    previous = logging.root.manager.disable
    logging.disable(max(previous, logging.DEBUG))
    try:
        yield
    finally:
        logging.disable(previous)


ATTEMPTS = 3  # in all, the first try included
DEADLINE_SECONDS = 10.0  # for all attempts: a cold start that cannot read it says so soon
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
_TARGET = "secretsmanager.GetSecretValue"
_CONTENT_TYPE = "application/x-amz-json-1.1"
_MAX_ANSWER_BYTES = 1 << 20  # a secret holds at most 64 KiB


def _endpoint(region: str, environ: Mapping[str, str]) -> str:
    explicit = environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or environ.get("AWS_ENDPOINT_URL")
    if explicit:
        return explicit.rstrip("/")
    partition = aws_partition(region)
    if partition is None:
        raise SecretsError(f"{SECRET_ARN_VAR}: no AWS partition has the region {region!r}")
    fips = environ.get("AWS_USE_FIPS_ENDPOINT", "").lower() == "true"
    return f"https://secretsmanager{'-fips' if fips else ''}.{region}.{partition.dns_suffix}"


def _credentials(environ: Mapping[str, str], where: str) -> Credentials:
    key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        raise SecretsError(
            f"{where}: no AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY unset)"
        )
    try:
        return Credentials(key, secret, session_token=environ.get("AWS_SESSION_TOKEN") or None)
    except ValueError:
        raise SecretsError(f"{where}: malformed AWS credentials in the environment") from None


def _error_code(response: Response) -> str:
    """The AWS error code of a JSON protocol error: ``__type`` (after any ``#``), else the
    ``x-amzn-ErrorType`` header (before any ``:``), else the status."""
    try:
        code = json.loads(response.body).get("__type")
    except (ValueError, AttributeError):
        code = None
    if not isinstance(code, str) or not code:
        code = response.headers.get("x-amzn-errortype", "").partition(":")[0]
    return code.rpartition("#")[2] or f"HTTP {response.status}"


def fetch_secret_string(
    arn: str, version_id: str | None = None, *, environ: Mapping[str, str] | None = None
) -> str:
    """The ``SecretString`` of ``arn`` (at ``version_id`` when given), read with the AWS
    credentials and endpoint settings of ``environ`` (default ``os.environ``)."""
    env = os.environ if environ is None else environ
    region = _region_of(arn)
    where = f"{SECRET_ARN_VAR}: cannot read secret {arn}"
    credentials = _credentials(env, where)
    endpoint = _endpoint(region, env)
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise SecretsError(f"{where}: the Secrets Manager endpoint {endpoint!r} is not a URL")
    request = {"SecretId": arn, **({"VersionId": version_id} if version_id else {})}
    body = json.dumps(request).encode()
    payload_hash = hashlib.sha256(body).hexdigest()
    pool = Pool(parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme])
    deadline = time.monotonic() + DEADLINE_SECONDS
    failure = "no attempt"
    try:
        with _no_debug_logging():
            for attempt in range(1, ATTEMPTS + 1):
                if attempt > 1:
                    pause = backoff_seconds(attempt, random_fraction)
                    if time.monotonic() + pause >= deadline:
                        break
                    time.sleep(pause)
                headers = sign_headers(
                    "POST",
                    host=parts.netloc,
                    path="/",
                    query="",
                    headers={"Content-Type": _CONTENT_TYPE, "X-Amz-Target": _TARGET},
                    payload_hash=payload_hash,
                    credentials=credentials,
                    region=region,
                    service="secretsmanager",
                    now=datetime.now(UTC),
                )
                try:
                    response = pool.request(
                        "POST",
                        "/",
                        headers,
                        body,
                        connect_timeout=CONNECT_TIMEOUT,
                        read_timeout=READ_TIMEOUT,
                        deadline=deadline,
                        max_body=_MAX_ANSWER_BYTES,
                    )
                except AnswerTooLarge:
                    raise SecretsError(f"{where}: the answer is too large") from None
                except BudgetExceeded:
                    failure = "no answer within the deadline"
                    break
                except TransportError as exc:
                    failure = type(exc).__name__
                    continue
                if response.status == 200:
                    return _secret_string(response.body, where)
                code = _error_code(response)
                failure = code
                if response.status not in RETRY_STATUSES and code not in RETRY_CODES:
                    break
    finally:
        pool.close()
    raise SecretsError(f"{where}: {failure}")


def _secret_string(body: bytes, where: str) -> str:
    try:
        answer = json.loads(body)
    except ValueError:
        raise SecretsError(f"{where}: the answer is not JSON") from None
    value = answer.get("SecretString") if isinstance(answer, dict) else None
    if not isinstance(value, str):
        raise SecretsError(f"{where}: it has no SecretString (binary secrets are not supported)")
    return value


def bundle_environment(raw: str, arn: str) -> dict[str, str]:
    """The variables the secret's JSON stands for (see the module docstring)."""
    where = f"{SECRET_ARN_VAR}: secret {arn}"
    try:
        bundle = json.loads(raw)
    except ValueError:
        raise SecretsError(f"{where} is not JSON") from None
    if not isinstance(bundle, dict):
        raise SecretsError(f"{where} is not a JSON object")
    unknown = sorted(set(bundle) - set(BUNDLE_VARIABLES))
    if unknown:
        raise SecretsError(f"{where} has unknown keys: {', '.join(map(repr, unknown))}")
    missing = [key for key in REQUIRED_KEYS if not bundle.get(key)]
    if missing:
        raise SecretsError(f"{where} lacks {', '.join(missing)}")
    variables: dict[str, str] = {}
    for key, value in bundle.items():
        if key == "token_keys":
            if not isinstance(value, dict):
                raise SecretsError(f'{where}: token_keys must be an object {{"kid": "secret"}}')
            variables[BUNDLE_VARIABLES[key]] = json.dumps(value, sort_keys=True)
        elif isinstance(value, str):
            if value:
                variables[BUNDLE_VARIABLES[key]] = value
        elif value is not None:
            raise SecretsError(f"{where}: {key} must be a string")
    return variables


def overlay_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` with the secret bundle named by ``COORDINATOR_SECRET_ARN`` laid over it,
    fetched with ``environ``'s AWS credentials and endpoint settings.

    The two ``COORDINATOR_SECRET_*`` variables are consumed: the result names no secret to
    fetch again. Without them, ``environ`` is returned unchanged (as a new dict).
    """
    merged = dict(environ)
    arn = merged.pop(SECRET_ARN_VAR, None)
    version_id = merged.pop(SECRET_VERSION_VAR, None)
    if not arn:
        return merged
    raw = fetch_secret_string(arn, version_id or None, environ=environ)
    merged.update(bundle_environment(raw, arn))
    return merged
