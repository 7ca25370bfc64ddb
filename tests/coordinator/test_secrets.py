"""The secret bundle: read from Secrets Manager (a stubbed client), laid over the environment."""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from boto3.session import Session
from botocore.stub import Stubber

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


@pytest.fixture
def client() -> Iterator[tuple[Any, Stubber]]:
    real = Session().client(
        "secretsmanager",
        region_name="us-gov-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="example",
    )
    with Stubber(real) as stubber:
        yield real, stubber
        stubber.assert_no_pending_responses()


def _answer(stubber: Stubber, secret: Any, *, version: str | None = VERSION_ID) -> None:
    expected = {"SecretId": ARN, **({"VersionId": version} if version else {})}
    stubber.add_response(
        "get_secret_value",
        {"ARN": ARN, "Name": "r2-video/coordinator", "SecretString": json.dumps(secret)},
        expected,
    )


def test_secret_values_become_the_settings(client):
    real, stubber = client
    _answer(stubber, BUNDLE)
    env = overlay_secrets(PLAIN_ENV, client=real)
    settings = load_settings(env)
    assert settings.admin_key == ADMIN_KEY
    assert dict(settings.token_keys) == {"k1": TOKEN_KEY}
    assert settings.signing_kid == "k1"
    assert settings.delivery.credentials.access_key == R2_KEY_ID
    assert settings.delivery.endpoint == (
        "https://0123456789abcdef0123456789abcdef.fedramp.r2.cloudflarestorage.com"
    )
    assert settings.mezzanine.region == "us-gov-west-1"


def test_the_deployed_version_is_read_when_named(client):
    real, stubber = client
    _answer(stubber, BUNDLE, version=None)
    env = {k: v for k, v in PLAIN_ENV.items() if k != "COORDINATOR_SECRET_VERSION"}
    assert overlay_secrets(env, client=real)["COORDINATOR_ADMIN_KEY"] == ADMIN_KEY


def test_secret_values_win_over_the_environment(client):
    real, stubber = client
    _answer(stubber, BUNDLE)
    env = overlay_secrets({**PLAIN_ENV, "COORDINATOR_ADMIN_KEY": "stale" * 10}, client=real)
    assert env["COORDINATOR_ADMIN_KEY"] == ADMIN_KEY


def test_no_arn_leaves_the_environment_alone():
    assert overlay_secrets({"A": "b", "COORDINATOR_SECRET_ARN": ""}) == {"A": "b"}


def test_access_denied_names_the_secret_and_the_code_only(client):
    real, stubber = client
    stubber.add_client_error(
        "get_secret_value",
        service_error_code="AccessDeniedException",
        service_message=f"not allowed to read {ADMIN_KEY}",
        http_status_code=400,
    )
    with pytest.raises(SecretsError) as caught:
        overlay_secrets(PLAIN_ENV, client=real)
    message = str(caught.value)
    assert "COORDINATOR_SECRET_ARN" in message and ARN in message
    assert "AccessDeniedException" in message
    assert ADMIN_KEY not in message
    assert isinstance(caught.value, ConfigError)


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
    assert "refusing to serve" in logged and ARN in logged and "NoCredentialsError" in logged
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
            merged = overlay_secrets(PLAIN_ENV)
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
