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

Values from the secret win over the environment. boto3 is imported only when a secret is
actually fetched. Every error (``SecretsError``, a ``ConfigError``) names the variable, the
secret's ARN and the AWS error code, never a value.

References: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html ,
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-encryption
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .errors import ConfigError

__all__ = [
    "BUNDLE_VARIABLES",
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
REQUIRED_KEYS = ("admin_key", "token_keys", "r2_access_key_id", "r2_secret_access_key")


class SecretsError(ConfigError):
    """The secret bundle cannot be read or is malformed; the message never quotes a value."""


def _region_of(arn: str) -> str:
    # arn:<partition>:secretsmanager:<region>:<account>:secret:<name>
    parts = arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "secretsmanager" or not parts[3]:
        raise SecretsError(f"{SECRET_ARN_VAR} is not a Secrets Manager secret ARN: {arn!r}")
    return parts[3]


def _client(region: str) -> Any:
    from boto3.session import Session
    from botocore.config import Config

    config = Config(
        connect_timeout=3,
        read_timeout=5,
        # three attempts in all: botocore's max_attempts counts retries (it made four)
        retries={"mode": "standard", "total_max_attempts": 3},
    )
    # Credentials from the environment: on Lambda, the function role's.
    return Session().client("secretsmanager", region_name=region, config=config)


@contextmanager
def _no_debug_logging() -> Iterator[None]:
    """No DEBUG record anywhere while the secret is fetched: botocore's parser logs every
    response body at DEBUG ("Response body: ..."), which here is the whole bundle, and an
    operator debugging a cold start turns DEBUG on. The fetch runs once, before serving."""
    previous = logging.root.manager.disable
    logging.disable(max(previous, logging.DEBUG))
    try:
        yield
    finally:
        logging.disable(previous)


def fetch_secret_string(arn: str, version_id: str | None = None, *, client: Any = None) -> str:
    """The ``SecretString`` of ``arn`` (at ``version_id`` when given)."""
    region = _region_of(arn)
    from botocore.exceptions import BotoCoreError, ClientError

    request = {"SecretId": arn}
    if version_id:
        request["VersionId"] = version_id
    where = f"{SECRET_ARN_VAR}: cannot read secret {arn}"
    try:
        with _no_debug_logging():
            answer = (client or _client(region)).get_secret_value(**request)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "unknown error")
        raise SecretsError(f"{where}: {code}") from None
    except BotoCoreError as exc:
        raise SecretsError(f"{where}: {type(exc).__name__}") from None
    value = answer.get("SecretString")
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


def overlay_secrets(environ: Mapping[str, str], *, client: Any = None) -> dict[str, str]:
    """``environ`` with the secret bundle named by ``COORDINATOR_SECRET_ARN`` laid over it.

    The two ``COORDINATOR_SECRET_*`` variables are consumed: the result names no secret to
    fetch again. Without them, ``environ`` is returned unchanged (as a new dict).
    """
    merged = dict(environ)
    arn = merged.pop(SECRET_ARN_VAR, None)
    version_id = merged.pop(SECRET_VERSION_VAR, None)
    if not arn:
        return merged
    raw = fetch_secret_string(arn, version_id or None, client=client)
    merged.update(bundle_environment(raw, arn))
    return merged
