"""The secret bundle: read from Secrets Manager (a loopback endpoint speaking its JSON 1.1
protocol; each request's signature checked against botocore's signer), laid over the
environment."""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from coordinator import lambda_handler
from coordinator.config import ConfigError, load_settings
from coordinator.secrets import SecretsError, bundle_environment, overlay_secrets
from tests.coordinator.lambda_events import function_url_event

ARN = "arn:aws-us-gov:secretsmanager:us-gov-west-1:333333333333:secret:r2-video/coordinator-AbCdEf"
ADMIN_KEY = "admin-" + "a" * 48
VERSION_ID = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
TOKEN_KEY = "t" * 48
R2_KEY_ID = "0123456789abcdef0123456789abcdef"
R2_SECRET = "f" * 64
BUNDLE = {
    "admin_key": ADMIN_KEY,
    "token_keys": {"k1": TOKEN_KEY},
    "token_signing_kid": "k1",
    "r2_access_key_id": R2_KEY_ID,
    "r2_secret_access_key": R2_SECRET,
}
# Everything but the secrets: what the stack puts in the function's environment.
PLAIN_ENV = {
    "COORDINATOR_SECRET_ARN": ARN,
    "COORDINATOR_SECRET_VERSION": VERSION_ID,
    "R2_JURISDICTION": "fedramp",
    "R2_ACCOUNT_ID": "0123456789abcdef0123456789abcdef",
    "DELIVERY_BUCKET": "video-fedramp-delivery",
    "MEZZANINE_BUCKET": "example-video-fedramp-mezzanine",
    "AWS_REGION": "us-gov-west-1",
    "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE00",
    "AWS_SECRET_ACCESS_KEY": "example-role-secret",
    "AWS_SESSION_TOKEN": "example-session-token",
}


class FakeSecretsManager:
    """GetSecretValue over real HTTP on loopback: each request is recorded, and answered with
    the next scripted (status, JSON body)."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                owner.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status, answer = owner.answers.pop(0)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, secret: Any, *, version: str | None = VERSION_ID) -> None:
        self.answers.append(
            (200, {"ARN": ARN, "Name": "r2-video/coordinator", "SecretString": json.dumps(secret),
                   **({"VersionId": version} if version else {})})
        )  # fmt: skip

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeSecretsManager]:
    running = FakeSecretsManager()
    yield running
    running.close()


def _env(fake: FakeSecretsManager, **changes: str) -> dict[str, str]:
    return {**PLAIN_ENV, "AWS_ENDPOINT_URL_SECRETS_MANAGER": fake.endpoint, **changes}


def _botocore_authorization(headers: dict[str, str], body: bytes, endpoint: str) -> str:
    """What botocore's SigV4Auth signs for the same request at the same instant."""
    from datetime import datetime
    from unittest import mock

    import botocore.auth
    import botocore.credentials
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(
        method="POST",
        url=endpoint + "/",
        data=body,
        headers={"Content-Type": headers["content-type"], "X-Amz-Target": headers["x-amz-target"]},
    )
    signer = botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(
            PLAIN_ENV["AWS_ACCESS_KEY_ID"], PLAIN_ENV["AWS_SECRET_ACCESS_KEY"],
            PLAIN_ENV["AWS_SESSION_TOKEN"],
        ),
        "secretsmanager",
        "us-gov-west-1",
    )  # fmt: skip
    when = datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ")
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        signer.add_auth(request)
    return request.headers["Authorization"]


def test_secret_values_become_the_settings(fake: FakeSecretsManager) -> None:
    fake.answer(BUNDLE)
    env = overlay_secrets(_env(fake))
    settings = load_settings(env)
    assert settings.admin_key == ADMIN_KEY
    assert dict(settings.token_keys) == {"k1": TOKEN_KEY}
    assert settings.signing_kid == "k1"
    assert settings.delivery.credentials.access_key == R2_KEY_ID
    assert settings.delivery.endpoint == (
        "https://0123456789abcdef0123456789abcdef.fedramp.r2.cloudflarestorage.com"
    )
    assert settings.mezzanine.region == "us-gov-west-1"


def test_the_request_is_get_secret_value_signed_as_botocore_signs_it(
    fake: FakeSecretsManager,
) -> None:
    """JSON 1.1: POST /, X-Amz-Target, the request as JSON, signed for secretsmanager in the
    secret's region with the role's session token (botocore's SigV4Auth is the oracle)."""
    fake.answer(BUNDLE)
    overlay_secrets(_env(fake))
    ((headers, body),) = fake.requests
    assert headers["x-amz-target"] == "secretsmanager.GetSecretValue"
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert json.loads(body) == {"SecretId": ARN, "VersionId": VERSION_ID}
    assert headers["x-amz-security-token"] == PLAIN_ENV["AWS_SESSION_TOKEN"]
    assert "/us-gov-west-1/secretsmanager/aws4_request" in headers["authorization"]
    assert headers["authorization"] == _botocore_authorization(headers, body, fake.endpoint)


def test_the_deployed_version_is_read_when_named(fake: FakeSecretsManager) -> None:
    fake.answer(BUNDLE, version=None)
    env = {k: v for k, v in _env(fake).items() if k != "COORDINATOR_SECRET_VERSION"}
    assert overlay_secrets(env)["COORDINATOR_ADMIN_KEY"] == ADMIN_KEY
    assert json.loads(fake.requests[0][1]) == {"SecretId": ARN}


def test_secret_values_win_over_the_environment(fake: FakeSecretsManager) -> None:
    fake.answer(BUNDLE)
    env = overlay_secrets(_env(fake, COORDINATOR_ADMIN_KEY="stale" * 10))
    assert env["COORDINATOR_ADMIN_KEY"] == ADMIN_KEY


def test_the_endpoint_is_the_partitions_and_fips_when_asked() -> None:
    from coordinator.secrets import _endpoint

    assert _endpoint("us-gov-west-1", {}) == "https://secretsmanager.us-gov-west-1.amazonaws.com"
    assert _endpoint("cn-north-1", {}) == "https://secretsmanager.cn-north-1.amazonaws.com.cn"
    assert _endpoint("eusc-de-east-1", {}) == "https://secretsmanager.eusc-de-east-1.amazonaws.eu"
    assert _endpoint("us-gov-west-1", {"AWS_USE_FIPS_ENDPOINT": "true"}) == (
        "https://secretsmanager-fips.us-gov-west-1.amazonaws.com"
    )


def test_no_arn_leaves_the_environment_alone():
    assert overlay_secrets({"A": "b", "COORDINATOR_SECRET_ARN": ""}) == {"A": "b"}


def test_access_denied_names_the_secret_and_the_code_only(fake: FakeSecretsManager) -> None:
    fake.answers.append(
        (400, {"__type": "AccessDeniedException", "Message": f"not allowed to read {ADMIN_KEY}"})
    )
    with pytest.raises(SecretsError) as caught:
        overlay_secrets(_env(fake))
    message = str(caught.value)
    assert "COORDINATOR_SECRET_ARN" in message and ARN in message
    assert "AccessDeniedException" in message
    assert ADMIN_KEY not in message
    assert isinstance(caught.value, ConfigError)
    assert len(fake.requests) == 1  # a refusal is not retried


def test_throttling_is_retried_and_then_read(fake: FakeSecretsManager) -> None:
    fake.answers.append((400, {"__type": "com.amazonaws#ThrottlingException", "Message": "x"}))
    fake.answer(BUNDLE)
    assert overlay_secrets(_env(fake))["COORDINATOR_ADMIN_KEY"] == ADMIN_KEY
    assert len(fake.requests) == 2


def test_a_missing_secret_string_is_refused(fake: FakeSecretsManager) -> None:
    fake.answers.append((200, {"ARN": ARN, "SecretBinary": "AAEC"}))
    with pytest.raises(SecretsError, match="no SecretString"):
        overlay_secrets(_env(fake))


@pytest.mark.parametrize(
    ("secret", "complaint"),
    [
        ("not json", "is not JSON"),
        (["a", "list"], "is not a JSON object"),
        ({**BUNDLE, "admin_key": ""}, "lacks admin_key"),
        ({k: v for k, v in BUNDLE.items() if k != "r2_secret_access_key"}, "lacks r2_secret"),
        ({**BUNDLE, "token_keys": TOKEN_KEY}, "token_keys must be an object"),
        ({**BUNDLE, "admin_key": 12345}, "admin_key must be a string"),
        ({**BUNDLE, "adminkey": "x"}, "unknown keys: 'adminkey'"),
    ],
)
def test_malformed_bundles_are_refused_without_quoting_values(secret, complaint):
    raw = secret if isinstance(secret, str) else json.dumps(secret)
    with pytest.raises(SecretsError) as caught:
        bundle_environment(raw, ARN)
    message = str(caught.value)
    assert complaint in message
    for value in (ADMIN_KEY, TOKEN_KEY, R2_SECRET):
        assert value not in message


def test_a_bad_arn_is_refused_before_any_call():
    with pytest.raises(SecretsError, match="not a Secrets Manager secret ARN"):
        overlay_secrets({"COORDINATOR_SECRET_ARN": "r2-video/coordinator"})


def test_the_playback_key_is_passed_through_when_present():
    env = bundle_environment(json.dumps({**BUNDLE, "playback_hmac_key": "p" * 48}), ARN)
    assert env["COORDINATOR_PLAYBACK_HMAC_KEY"] == "p" * 48


def test_lambda_refuses_to_serve_when_the_secret_cannot_be_read(monkeypatch, caplog):
    """No credentials, no network: the fetch fails, the handler answers 503 and logs why."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("COORDINATOR_SECRET_ARN", ARN)
    monkeypatch.setenv("COORDINATOR_ADMIN_KEY", ADMIN_KEY)  # must not be used instead
    lambda_handler._adapter.cache_clear()
    try:
        with caplog.at_level(logging.ERROR, logger="coordinator.lambda_handler"):
            answer = lambda_handler.handler(function_url_event("GET", "/healthz"), None)
    finally:
        lambda_handler._adapter.cache_clear()
    assert answer["statusCode"] == 503
    assert json.loads(answer["body"])["error"]["code"] == "not_configured"
    logged = caplog.text
    assert "refusing to serve" in logged and ARN in logged and "no AWS credentials" in logged
    assert ADMIN_KEY not in logged and ADMIN_KEY not in answer["body"]


class _SecretsManagerOnLoopback:
    """Answers GetSecretValue over real HTTP, so botocore parses (and may log) a real body."""

    def __init__(self, secret: dict[str, Any]) -> None:
        body = json.dumps(
            {"ARN": ARN, "Name": "r2-video/coordinator", "SecretString": json.dumps(secret)}
        ).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_no_log_level_prints_the_secret_bundle(monkeypatch, caplog):
    """With every logger at DEBUG (what an operator turns on for a cold start), botocore's
    parser logged the whole GetSecretValue answer: admin key, token keys, R2 secret."""
    fake = _SecretsManagerOnLoopback(BUNDLE)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", fake.endpoint)
    for name, value in PLAIN_ENV.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    try:
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("botocore").setLevel(logging.DEBUG)
            merged = overlay_secrets(
                {**PLAIN_ENV, "AWS_ENDPOINT_URL_SECRETS_MANAGER": fake.endpoint}
            )
            # Logging works again afterwards: the quiet spell covered the fetch only.
            logging.getLogger("botocore.test").debug("after the fetch")
    finally:
        logging.getLogger("botocore").setLevel(logging.NOTSET)
        fake.close()
    assert merged["COORDINATOR_ADMIN_KEY"] == ADMIN_KEY  # the real body was parsed
    logged = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert "after the fetch" in logged
    for secret in (ADMIN_KEY, TOKEN_KEY, R2_SECRET, R2_KEY_ID):
        assert secret not in logged
