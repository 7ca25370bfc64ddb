"""What the frameworks did that the core and its adapters now do themselves, each proved here
over both adapters (``api``, ``adapter``) or, for what only a Lambda event has, on the event.

Routing (404, 405 and Allow, HEAD as GET, no slash redirect), an unexpected exception as a
logged 500, the Lambda answer's form (lower-case header names, Content-Length, text body,
nothing for HEAD), the event's form (base64 bodies, cookies, repeated headers joined, percent-
encoded paths, text that is not latin-1), the store budget on the Lambda path, and no framework
or event loop imported there.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from coordinator.access_log import LOGGER_NAME
from coordinator.app import build_broker, create_core
from coordinator.config import Settings
from coordinator.embedded_store import EmbeddedStore
from coordinator.lambda_handler import handler_for
from tests.coordinator.adapters import client_over
from tests.coordinator.conftest import sealed_upload
from tests.coordinator.lambda_events import coordinator_env, function_url_event


def _error(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json()["error"]["code"] == code


# -- routing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz/", "/v1/jobs/", "/", "/v1/jobs/j/inputs/"])
def test_a_trailing_slash_is_a_json_404_not_a_redirect(api: httpx.Client, path: str) -> None:
    """Starlette answered 307 to ``/healthz/`` (redirect_slashes), with none of our headers."""
    _error(api.request("POST" if "jobs" in path else "GET", path), 404, "not_found")


def test_a_path_parameter_is_one_whole_segment(api: httpx.Client) -> None:
    _error(api.post("/v1/jobs//inputs"), 404, "not_found")
    _error(api.post("/v1/jobs/a/b/inputs"), 404, "not_found")


ALLOW = {  # RFC 9110 9.3.2: HEAD wherever GET is
    "/v1/jobs": ("GET", "POST"),
    "/healthz": ("POST", "GET, HEAD"),
    "/v1/jobs/j/multipart/u": ("PUT", "DELETE, GET, HEAD"),
    "/v1/jobs/j/multipart/u/complete": ("GET", "POST"),
}


@pytest.mark.parametrize("path", ALLOW)
def test_a_405_names_every_method_of_the_path(api: httpx.Client, path: str) -> None:
    method, allow = ALLOW[path]
    answer = api.request(method, path)
    _error(answer, 405, "method_not_allowed")
    assert answer.headers["allow"] == allow


def test_head_is_answered_as_get_without_a_body(api: httpx.Client) -> None:
    got, head = api.get("/healthz"), api.head("/healthz")
    assert got.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(got.content))


# -- an unexpected exception -----------------------------------------------------------------


class _Broken:
    """A broker whose store calls fail with an exception nobody mapped (a bug)."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret-looking detail /internal/path")

        return fail


def test_an_unexpected_exception_is_a_logged_500_that_says_nothing(
    adapter: str, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.INFO),
        client_over(adapter, settings, broker=_Broken()) as client,  # type: ignore[arg-type]
    ):
        answer = client.post(
            "/v1/jobs",
            headers={"Authorization": f"Bearer {settings.admin_key}"},
            json={"mezzanine_key": "masters/a.mov", "output_prefix": "p/"},
        )
    _error(answer, 500, "internal_error")
    assert "secret-looking" not in answer.text and "Traceback" not in answer.text
    failures = [r for r in caplog.records if r.exc_info and r.levelno == logging.ERROR]
    assert len(failures) == 1 and "RuntimeError" in caplog.text
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == LOGGER_NAME]
    assert [(line["route"], line["status"]) for line in lines] == [("/v1/jobs", 500)]


# -- the Lambda event and answer ---------------------------------------------------------------


@pytest.fixture(scope="module")
def lambda_handler(settings: Settings) -> Any:
    return handler_for(create_core(settings))


def _outputs(job: Any, **changes: Any) -> dict[str, Any]:
    event = function_url_event(
        "POST",
        job.url("/outputs"),
        body={"files": [{"path": "a.ts", "content_type": "video/mp2t"}]},
        token=job.token,
    )
    event.update(changes)
    return event


def test_the_lambda_answer_has_lower_case_names_a_length_and_a_text_body(
    lambda_handler: Any, job: Any
) -> None:
    answer = lambda_handler(_outputs(job), None)
    assert answer["statusCode"] == 200 and answer["isBase64Encoded"] is False
    assert all(name == name.lower() for name in answer["headers"]), answer["headers"]
    assert answer["headers"]["content-length"] == str(len(answer["body"].encode("utf-8")))
    assert answer["headers"]["cache-control"] == "no-store"
    assert json.loads(answer["body"])["files"][0]["key"] == job.prefix + "a.ts"


def test_a_base64_body_is_decoded(lambda_handler: Any, job: Any) -> None:
    event = _outputs(job)
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    event["isBase64Encoded"] = True
    assert lambda_handler(event, None)["statusCode"] == 200


def test_cookies_are_ignored(lambda_handler: Any, job: Any) -> None:
    assert lambda_handler(_outputs(job, cookies=["a=b", "c=d"]), None)["statusCode"] == 200


def test_a_percent_encoded_path_routes_as_over_http(lambda_handler: Any, job: Any) -> None:
    """An HTTP server routes the decoded path; so does the Lambda adapter (Mangum did too)."""
    encoded = "".join(f"%{ord(c):02X}" for c in job.job_id)
    event = _outputs(job, rawPath=f"/v1/jobs/{encoded}/outputs")
    assert lambda_handler(event, None)["statusCode"] == 200


def test_repeated_headers_joined_by_the_function_url_are_refused_cleanly(
    lambda_handler: Any, job: Any
) -> None:
    """A function URL joins repeated headers with commas: two tokens are one bad token."""
    event = _outputs(job)
    event["headers"]["authorization"] = f"Bearer {job.token},Bearer {job.token}"
    answer = lambda_handler(event, None)
    assert answer["statusCode"] == 401, answer


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("authorization", "Bearer \u20ac\u20ac"),  # not latin-1
        ("authorization", "Bearer \udcff"),  # a lone surrogate (JSON allows the escape)
        ("content-length", "\u0662"),  # ARABIC-INDIC DIGIT TWO: isdigit() is True
    ],
)
def test_header_text_that_is_not_latin1_is_a_4xx(
    lambda_handler: Any, job: Any, settings: Settings, field: str, value: str
) -> None:
    for event in (
        _outputs(job),
        function_url_event("POST", "/v1/jobs", body={}, token=settings.admin_key),
    ):
        event["headers"][field] = value
        answer = lambda_handler(event, None)
        assert 400 <= answer["statusCode"] < 500, answer


def test_a_lone_surrogate_in_the_body_or_path_is_a_4xx(lambda_handler: Any, job: Any) -> None:
    """Mangum's ``body.encode()`` raised UnicodeEncodeError on this body: a 500."""
    body = _outputs(job, body='{"files": [{"path": "\udcff.ts", "content_type": "video/mp2t"}]}')
    assert lambda_handler(body, None)["statusCode"] == 400
    path = _outputs(job, rawPath="/v1/jobs/\udcff/outputs")
    answer = lambda_handler(path, None)
    assert 400 <= answer["statusCode"] < 500, answer
    json.loads(answer["body"])


def test_the_access_line_carries_lambda_s_request_id(
    lambda_handler: Any, caplog: pytest.LogCaptureFixture
) -> None:
    context = SimpleNamespace(aws_request_id="c6af9ac6-7b61-11e6-9a41-93e812345678")
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        lambda_handler(function_url_event("GET", "/healthz"), context)
    line = json.loads(caplog.records[-1].getMessage())
    assert line["request_id"] == context.aws_request_id and line["route"] == "/healthz"


def test_the_store_budget_holds_on_the_lambda_path(settings: Settings) -> None:
    """The core calls the broker synchronously inside the request's budget: a store that drips
    one header line every 0.25 s is cut at the budget, as under serve."""
    from tests.coordinator.test_faults import DripStore, _mint

    drip = DripStore()
    try:
        s = replace(
            settings,
            mezzanine=replace(settings.mezzanine, endpoint=drip.endpoint),
            delivery=replace(settings.delivery, endpoint=drip.endpoint),
        )
        job_id, auth = _mint(s, "core/drip/")
        handle = sealed_upload(s, job_id, "core/drip/a.mp4")
        broker = build_broker(s, connect_timeout=1, read_timeout=5)
        handler = handler_for(create_core(s, broker=broker, store_budget_seconds=1.0))
        event = function_url_event("GET", f"/v1/jobs/{job_id}/multipart/{handle}")
        event["headers"]["authorization"] = auth["Authorization"]
        event["rawQueryString"] = "path=a.mp4&size=5"
        answer = handler(event, None)
        still_dripping = drip.dripping
    finally:
        drip.close()
    assert answer["statusCode"] == 503, answer
    assert "budget" in json.loads(answer["body"])["error"]["message"]
    assert still_dripping >= 1


def test_the_lambda_path_imports_no_framework_and_no_event_loop(
    settings: Settings, store: EmbeddedStore, job: Any
) -> None:
    """Importing the handler and serving events (a presigning route, an error) loads neither
    Starlette, Mangum, anyio nor asyncio (Mangum ran every event through an asyncio loop)."""
    events = [_outputs(job), function_url_event("GET", "/v1/nothing")]
    probe = (
        "import sys, json\n"
        "from coordinator import lambda_handler\n"
        "answers = [lambda_handler.handler(e, None)['statusCode'] for e in json.load(sys.stdin)]\n"
        "loaded = [m for m in ('starlette', 'mangum', 'anyio', 'asyncio', 'boto3', 'botocore')"
        " if m in sys.modules]\n"
        "print(json.dumps([answers, loaded]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "COORDINATOR_"))}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        input=json.dumps(events),
        env=env | coordinator_env(settings, store),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout) == [[200, 404], []], out.stdout
