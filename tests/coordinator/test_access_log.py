"""The access log: one JSON line per request, with what an operator needs and no secret."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from coordinator.access_log import LOGGER_NAME


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == LOGGER_NAME]


def test_one_line_per_request_with_route_status_job_and_store_time(
    api: httpx.Client, job: Any, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        outputs = api.post(
            job.url("/outputs"),
            headers=job.auth,
            json={"files": [{"path": "a.ts", "content_type": "video/mp2t"}]},
        )
        started = api.post(
            job.url("/multipart"),
            headers=job.auth,
            json={"path": "b.mp4", "size": 1, "content_type": "video/mp4"},
        )
        missing = api.get("/no/such/route/with-a-secret-looking-tail")
    lines = _lines(caplog)
    assert [(line["route"], line["method"], line["status"]) for line in lines] == [
        ("/v1/jobs/{job_id}/outputs", "POST", 200),
        ("/v1/jobs/{job_id}/multipart", "POST", 201),
        ("(no route)", "GET", 404),
    ], lines
    assert outputs.is_success and started.status_code == 201 and missing.status_code == 404
    assert lines[0]["job_id"] == lines[1]["job_id"] == job.job_id
    assert lines[0]["store_calls"] == 0  # presigning is local
    assert lines[1]["store_calls"] == 1 and lines[1]["store_ms"] <= lines[1]["ms"]
    fields = {"route", "method", "status", "job_id", "ms", "store_ms", "store_calls"}
    assert [set(line) for line in lines] == [fields, fields, fields - {"job_id"}]

    logged = "\n".join(r.getMessage() for r in caplog.records)
    url = outputs.json()["files"][0]["url"]
    never = [job.token, settings.admin_key, url, url.split("X-Amz-Signature=")[1],
             started.json()["upload_id"], "with-a-secret-looking-tail", "b.mp4"]  # fmt: skip
    for text in never:
        assert text not in logged
