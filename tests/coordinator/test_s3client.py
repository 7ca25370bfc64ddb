"""The store client: ``S3Client`` (sigv4 header signing over ``httppool``) against the real
embedded store, which checks every signature, and against scripted HTTP endpoints for what a
real store rarely does (a 5xx, SlowDown, a stale keep-alive connection, a hostile document);
and the boto3 client the tests and the demo read objects back with (no default checksums: R2
answered 501).

References: https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html ,
https://github.com/boto/botocore/pull/3277 , cloudflare-docs PR 19236.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from coordinator import store as store_module
from coordinator.embedded_store import EmbeddedStore
from coordinator.errors import StoreBadAnswer, StoreUnavailable
from coordinator.httppool import MAX_HEADERS, BudgetExceeded, TransportError
from coordinator.s3client import (
    DEADLINE,
    MAX_ANSWER_BYTES,
    BadAnswer,
    LazyClient,
    S3Client,
    S3Error,
    make_client,
    parse_xml,
)
from coordinator.sigv4 import Credentials
from coordinator.store import Store, call, store_budget

BUCKET = "test-delivery"
NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


@pytest.fixture
def client(store: EmbeddedStore, s3: Any) -> Iterator[S3Client]:
    made = S3Client(endpoint=store.endpoint, region="auto", credentials=store.credentials)
    yield made
    made.close()


# -- against the real store: every operation signed right -----------------------------------------


def test_every_operation_the_broker_makes_is_signed_right_for_the_real_store(
    client: S3Client, s3: Any
) -> None:
    key = f"s3client/{uuid.uuid4().hex}/a file+ü.bin"  # a key that needs encoding
    created = client.create_multipart_upload(
        Bucket=BUCKET, Key=key, ContentType="video/mp4", CacheControl="max-age=60"
    )
    upload_id = created["UploadId"]
    assert created["Key"] == key and created["Bucket"] == BUCKET
    etags = []
    for number, body in enumerate([b"a" * 5 * 2**20, b"b" * 10, b"c" * 3], 1):
        put = s3.upload_part(
            Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        etags.append(put["ETag"])
    first = client.list_parts(
        Bucket=BUCKET, Key=key, UploadId=upload_id, MaxParts=2, PartNumberMarker=0
    )
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["IsTruncated"] is True and first["NextPartNumberMarker"] == 2
    second = client.list_parts(
        Bucket=BUCKET, Key=key, UploadId=upload_id, MaxParts=2, PartNumberMarker=2
    )
    assert second["Parts"] == [{"PartNumber": 3, "ETag": etags[2], "Size": 3}]
    assert second["IsTruncated"] is False
    done = client.complete_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    head = client.head_object(Bucket=BUCKET, Key=key)
    assert head["ETag"] == done["ETag"] and head["ContentLength"] == 5 * 2**20 + 13
    assert head["ContentType"] == "video/mp4"
    stored = s3.head_object(Bucket=BUCKET, Key=key)
    assert stored["CacheControl"] == "max-age=60" and stored["ETag"] == done["ETag"]

    other = client.create_multipart_upload(Bucket=BUCKET, Key=key + ".2")
    assert (
        client.abort_multipart_upload(Bucket=BUCKET, Key=key + ".2", UploadId=other["UploadId"])
        == {}
    )
    with pytest.raises(S3Error) as gone:
        client.list_parts(Bucket=BUCKET, Key=key + ".2", UploadId=other["UploadId"])
    assert (gone.value.status, gone.value.code) == (404, "NoSuchUpload")


def test_a_wrong_secret_is_refused_by_the_real_store(store: EmbeddedStore, s3: Any) -> None:
    wrong = Credentials(store.access_key, store.secret_key + "x")
    client = S3Client(endpoint=store.endpoint, region="auto", credentials=wrong)
    with pytest.raises(S3Error) as refused:
        client.create_multipart_upload(Bucket=BUCKET, Key="s3client/wrong-secret.bin")
    assert (refused.value.status, refused.value.code) == (403, "SignatureDoesNotMatch")
    with pytest.raises(S3Error) as head:
        client.head_object(Bucket=BUCKET, Key="s3client/wrong-secret.bin")
    assert head.value.status == 403  # a HEAD has no body: the status is all there is


def test_calls_share_one_pooled_connection(client: S3Client, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="s3client/pooled.bin", Body=b"pooled")
    for _ in range(5):
        assert client.head_object(Bucket=BUCKET, Key="s3client/pooled.bin")["ContentLength"] == 6
    (pool,) = client._pools.values()
    assert pool.opened == 1


def test_threads_share_the_pool_safely(client: S3Client, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="s3client/threads.bin", Body=b"12345")
    sizes: list[int] = []

    def heads() -> None:
        for _ in range(10):
            sizes.append(
                client.head_object(Bucket=BUCKET, Key="s3client/threads.bin")["ContentLength"]
            )

    threads = [threading.Thread(target=heads) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sizes == [5] * 60
    (pool,) = client._pools.values()
    assert pool.opened <= 6


def test_lazy_client_is_built_once_and_hides_credentials(store: EmbeddedStore) -> None:
    lazy = LazyClient(endpoint=store.endpoint, region="auto", credentials=store.credentials)
    assert lazy() is lazy()
    assert store.secret_key not in repr(lazy) and store.secret_key not in repr(lazy())


def test_boto3_uploads_carry_no_checksum_headers(store: EmbeddedStore, s3: Any) -> None:
    client = make_client(endpoint=store.endpoint, region="auto", credentials=store.credentials)
    sent: list[dict[str, str]] = []
    client.meta.events.register(
        "before-send.s3", lambda request, **_: sent.append(dict(request.headers))
    )
    client.put_object(Bucket=BUCKET, Key="checksums/a.bin", Body=b"payload")
    upload = client.create_multipart_upload(Bucket=BUCKET, Key="checksums/b.bin")
    client.upload_part(
        Bucket=BUCKET, Key="checksums/b.bin", UploadId=upload["UploadId"], PartNumber=1, Body=b"p"
    )
    client.abort_multipart_upload(Bucket=BUCKET, Key="checksums/b.bin", UploadId=upload["UploadId"])
    assert len(sent) == 4
    for headers in sent:
        assert not [name for name in headers if "checksum" in name.lower()], headers
        assert headers["Authorization"].startswith(b"AWS4-HMAC-SHA256 ")


# -- scripted endpoints -------------------------------------------------------------------------

Answer = bytes | None  # the raw bytes to send back, or None: close without answering


def _http(status: int, body: bytes = b"", *, headers: str = "", reason: str = "X") -> bytes:
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    return head.encode() + body


class Scripted:
    """A loopback HTTP endpoint that answers each request with the next scripted answer, and
    records (connection number, request line) for each request it reads."""

    def __init__(self, answers: list[Answer] | Callable[[int, int], Answer]) -> None:
        self._answers = answers
        self.requests: list[tuple[int, bytes]] = []
        self.raw: list[bytes] = []  # each request's bytes, head and body
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._connections = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _next(self, connection: int, nth_on_connection: int) -> Answer:
        if callable(self._answers):
            return self._answers(connection, nth_on_connection)
        return self._answers.pop(0)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._connections += 1
                number = self._connections
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        with conn, contextlib.suppress(OSError):
            buffer, nth = b"", 0
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                self.raw.append(head + b"\r\n\r\n" + buffer[:length])
                buffer = buffer[length:]
                nth += 1
                self.requests.append((number, head.split(b"\r\n")[0]))
                answer = self._next(number, nth)
                if answer is None:
                    return
                conn.sendall(answer)

    def close(self) -> None:
        self._listener.close()


@pytest.fixture
def scripted() -> Iterator[Callable[..., Scripted]]:
    made: list[Scripted] = []

    def make(answers: Any) -> Scripted:
        made.append(Scripted(answers))
        return made[-1]

    yield make
    for server in made:
        server.close()


CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
INITIATED = (
    f"<InitiateMultipartUploadResult {NS}><Bucket>bkt</Bucket><Key>k</Key>"
    "<UploadId>u-1</UploadId></InitiateMultipartUploadResult>"
).encode()


def _client(endpoint: str, **options: Any) -> tuple[S3Client, list[float]]:
    slept: list[float] = []
    options.setdefault("read_timeout", 2)
    made = S3Client(
        endpoint=endpoint, region="auto", credentials=CREDS, sleep=slept.append,
        jitter=lambda: 0.5, **options,
    )  # fmt: skip
    return made, slept


def test_a_connection_the_server_closed_while_idle_is_replaced_without_an_error(
    scripted: Callable[..., Scripted],
) -> None:
    """The server answers one request per connection and then, for the next request on that
    connection, closes it without a byte: the request goes again on a new connection, and it
    is not a retry (no backoff, no attempt spent)."""
    server = scripted(lambda connection, nth: _http(200, INITIATED) if nth == 1 else None)
    client, slept = _client(server.endpoint, max_attempts=1)
    for _ in range(3):
        assert client.create_multipart_upload(Bucket="bkt", Key="k")["UploadId"] == "u-1"
    assert [number for number, _ in server.requests] == [1, 1, 2, 2, 3]
    assert slept == []


def test_a_new_connection_closed_without_an_answer_is_a_transport_error(
    scripted: Callable[..., Scripted],
) -> None:
    server = scripted(lambda connection, nth: None)
    client, slept = _client(server.endpoint)
    with pytest.raises(TransportError):
        client.head_object(Bucket="bkt", Key="k")
    assert len(server.requests) == 2 and slept == [0.5]  # two attempts, one backoff


def test_a_5xx_then_success_is_retried_once_after_a_backoff(
    scripted: Callable[..., Scripted],
) -> None:
    error = b"<Error><Code>InternalError</Code><Message>m</Message></Error>"
    server = scripted([_http(500, error), _http(200, INITIATED)])
    client, slept = _client(server.endpoint)
    assert client.create_multipart_upload(Bucket="bkt", Key="k")["UploadId"] == "u-1"
    assert len(server.requests) == 2 and slept == [0.5]


def test_slow_down_is_retried_after_a_jittered_backoff_of_at_most_a_second(
    scripted: Callable[..., Scripted],
) -> None:
    slow = _http(503, b"<Error><Code>SlowDown</Code><Message>Please reduce</Message></Error>")
    server = scripted([slow, slow, _http(200, INITIATED)])
    slept: list[float] = []
    client = S3Client(
        endpoint=server.endpoint, region="auto", credentials=CREDS, sleep=slept.append
    )
    with pytest.raises(S3Error) as refused:
        client.create_multipart_upload(Bucket="bkt", Key="k")
    assert (refused.value.status, refused.value.code) == (503, "SlowDown")
    assert len(server.requests) == 2  # MAX_ATTEMPTS in all
    assert len(slept) == 1 and 0 <= slept[0] <= 1
    assert client.create_multipart_upload(Bucket="bkt", Key="k")["UploadId"] == "u-1"


def test_a_client_error_is_not_retried(scripted: Callable[..., Scripted]) -> None:
    server = scripted([_http(400, b"<Error><Code>InvalidPart</Code></Error>")])
    client, slept = _client(server.endpoint)
    with pytest.raises(S3Error) as refused:
        client.complete_multipart_upload(
            Bucket="bkt", Key="k", UploadId="u", MultipartUpload={"Parts": []}
        )
    assert refused.value.code == "InvalidPart" and len(server.requests) == 1 and slept == []


def test_an_error_inside_a_200_is_retried_like_a_500(scripted: Callable[..., Scripted]) -> None:
    """S3 may answer CompleteMultipartUpload 200 and put an <Error> in the body."""
    inside = _http(200, b"<Error><Code>InternalError</Code><Message>m</Message></Error>")
    done = f'<CompleteMultipartUploadResult {NS}><ETag>"e-1"</ETag></CompleteMultipartUploadResult>'
    server = scripted([inside, _http(200, done.encode())])
    client, _ = _client(server.endpoint)
    answer = client.complete_multipart_upload(
        Bucket="bkt",
        Key="k",
        UploadId="u",
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]},
    )
    assert answer["ETag"] == '"e-1"' and len(server.requests) == 2


@pytest.mark.parametrize(
    "body",
    [b"<html><body>portal</body></html", b"", b"not xml at all"],
    ids=["html", "empty", "text"],
)
def test_a_200_that_is_not_the_document_asked_for_is_not_an_answer(
    scripted: Callable[..., Scripted], body: bytes
) -> None:
    server = scripted([_http(200, body), _http(200, body)])
    client, _ = _client(server.endpoint)
    with pytest.raises(S3Error) as refused:
        client.list_parts(Bucket="bkt", Key="k", UploadId="u")
    assert refused.value.status == 500 and len(server.requests) == 2


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<ListPartsResult><UploadId>&lol9;</UploadId><IsTruncated>false</IsTruncated></ListPartsResult>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<ListPartsResult><UploadId>&x;</UploadId></ListPartsResult>"""
HOSTILE = {
    "billion-laughs": BILLION_LAUGHS,
    "external-entity": EXTERNAL,
    "doctype-only": b"<!DOCTYPE ListPartsResult><ListPartsResult/>",
    "utf-16-billion-laughs": BILLION_LAUGHS.replace(b'"1.0"?>', b'"1.0" encoding="UTF-16"?>')
    .decode()
    .encode("utf-16"),
}


@pytest.mark.parametrize("document", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_document_with_a_doctype_is_refused_before_any_entity_is_expanded(
    document: bytes,
) -> None:
    with pytest.raises(BadAnswer, match="DOCTYPE or an entity"):
        parse_xml(document)


@pytest.mark.parametrize("document", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_document_from_the_store_is_a_502_and_not_retried(
    scripted: Callable[..., Scripted], document: bytes
) -> None:
    server = scripted([_http(200, document), _http(200, document)])
    client, _ = _client(server.endpoint)
    delivery = _store(lambda: client)
    with pytest.raises(StoreBadAnswer):
        list(store_module.list_parts(delivery, "k", "u"))
    assert len(server.requests) == 1


def _store(client: Callable[[], Any]) -> Store:
    return Store(
        endpoint="http://127.0.0.1:9", region="auto", bucket="bkt", credentials=CREDS, client=client
    )


OVERSIZED = {
    "declared": _http(
        200, b"<ListPartsResult>" + b" " * (MAX_ANSWER_BYTES + 1) + b"</ListPartsResult>"
    ),
    "chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(b"10000\r\n" + b" " * 0x10000 + b"\r\n" for _ in range(17))
        + b"0\r\n\r\n"
    ),
    "until-close": b"HTTP/1.1 200 OK\r\n\r\n" + b" " * (MAX_ANSWER_BYTES + 10),
}


@pytest.mark.parametrize("answer", OVERSIZED.values(), ids=OVERSIZED.keys())
def test_an_oversized_answer_is_refused_with_a_502(
    scripted: Callable[..., Scripted], answer: bytes
) -> None:
    server = scripted(lambda connection, nth: answer)
    client, _ = _client(server.endpoint)
    with pytest.raises(StoreBadAnswer):
        list(store_module.list_parts(_store(lambda: client), "k", "u"))
    assert len(server.requests) == 1


MALFORMED_FRAMING = {
    "not-http": b"SSH-2.0-OpenSSH_9.6\r\n",
    "two-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "folded-header": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n",
    "gzip-coding": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    "too-many-headers": b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * (MAX_HEADERS + 1) + b"\r\n",
    "cut-body": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<ListPartsResult>",
}


@pytest.mark.parametrize("answer", MALFORMED_FRAMING.values(), ids=MALFORMED_FRAMING.keys())
def test_an_answer_whose_framing_cannot_be_trusted_is_a_503(
    scripted: Callable[..., Scripted], answer: bytes
) -> None:
    server = scripted(lambda connection, nth: answer)
    client, _ = _client(server.endpoint)
    with pytest.raises(StoreUnavailable, match="did not answer"):
        list(store_module.list_parts(_store(lambda: client), "k", "u"))
    assert len(server.requests) == 2  # a transport failure: retried once


def test_chunked_answers_and_1xx_are_read(scripted: Callable[..., Scripted]) -> None:
    chunked = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(INITIATED)
        + INITIATED
        + b"\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    server = scripted(lambda connection, nth: chunked)
    client, _ = _client(server.endpoint)
    assert client.create_multipart_upload(Bucket="bkt", Key="k")["UploadId"] == "u-1"
    assert client.create_multipart_upload(Bucket="bkt", Key="k")["UploadId"] == "u-1"
    assert [number for number, _ in server.requests] == [1, 1]  # the connection was kept


def test_the_request_is_signed_with_the_payload_hash_and_no_checksum_header(
    scripted: Callable[..., Scripted],
) -> None:
    done = b'<CompleteMultipartUploadResult><ETag>"e"</ETag></CompleteMultipartUploadResult>'
    server = scripted([_http(200, done)])
    client, _ = _client(server.endpoint)
    parts = {"Parts": [{"PartNumber": 1, "ETag": '"a&b<"'}]}
    client.complete_multipart_upload(Bucket="bkt", Key="k", UploadId="u", MultipartUpload=parts)
    (sent,) = server.raw
    head, _, body = sent.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /bkt/k?uploadId=u HTTP/1.1"
    headers = {n.lower(): v.strip() for n, _, v in (line.partition(":") for line in lines[1:])}
    assert headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date," in headers["authorization"]
    assert not [name for name in headers if "checksum" in name]
    assert b'<Part><ETag>"a&amp;b&lt;"</ETag><PartNumber>1</PartNumber></Part>' in body


# -- the deadline ---------------------------------------------------------------------------------


def test_a_store_that_never_answers_ends_at_the_deadline_not_the_read_timeout(
    scripted: Callable[..., Scripted],
) -> None:
    """The read timeout (30 s) is longer than the test would wait: only the deadline ends it."""
    never = threading.Event()
    server = scripted(lambda connection, nth: never.wait(60) and None)
    client, slept = _client(server.endpoint, read_timeout=30)
    token = DEADLINE.set(time.monotonic() + 0.5)
    try:
        with pytest.raises(BudgetExceeded):
            client.head_object(Bucket="bkt", Key="k")
    finally:
        DEADLINE.reset(token)
        never.set()
    assert len(server.requests) == 1 and slept == []  # no time for a second attempt


def test_through_the_store_call_a_silent_store_is_a_503_naming_the_budget(
    scripted: Callable[..., Scripted],
) -> None:
    never = threading.Event()
    server = scripted(lambda connection, nth: never.wait(60) and None)
    client, _ = _client(server.endpoint, read_timeout=30)
    try:
        with (
            store_budget(0.5),
            pytest.raises(StoreUnavailable, match="within the request's budget"),
        ):
            call(_store(lambda: client), "head_object", Key="k")
    finally:
        never.set()


def test_no_backoff_is_slept_that_the_deadline_cannot_afford(
    scripted: Callable[..., Scripted],
) -> None:
    server = scripted(
        lambda connection, nth: _http(500, b"<Error><Code>InternalError</Code></Error>")
    )
    slept: list[float] = []
    client = S3Client(
        endpoint=server.endpoint, region="auto", credentials=CREDS, sleep=slept.append,
        jitter=lambda: 1.0,
    )  # fmt: skip
    token = DEADLINE.set(time.monotonic() + 0.5)
    try:
        with pytest.raises(S3Error):
            client.head_object(Bucket="bkt", Key="k")
    finally:
        DEADLINE.reset(token)
    assert slept == [] and len(server.requests) == 1


def test_expired_client_credentials_are_a_503_saying_so() -> None:
    from datetime import UTC, datetime, timedelta

    expired = replace(CREDS, session_token="t", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    client = S3Client(endpoint="http://127.0.0.1:9", region="auto", credentials=expired)
    with pytest.raises(StoreUnavailable, match=r"cannot sign head_object.*expired"):
        call(_store(lambda: client), "head_object", Key="k")
