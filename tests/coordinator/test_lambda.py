"""The Lambda entry point: the event straight to the core, configured from the environment once."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from coordinator import lambda_handler
from coordinator.config import Settings
from coordinator.embedded_store import EmbeddedStore
from tests.coordinator.lambda_events import coordinator_env, function_url_event


@pytest.fixture
def lambda_env(
    monkeypatch: pytest.MonkeyPatch, store: EmbeddedStore, settings: Settings
) -> Iterator[Settings]:
    env = coordinator_env(settings, store)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("COORDINATOR_STACK_OUTPUTS", raising=False)
    lambda_handler._adapter.cache_clear()
    yield settings
    lambda_handler._adapter.cache_clear()


def test_import_does_not_pay_for_boto3() -> None:
    probe = (
        "import sys, coordinator.lambda_handler; "
        "print(sorted(m for m in ('boto3', 'botocore', 'httpx', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_lambda_runs_the_whole_job_flow(
    lambda_env: Settings, http: httpx.Client, mezzanine: tuple[str, bytes]
) -> None:
    created = lambda_handler.handler(
        function_url_event(
            "POST",
            "/v1/jobs",
            body={"mezzanine_key": mezzanine[0], "output_prefix": "jobs/lambda/"},
            headers={"authorization": f"Bearer {lambda_env.admin_key}"},
        ),
        None,
    )
    assert created["statusCode"] == 201, created
    job = json.loads(created["body"])
    inputs = lambda_handler.handler(
        function_url_event(
            "POST",
            f"/v1/jobs/{job['job_id']}/inputs",
            headers={"authorization": f"Bearer {job['worker_token']}"},
        ),
        None,
    )
    assert inputs["statusCode"] == 200, inputs
    url = json.loads(inputs["body"])["inputs"][0]["get_url"]
    assert http.get(url).content == mezzanine[1]
    assert lambda_handler._adapter.cache_info().misses == 1  # configured once, then reused


def test_lambda_errors_are_json_with_status(lambda_env: Settings) -> None:
    unauthenticated = lambda_handler.handler(function_url_event("POST", "/v1/jobs/j1/inputs"), None)
    assert unauthenticated["statusCode"] == 401
    assert json.loads(unauthenticated["body"])["error"]["code"] == "missing_token"
    huge = lambda_handler.handler(
        function_url_event(
            "POST",
            "/v1/jobs",
            body="{" + " " * 70000 + "}",
            headers={"authorization": f"Bearer {lambda_env.admin_key}"},
        ),
        None,
    )
    assert huge["statusCode"] == 413
    health = lambda_handler.handler(function_url_event("GET", "/healthz"), None)
    assert health["statusCode"] == 200 and json.loads(health["body"]) == {"status": "ok"}


def _healthz() -> dict:
    return function_url_event("GET", "/healthz")


def _with(**changes: object) -> dict:
    event = _healthz()
    event.update(changes)
    return event


def _without_request_context() -> dict:
    event = _healthz()
    del event["requestContext"]
    return event


# Shapes from the AWS docs' sample events (S3, SQS, EventBridge, API Gateway REST v1.0).
NOT_HTTP_EVENTS = {
    "empty-object": {},
    "none": None,
    "list": [],
    "string": "GET /healthz",
    "s3-notification": {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]},
    "sqs-message": {"Records": [{"eventSource": "aws:sqs", "body": "hello"}]},
    "eventbridge": {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event"},
    "rest-api-v1": {"httpMethod": "GET", "path": "/healthz", "headers": {}},
    "payload-version-3": _with(version="3.0"),
    "no-request-context": _without_request_context(),
    "request-context-not-an-object": _with(requestContext="GET"),
    "int-header-value": _with(headers={"host": "h", "content-length": 0}),
    "headers-a-list": _with(headers=[["host", "h"]]),
    "body-a-number": _with(body=42),
    "bad-base64": _with(body="not base64!!", isBase64Encoded=True),
    "base64-flag-a-string": _with(isBase64Encoded="false"),
}


@pytest.mark.parametrize("event", NOT_HTTP_EVENTS.values(), ids=NOT_HTTP_EVENTS.keys())
def test_events_that_are_not_http_requests_get_a_clean_400(
    lambda_env: Settings, event: object
) -> None:
    """Mangum raised on these (an unhandled exception in the function's log, an error to the
    invoker): each is now a 400 naming what is wrong, and the app is never called."""
    answer = lambda_handler.handler(event, None)  # type: ignore[arg-type]
    assert answer["statusCode"] == 400, answer
    assert json.loads(answer["body"])["error"]["code"] == "unsupported_event"


def test_a_valid_event_is_still_served(lambda_env: Settings) -> None:
    answer = lambda_handler.handler(_healthz(), None)
    assert answer["statusCode"] == 200, answer


def test_one_log_line_per_request_on_lambda(
    lambda_env: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The access line is the one record a request writes at INFO (Lambda's default level for
    application logs): Mangum's own "POST /path 200" line repeated it, on every request."""
    with caplog.at_level(logging.DEBUG):
        answer = lambda_handler.handler(_healthz(), None)
    assert answer["statusCode"] == 200, answer
    lines = [(r.name, r.levelno) for r in caplog.records if r.levelno >= logging.INFO]
    assert lines == [("coordinator.access", logging.INFO)], caplog.text
