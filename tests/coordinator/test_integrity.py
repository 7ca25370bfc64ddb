"""What gets stored, checked by the coordinator itself so that no store's behaviour decides it.

Against the embedded store (a real S3 server): a truncated object cannot be completed, and an
upload belongs to the job and key it was started for. Against a scripted client (the store's
answers chosen by the test): an object is "already completed" only with the right ETag AND
size, a completed object of the wrong size is a 502, and a malformed part listing is a 502,
never a 500.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError  # the boto3 fixture that reads objects back

from coordinator.broker import Broker
from coordinator.errors import Conflict, NotFound, StoreBadAnswer, StoreIntegrity
from coordinator.handles import UploadHandles
from coordinator.s3client import S3Error
from coordinator.sigv4 import Credentials
from coordinator.store import Store
from coordinator.tokens import JobScope

MiB = 1024 * 1024


def _data(size: int, seed: int) -> bytes:
    block = hashlib.sha256(f"integrity-{seed}".encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def _start(api: httpx.Client, job: Any, path: str, size: int) -> dict[str, Any]:
    answer = api.post(
        job.url("/multipart"),
        headers=job.auth,
        json={"path": path, "size": size, "content_type": "video/mp4"},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def _complete(
    api: httpx.Client, job: Any, handle: str, path: str, size: int, etags: dict[int, str]
) -> httpx.Response:
    return api.post(
        job.url(f"/multipart/{handle}/complete"),
        headers=job.auth,
        json={
            "path": path,
            "size": size,
            "parts": [{"part_number": n, "etag": etags[n]} for n in sorted(etags)],
        },
    )


# -- against the embedded store -------------------------------------------------------------------


def test_a_truncated_object_is_refused_naming_the_part_to_upload_again(
    api: httpx.Client, http: httpx.Client, job: Any, s3: Any, settings: Any
) -> None:
    """Declared 12,587,233 bytes (three parts of 5 MiB, 5 MiB and 2,101,473 bytes by R2's rule
    of equal parts): parts of 5 MiB, 5 MiB and 1 byte must not complete into 10,485,761."""
    size = 12_587_233
    data = _data(size, seed=1)
    upload = _start(api, job, "short.mp4", size)
    assert upload["part_count"] == 3 and upload["part_size"] == 5 * MiB
    urls = {p["part_number"]: p["url"] for p in upload["parts"]}
    etags = {}
    for n, chunk in (
        (1, data[: 5 * MiB]),
        (2, data[5 * MiB : 10 * MiB]),
        (3, data[10 * MiB :][:1]),
    ):
        put = http.put(urls[n], content=chunk)
        assert put.status_code == 200, put.text
        etags[n] = put.headers["etag"]

    refused = _complete(api, job, upload["upload_id"], "short.mp4", size, etags)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "parts_mismatch"
    assert "part(s) 3 " in error["message"], error["message"]
    with pytest.raises(ClientError):  # nothing was completed
        s3.head_object(Bucket=settings.delivery.bucket, Key=job.prefix + "short.mp4")

    # The upload is intact: the right third part completes it, at the declared size.
    put = http.put(urls[3], content=data[10 * MiB :])
    etags[3] = put.headers["etag"]
    done = _complete(api, job, upload["upload_id"], "short.mp4", size, etags)
    assert done.status_code == 200, done.text
    head = s3.head_object(Bucket=settings.delivery.bucket, Key=job.prefix + "short.mp4")
    assert head["ContentLength"] == size


def test_an_upload_handle_opens_only_for_its_own_job_and_key(
    api: httpx.Client, http: httpx.Client, new_job: Any, s3: Any, settings: Any
) -> None:
    """Job B used to list and abort job A's upload through B's own routes on the embedded
    store. The handle's MAC binds upload, job and key: 404 for anyone else, whatever the store
    would do, and A's upload is untouched."""
    a, b = new_job(), new_job()
    upload = _start(api, a, "film.mp4", 6 * MiB)
    handle = upload["upload_id"]
    store_id = upload["parts"][0]["url"].split("uploadId=")[1].split("&")[0]
    flipped = handle[:-1] + ("A" if handle[-1] != "A" else "B")
    attempts = {
        "other job, same path": (b, handle, "film.mp4"),
        "same job, other path": (a, handle, "other.mp4"),
        "tampered MAC": (a, flipped, "film.mp4"),
        "raw store upload id": (a, store_id, "film.mp4"),
    }
    for name, (job, upload_id, path) in attempts.items():
        answers = {
            "status": api.get(
                job.url(f"/multipart/{upload_id}"),
                headers=job.auth,
                params={"path": path, "size": 6 * MiB},
            ),
            "abort": api.delete(
                job.url(f"/multipart/{upload_id}"), headers=job.auth, params={"path": path}
            ),
            "complete": _complete(api, job, upload_id, path, 6 * MiB, {1: "0" * 32, 2: "0" * 32}),
        }
        for route, answer in answers.items():
            assert answer.status_code == 404, (name, route, answer.text)
            assert answer.json()["error"]["code"] == "not_found", (name, route)
    status = api.get(
        a.url(f"/multipart/{handle}"), headers=a.auth, params={"path": "film.mp4", "size": 6 * MiB}
    )
    assert status.status_code == 200 and status.json()["missing_count"] == 2, status.text
    listed = s3.list_multipart_uploads(Bucket=settings.delivery.bucket, Prefix=a.prefix)
    assert [u["UploadId"] for u in listed.get("Uploads", [])] == [store_id]


# -- against a scripted store ---------------------------------------------------------------------

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SCOPE = JobScope("job-1", ("masters/a.mov",), "out/", NOW, NOW + timedelta(hours=1))
HANDLES = UploadHandles({"k1": "k" * 32}, signing_kid="k1")
KEY = "out/a.mp4"
SIZE = 6 * MiB  # two parts: 5 MiB and 1 MiB
PART_ETAGS = ["a" * 32, "b" * 32]
# The multipart ETag S3 and R2 give those two parts: MD5 of the parts' binary MD5s, "-2".
_DIGESTS = bytes.fromhex("a" * 32) + bytes.fromhex("b" * 32)
WHOLE_ETAG = hashlib.md5(_DIGESTS, usedforsecurity=False).hexdigest() + "-2"


class ScriptedS3:
    """The store calls the broker makes (``S3Client``'s methods), answered as the test says."""

    def __init__(self, *, parts: Any = None, completed: bool = False, head: Any = None) -> None:
        default_parts = [
            {"PartNumber": 1, "ETag": f'"{PART_ETAGS[0]}"', "Size": 5 * MiB},
            {"PartNumber": 2, "ETag": f'"{PART_ETAGS[1]}"', "Size": MiB},
        ]
        self.parts = default_parts if parts is None else parts
        self.completed = completed
        self.head = head if head is not None else {"ETag": f'"{WHOLE_ETAG}"', "ContentLength": SIZE}
        self.calls: list[str] = []

    def list_parts(self, **params: Any) -> dict[str, Any]:
        self.calls.append("list_parts")
        if self.completed:
            raise S3Error(404, "NoSuchUpload", {})
        return {"UploadId": params["UploadId"], "IsTruncated": False, "Parts": self.parts}

    def complete_multipart_upload(self, **params: Any) -> dict[str, Any]:
        self.calls.append("complete")
        return {"ETag": f'"{WHOLE_ETAG}"'}

    def head_object(self, **params: Any) -> dict[str, Any]:
        self.calls.append("head")
        return self.head


def _broker(client: ScriptedS3) -> Broker:
    def store(bucket: str) -> Store:
        return Store(
            endpoint="https://account.r2.example.com",
            region="auto",
            bucket=bucket,
            credentials=Credentials("AKIDEXAMPLE", "s" * 40),
            client=lambda: client,
        )

    return Broker(mezzanine=store("m"), delivery=store("d"), handles=HANDLES)


def _complete_with(client: ScriptedS3) -> tuple[str, str]:
    handle = HANDLES.seal(job_id=SCOPE.job_id, key=KEY, upload_id="store-upload-1")
    assert handle is not None
    return _broker(client).complete_multipart(
        SCOPE,
        upload_id=handle,
        path="a.mp4",
        size=SIZE,
        parts=[{"part_number": n, "etag": e} for n, e in enumerate(PART_ETAGS, 1)],
    )


def test_a_complete_checks_the_parts_then_completes_then_checks_the_object() -> None:
    client = ScriptedS3()
    assert _complete_with(client) == (KEY, f'"{WHOLE_ETAG}"')
    assert client.calls == ["list_parts", "complete", "head"]


def test_already_completed_needs_the_right_size_as_well_as_the_etag() -> None:
    assert_409 = ScriptedS3(completed=True)
    with pytest.raises(Conflict) as conflict:
        _complete_with(assert_409)
    assert conflict.value.code == "already_completed"
    other_size = ScriptedS3(completed=True, head={"ETag": f'"{WHOLE_ETAG}"', "ContentLength": 7})
    with pytest.raises(NotFound):
        _complete_with(other_size)
    other_etag = ScriptedS3(
        completed=True, head={"ETag": '"' + "c" * 32 + '-2"', "ContentLength": SIZE}
    )
    with pytest.raises(NotFound):
        _complete_with(other_etag)


def test_a_completed_object_of_the_wrong_size_is_a_store_integrity_error() -> None:
    short = ScriptedS3(head={"ETag": f'"{WHOLE_ETAG}"', "ContentLength": 5 * MiB + 1})
    with pytest.raises(StoreIntegrity) as error:
        _complete_with(short)
    assert str(SIZE) in error.value.message


MALFORMED_LISTINGS = {
    "part-without-etag": [{"PartNumber": 1, "Size": 5 * MiB}],
    "part-without-size": [{"PartNumber": 1, "ETag": '"x"'}],
    "part-without-number": [{"ETag": '"x"', "Size": 1}],
    "size-not-a-number": [{"PartNumber": 1, "ETag": '"x"', "Size": "five"}],
    "number-not-a-number": [{"PartNumber": "one", "ETag": '"x"', "Size": 1}],
    "number-null": [{"PartNumber": None, "ETag": '"x"', "Size": 1}],
    "part-not-an-object": ["part 1"],
    "parts-not-a-list": "Parts",
}


@pytest.mark.parametrize("parts", MALFORMED_LISTINGS.values(), ids=MALFORMED_LISTINGS.keys())
def test_a_malformed_part_listing_is_a_store_bad_answer(parts: Any) -> None:
    client = ScriptedS3(parts=parts)
    with pytest.raises(StoreBadAnswer):
        _complete_with(client)
    handle = HANDLES.seal(job_id=SCOPE.job_id, key=KEY, upload_id="store-upload-1")
    with pytest.raises(StoreBadAnswer):
        _broker(client).multipart_status(
            SCOPE, upload_id=handle, path="a.mp4", size=SIZE, now=NOW, expires_in=60
        )
    assert "complete" not in client.calls


def test_a_handle_opens_while_its_token_key_is_configured_and_not_after() -> None:
    """docs/coordinator.md: handles survive a token-key rotation as long as tokens do."""
    old, new = "o" * 32, "n" * 32
    before = UploadHandles({"k1": old}, signing_kid="k1")
    handle = before.seal(job_id="job-1", key=KEY, upload_id="store-upload-1")
    assert handle is not None
    rotating = UploadHandles({"k1": old, "k2": new}, signing_kid="k2")
    assert rotating.open(handle, job_id="job-1", key=KEY) == "store-upload-1"
    after = UploadHandles({"k2": new}, signing_kid="k2")
    with pytest.raises(NotFound):
        after.open(handle, job_id="job-1", key=KEY)
