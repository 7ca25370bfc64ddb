"""Cache-Control on a multipart object: fixed when the upload is created (S3 and R2 take an
object's headers on CreateMultipartUpload, not on its parts), so the coordinator takes it there
and lets through only what RFC 9111 allows: it is stored and sent to every viewer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from coordinator.config import Settings
from coordinator.errors import InvalidInput
from coordinator.keys import validate_cache_control

MiB = 1024 * 1024


@pytest.mark.parametrize(
    "value",
    [
        "public, max-age=31536000, immutable",  # what the client sends for media
        "public, max-age=2",  # ... and for live manifests
        "no-store",
        'private="Set-Cookie", max-age=0',  # a quoted-string argument (RFC 9111 5.2.2.7)
        "max-age=60,s-maxage=600",  # no whitespace around the comma is allowed too
        "a" * 255,
    ],
)
def test_cache_control_values_rfc_9111_allows_pass_unchanged(value: str) -> None:
    assert validate_cache_control(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "public,",  # an empty list element
        ", public",
        "max-age=60\r\nX-Injected: 1",  # header injection
        "max-age=60\x00",
        "max-age=1 2",  # a space inside a directive
        "public; max-age=60",  # ';' is not the separator
        'private="unterminated',
        "max-age=",  # '=' with no argument
        "caf\u00e9",  # not ASCII
        "a" * 256,
        60,
        None,
        ["public"],
    ],
)
def test_anything_else_is_refused_with_its_own_code(value: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_cache_control(value)
    assert refused.value.code == "invalid_cache_control"
    assert "RFC 9111" in refused.value.message


def test_a_multipart_object_is_stored_with_the_cache_control_given_at_creation(
    api: httpx.Client, http: httpx.Client, job: Any, s3: Any, settings: Settings
) -> None:
    body = {"path": "download/movie.mp4", "size": 1, "content_type": "video/mp4"}
    created = api.post(
        job.url("/multipart"),
        headers=job.auth,
        json={**body, "cache_control": "public, max-age=31536000, immutable"},
    )
    assert created.status_code == 201, created.text
    upload = created.json()
    part = http.put(upload["parts"][0]["url"], content=b"x")
    assert part.status_code == 200, part.text
    done = api.post(
        job.url(f"/multipart/{upload['upload_id']}/complete"),
        headers=job.auth,
        json={
            "path": body["path"],
            "size": 1,
            "parts": [{"part_number": 1, "etag": part.headers["etag"]}],
        },
    )
    assert done.status_code == 200, done.text
    stored = s3.head_object(Bucket=settings.delivery.bucket, Key=upload["key"])
    assert stored["CacheControl"] == "public, max-age=31536000, immutable"
    assert stored["ContentType"] == "video/mp4"


def test_a_bad_cache_control_is_a_400_and_starts_no_upload(
    api: httpx.Client, job: Any, s3: Any, settings: Settings
) -> None:
    answer = api.post(
        job.url("/multipart"),
        headers=job.auth,
        json={
            "path": "download/movie.mp4",
            "size": 6 * MiB,
            "content_type": "video/mp4",
            "cache_control": "max-age=60\r\nSet-Cookie: a=b",
        },
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_cache_control"
    uploads = s3.list_multipart_uploads(Bucket=settings.delivery.bucket, Prefix=job.prefix)
    assert uploads.get("Uploads", []) == []
