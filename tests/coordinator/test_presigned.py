"""Presigned URLs from the coordinator against a server that checks SigV4 (JuiceFS/MinIO).

A URL must work exactly as issued and fail (403) as soon as anything signed changes: the key,
the method, the signature, the signed content type, or the clock passing its expiry.
"""

from __future__ import annotations

import hashlib
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from coordinator.config import Settings

MiB = 2**20


def _signed_puts(api: httpx.Client, job: Any, files: dict[str, str], **extra: Any) -> list[dict]:
    answer = api.post(
        job.url("/outputs"),
        headers=job.auth,
        json={"files": [{"path": p, "content_type": t} for p, t in files.items()], **extra},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["files"]


def _inputs(api: httpx.Client, job: Any, **extra: Any) -> dict[str, Any]:
    answer = api.post(job.url("/inputs"), headers=job.auth, json=extra)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query, safe="/")))


def _without_signature(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=""))


# -- inputs -------------------------------------------------------------------------------------


def test_mezzanine_get_and_head_work_as_issued(
    api: httpx.Client, http: httpx.Client, job: Any, mezzanine: tuple[str, bytes]
) -> None:
    url = _inputs(api, job)["inputs"][0]
    got = http.get(url["get_url"])
    assert got.status_code == 200 and got.content == mezzanine[1]
    head = http.head(url["head_url"])
    assert head.status_code == 200 and int(head.headers["content-length"]) == len(mezzanine[1])
    assert "/eu-west-1/s3/aws4_request" in httpx.URL(url["get_url"]).params["X-Amz-Credential"]


def test_get_url_does_not_work_for_another_method_or_key(
    api: httpx.Client, http: httpx.Client, job: Any
) -> None:
    url = _inputs(api, job)["inputs"][0]["get_url"]
    assert http.head(url).status_code == 403  # the method is signed
    assert http.put(url, content=b"overwrite").status_code == 403
    assert http.delete(url).status_code == 403
    other_key = url.replace("/masters/sample.mov?", "/masters/other.mov?")
    assert other_key != url and http.get(other_key).status_code == 403


def test_tampered_signature_or_credential_is_403(
    api: httpx.Client, http: httpx.Client, job: Any
) -> None:
    url = _inputs(api, job)["inputs"][0]["get_url"]
    signature = httpx.URL(url).params["X-Amz-Signature"]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    assert http.get(_with_query(url, **{"X-Amz-Signature": flipped})).status_code == 403
    longer = _with_query(url, **{"X-Amz-Expires": "604800"})
    assert http.get(longer).status_code == 403  # the expiry is signed too


def test_request_without_signature_is_403(api: httpx.Client, http: httpx.Client, job: Any) -> None:
    url = _inputs(api, job)["inputs"][0]["get_url"]
    assert http.get(_without_signature(url)).status_code == 403


def test_url_stops_working_after_its_expiry(
    api: httpx.Client, http: httpx.Client, job: Any
) -> None:
    answer = _inputs(api, job, expires_in=2)
    url = answer["inputs"][0]["get_url"]
    expires_at = datetime.strptime(answer["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert http.get(url).status_code == 200
    # Wait until the server's clock (this machine's) is past expires_at; MinIO compares
    # whole seconds, so a margin of one second.
    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 1.1)
    expired = http.get(url)
    assert expired.status_code == 403 and "expired" in expired.text


# -- single PUT outputs ----------------------------------------------------------------------------


def test_put_with_the_signed_content_type_lands_under_the_prefix(
    api: httpx.Client, http: httpx.Client, job: Any, s3: Any, settings: Settings
) -> None:
    files = {"hls/index.m3u8": "application/vnd.apple.mpegurl", "hls/seg000.ts": "video/mp2t"}
    for signed in _signed_puts(api, job, files):
        assert signed["headers"] == {"Content-Type": files[signed["path"]]}
        body = signed["path"].encode() * 100
        assert http.put(signed["url"], content=body, headers=signed["headers"]).status_code == 200
        stored = s3.get_object(Bucket=settings.delivery.bucket, Key=signed["key"])
        assert stored["Body"].read() == body
        assert stored["ContentType"] == files[signed["path"]]
        assert signed["key"] == job.prefix + signed["path"]


def test_put_with_another_content_type_is_403(
    api: httpx.Client, http: httpx.Client, job: Any
) -> None:
    (signed,) = _signed_puts(api, job, {"a.m3u8": "application/vnd.apple.mpegurl"})
    wrong = http.put(signed["url"], content=b"#EXTM3U\n", headers={"Content-Type": "text/html"})
    assert wrong.status_code == 403


def test_put_without_the_signed_content_type_is_refused(
    api: httpx.Client, http: httpx.Client, job: Any
) -> None:
    (signed,) = _signed_puts(api, job, {"a.m3u8": "application/vnd.apple.mpegurl"})
    # MinIO answers 400 AccessDenied ("headers present ... which were not signed"); R2 and S3
    # answer 403. Either way: refused.
    missing = http.put(signed["url"], content=b"#EXTM3U\n")
    assert missing.status_code in (400, 403) and "AccessDenied" in missing.text


def test_put_url_cannot_write_another_key(api: httpx.Client, http: httpx.Client, job: Any) -> None:
    (signed,) = _signed_puts(api, job, {"a.ts": "video/mp2t"})
    moved = signed["url"].replace(f"{job.prefix}a.ts", f"{job.prefix}b.ts")
    assert http.put(moved, content=b"x", headers=signed["headers"]).status_code == 403
    escaped = signed["url"].replace(job.prefix, "masters/")
    assert http.put(escaped, content=b"x", headers=signed["headers"]).status_code == 403


# -- multipart -------------------------------------------------------------------------------------


def _start(api: httpx.Client, job: Any, path: str, size: int) -> dict[str, Any]:
    answer = api.post(
        job.url("/multipart"),
        headers=job.auth,
        json={"path": path, "size": size, "content_type": "video/mp4"},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def _status(api: httpx.Client, job: Any, upload_id: str, path: str, size: int) -> httpx.Response:
    return api.get(
        job.url(f"/multipart/{upload_id}"), headers=job.auth, params={"path": path, "size": size}
    )


def _put_part(http: httpx.Client, url: str, data: bytes, number: int, part_size: int) -> str:
    answer = http.put(url, content=data[(number - 1) * part_size : number * part_size])
    assert answer.status_code == 200, answer.text
    return answer.headers["etag"]


def _complete(api: httpx.Client, job: Any, upload_id: str, body: dict) -> httpx.Response:
    return api.post(job.url(f"/multipart/{upload_id}/complete"), headers=job.auth, json=body)


@pytest.fixture(scope="module")
def big() -> bytes:
    # Not a repeated pattern: equal parts would have equal ETags and hide a swapped list.
    return random.Random(3).randbytes(11 * MiB + 12345)


def test_multipart_upload_resumes_and_completes(
    api: httpx.Client, http: httpx.Client, job: Any, s3: Any, settings: Settings, big: bytes
) -> None:
    path = "mp4/1080p.mp4"
    upload = _start(api, job, path, len(big))
    assert (upload["part_size"], upload["part_count"]) == (5 * MiB, 3)
    assert [p["part_number"] for p in upload["parts"]] == [1, 2, 3]
    assert upload["key"] == job.prefix + path
    for part in upload["parts"]:
        assert "X-Amz-Checksum" not in part["url"] and "x-amz-checksum" not in part["url"]

    etag1 = _put_part(http, upload["parts"][0]["url"], big, 1, upload["part_size"])
    status = _status(api, job, upload["upload_id"], path, len(big))
    assert status.status_code == 200, status.text
    listing = status.json()
    assert [(p["part_number"], p["etag"]) for p in listing["uploaded"]] == [(1, etag1)]
    assert listing["missing_count"] == 2
    assert [p["part_number"] for p in listing["parts"]] == [2, 3]

    etags = {1: etag1}
    for part in listing["parts"]:  # resume with the re-presigned URLs
        n = part["part_number"]
        etags[n] = _put_part(http, part["url"], big, n, upload["part_size"])
    parts = [{"part_number": n, "etag": etags[n]} for n in (1, 2, 3)]
    done = _complete(
        api, job, upload["upload_id"], {"path": path, "size": len(big), "parts": parts}
    )
    assert done.status_code == 200, done.text
    assert done.json()["key"] == job.prefix + path

    stored = s3.get_object(Bucket=settings.delivery.bucket, Key=job.prefix + path)
    assert hashlib.sha256(stored["Body"].read()).digest() == hashlib.sha256(big).digest()
    assert stored["ContentType"] == "video/mp4"


def test_completing_with_wrong_order_count_or_etag_is_400(
    api: httpx.Client, http: httpx.Client, job: Any, big: bytes
) -> None:
    path = "mp4/wrong.mp4"
    upload = _start(api, job, path, len(big))
    etags = {
        p["part_number"]: _put_part(http, p["url"], big, p["part_number"], upload["part_size"])
        for p in upload["parts"]
    }
    right = [{"part_number": n, "etag": etags[n]} for n in (1, 2, 3)]
    attempts = {
        "swapped": [right[1], right[0], right[2]],
        "missing-last": right[:2],
        "extra": [*right, {"part_number": 4, "etag": etags[3]}],
        "duplicate": [right[0], right[0], right[2]],
        "bool-number": [{"part_number": True, "etag": etags[1]}, *right[1:]],
        "bad-etag": [{"part_number": 1, "etag": "<x>"}, *right[1:]],
    }
    for name, parts in attempts.items():
        answer = _complete(
            api, job, upload["upload_id"], {"path": path, "size": len(big), "parts": parts}
        )
        assert answer.status_code == 400, (name, answer.text)
        assert answer.json()["error"]["code"] == "invalid_parts"
    # An ETag the store does not have: the coordinator's checks pass, the store refuses.
    foreign = [{"part_number": 1, "etag": etags[2]}, *right[1:]]
    answer = _complete(
        api, job, upload["upload_id"], {"path": path, "size": len(big), "parts": foreign}
    )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_parts"
    # The upload is intact: the right list still completes it.
    answer = _complete(
        api, job, upload["upload_id"], {"path": path, "size": len(big), "parts": right}
    )
    assert answer.status_code == 200, answer.text


def test_abort_discards_the_upload(
    api: httpx.Client, http: httpx.Client, job: Any, s3: Any, settings: Settings
) -> None:
    path, size = "mp4/abandoned.mp4", 6 * MiB
    upload = _start(api, job, path, size)
    _put_part(http, upload["parts"][0]["url"], b"\0" * size, 1, upload["part_size"])
    url = job.url(f"/multipart/{upload['upload_id']}")
    assert api.delete(url, headers=job.auth, params={"path": path}).status_code == 204
    gone = _status(api, job, upload["upload_id"], path, size)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    uploads = s3.list_multipart_uploads(Bucket=settings.delivery.bucket, Prefix=job.prefix)
    assert uploads.get("Uploads", []) == []


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"path": "a.mp4"}, 400),
        ({"path": "a.mp4", "size": "-1"}, 400),
        ({"path": "a.mp4", "size": "1e3"}, 400),
        ({"path": "../a.mp4", "size": "10"}, 400),
        ({"path": "a.mp4", "size": "10", "extra": "1"}, 400),
    ],
    ids=["no-size", "negative", "not-digits", "dot-dot", "unknown-param"],
)
def test_status_query_is_strict(
    api: httpx.Client, job: Any, params: dict[str, str], status: int
) -> None:
    answer = api.get(job.url("/multipart/some-upload"), headers=job.auth, params=params)
    assert answer.status_code == status, answer.text


def test_part_urls_expire_with_the_job(api: httpx.Client, new_job: Any) -> None:
    job = new_job(ttl_seconds=60)
    upload = _start(api, job, "mp4/short.mp4", 6 * MiB)
    expires_at = datetime.strptime(upload["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert expires_at <= datetime.now(UTC) + timedelta(seconds=61)
