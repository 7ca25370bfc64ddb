"""Faults: the object store down, silent, slow or misbehaving; settings unreadable at start;
signing credentials about to expire; a worker that dies mid-upload; an upload completed twice.

Every fault must end in a clear answer (a JSON error with its status, ``Retry-After`` on a 503,
never a traceback or a secret), the coordinator must recover when the fault goes away, and no
upload may be lost. Waits are bounded by short client timeouts; no test asserts a duration.

The store faults come from a TCP proxy in front of the session's real store
(``ToggleProxy``: pass, refuse with a reset, swallow requests, or delay them) and from a fake
S3 endpoint that answers whatever a test tells it to (``FakeStore``).
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.server
import json
import logging
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from coordinator import lambda_handler
from coordinator.app import build_broker, create_app
from coordinator.config import Settings
from coordinator.demo import serve_in_thread
from coordinator.embedded_store import EmbeddedStore
from coordinator.s3client import MAX_ATTEMPTS
from coordinator.sigv4 import Credentials
from coordinator.tokens import JobScope, TokenCodec
from tests.coordinator.adapters import ADAPTERS, client_over
from tests.coordinator.conftest import sealed_upload

MiB = 2**20
REPO = Path(__file__).resolve().parents[2]
SHORT = {"connect_timeout": 0.5, "read_timeout": 0.5}  # client options for faulty stores


# -- helpers ----------------------------------------------------------------------------------


class ToggleProxy:
    """A loopback TCP proxy in front of ``target`` whose behaviour a test switches.

    Modes: ``up`` (pass bytes both ways, after ``delay`` seconds), ``refuse`` (accept, then
    reset the connection), ``blackhole`` (accept and read, never answer: a hung store).
    Switching modes drops every open connection, so pooled keep-alive connections cannot carry
    the old behaviour over. ``accepted`` counts connections (one per client attempt).
    """

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.mode = "up"
        self.delay = 0.0
        self.accepted = 0
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def set_mode(self, mode: str, *, delay: float = 0.0) -> None:
        self.mode, self.delay = mode, delay
        with self._lock:
            live = list(self._open)
        for sock in live:
            self._close(sock)

    def close(self) -> None:
        self._closed.set()
        self.set_mode("refuse")
        self._thread.join(5)
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self._lock:
                self.accepted += 1
                self._open.add(conn)
            args = (conn, self.mode, self.delay)
            threading.Thread(target=self._handle, args=args, daemon=True).start()

    def _handle(self, conn: socket.socket, mode: str, delay: float) -> None:
        if mode == "refuse":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self._close(conn)
            return
        if mode == "blackhole":
            with contextlib.suppress(OSError):
                while conn.recv(65536):
                    pass
            self._close(conn)
            return
        time.sleep(delay)
        try:
            upstream = socket.create_connection(self._target, timeout=5)
        except OSError:
            self._close(conn)
            return
        upstream.settimeout(None)
        with self._lock:
            self._open.add(upstream)
        threading.Thread(target=self._pump, args=(upstream, conn), daemon=True).start()
        self._pump(conn, upstream)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source)
            self._close(sink)

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


class FakeStore:
    """An HTTP endpoint that answers every S3 call with one canned status and body."""

    def __init__(self) -> None:
        self.status, self.body = 200, b""
        self.headers: dict[str, str] = {}  # extra headers; may replace Content-Length
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(owner.status)
                headers = {"Content-Length": str(len(owner.body)), **owner.headers}
                for name, value in headers.items():
                    if name != "Date":  # send_response wrote it (date_time_string below)
                        self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(owner.body)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer

            def date_time_string(self, timestamp: float | None = None) -> str:
                return owner.headers.get("Date") or super().date_time_string(timestamp)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def proxy(store: EmbeddedStore) -> Iterator[ToggleProxy]:
    running = ToggleProxy(store.endpoint)
    yield running
    running.close()


@pytest.fixture
def fake_store() -> Iterator[FakeStore]:
    running = FakeStore()
    yield running
    running.close()


def _via(settings: Settings, endpoint: str) -> Settings:
    """``settings`` with both stores reached at ``endpoint``."""
    return replace(
        settings,
        mezzanine=replace(settings.mezzanine, endpoint=endpoint),
        delivery=replace(settings.delivery, endpoint=endpoint),
    )


# Every test that calls ``_serving`` runs once over each adapter (tests/coordinator/adapters.py):
# ``pytest_generate_tests`` parametrises the fixture below for exactly those tests (the name in
# the test's code), which sets the adapter ``_serving`` serves over; the rest run once.
_adapter_now = ["serve"]


@pytest.fixture(autouse=True)
def _serving_adapter(request: pytest.FixtureRequest) -> Iterator[str]:
    _adapter_now[0] = getattr(request, "param", "serve")
    yield _adapter_now[0]
    _adapter_now[0] = "serve"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "_serving" in metafunc.function.__code__.co_names:
        metafunc.parametrize("_serving_adapter", ADAPTERS, indirect=True)


@contextlib.contextmanager
def _serving(settings: Settings, **client_options: Any) -> Iterator[httpx.Client]:
    broker = build_broker(settings, **client_options)
    with client_over(_adapter_now[0], settings, broker=broker) as client:
        yield client


@contextlib.contextmanager
def _served(settings: Settings) -> Iterator[str]:
    """The base URL of ``serve`` (uvicorn) for ``settings``: for tests of its sockets."""
    with serve_in_thread(create_app(settings)) as base:
        yield base


def _admin(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.admin_key}"}


@dataclass(frozen=True)
class _Job:
    job_id: str
    auth: dict[str, str]

    def url(self, tail: str = "") -> str:
        return f"/v1/jobs/{self.job_id}{tail}"


def _mint(settings: Settings, prefix: str, **times: datetime) -> tuple[str, dict[str, str]]:
    """A job's id and auth header, minted with the coordinator's key (no store call)."""
    now = datetime.now(UTC).replace(microsecond=0)
    job_id = f"job-{random.Random(prefix).getrandbits(64):x}"
    scope = JobScope(
        job_id=job_id,
        mezzanine_keys=("masters/sample.mov",),
        output_prefix=prefix,
        issued_at=times.get("issued_at", now),
        expires_at=times.get("expires_at", now + timedelta(hours=2)),
    )
    token = TokenCodec(settings.token_keys, signing_kid=settings.signing_kid).issue(scope)
    return job_id, {"Authorization": f"Bearer {token}"}


def _secrets_of(settings: Settings) -> list[str]:
    values = [settings.admin_key, *settings.token_keys.values()]
    for side in (settings.mezzanine, settings.delivery):
        values.append(side.credentials.secret_key)
        if side.credentials.session_token:
            values.append(side.credentials.session_token)
    return values


def _assert_503(answer: httpx.Response, settings: Settings, what: str) -> None:
    assert answer.status_code == 503, (what, answer.status_code, answer.text)
    assert answer.headers["content-type"] == "application/json", what
    assert answer.headers["retry-after"].isdigit(), what
    assert answer.json()["error"]["code"] == "store_unavailable", (what, answer.text)
    assert "Traceback" not in answer.text
    for secret in _secrets_of(settings):
        assert secret not in answer.text


def _sample(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


# -- the store down, silent, slow ---------------------------------------------------------------


def test_store_refusing_connections_gives_503s_presigning_goes_on_and_it_recovers(
    settings: Settings, proxy: ToggleProxy, http: httpx.Client, s3: Any
) -> None:
    s = _via(settings, proxy.endpoint)
    with _serving(s, **SHORT) as api:
        created = api.post(
            "/v1/jobs",
            headers=_admin(s),
            json={"mezzanine_key": "masters/sample.mov", "output_prefix": "faults/refuse/"},
        )
        assert created.status_code == 201, created.text
        job = created.json()
        auth = {"Authorization": f"Bearer {job['worker_token']}"}
        base = f"/v1/jobs/{job['job_id']}"
        body = {"path": "big.mp4", "size": 1000, "content_type": "video/mp4"}
        started = api.post(f"{base}/multipart", headers=auth, json=body)
        assert started.status_code == 201, started.text
        upload = started.json()
        data = _sample(1000, seed=1)

        proxy.set_mode("refuse")
        status_query = {"path": "big.mp4", "size": 1000}
        done = {"path": "big.mp4", "size": 1000, "parts": [{"part_number": 1, "etag": "0" * 32}]}
        answers = {
            "create job": api.post("/v1/jobs", headers=_admin(s), json={
                "mezzanine_key": "masters/sample.mov", "output_prefix": "faults/refuse/"}),
            "start multipart": api.post(f"{base}/multipart", headers=auth, json=body),
            "status": api.get(f"{base}/multipart/{upload['upload_id']}", headers=auth,
                              params=status_query),
            "complete": api.post(f"{base}/multipart/{upload['upload_id']}/complete",
                                 headers=auth, json=done),
            "abort": api.delete(f"{base}/multipart/{upload['upload_id']}", headers=auth,
                                params={"path": "big.mp4"}),
        }  # fmt: skip
        for what, answer in answers.items():
            _assert_503(answer, s, what)
        # Presigning is local work: workers keep getting URLs while the store is away.
        assert api.post(f"{base}/inputs", headers=auth).status_code == 200
        outputs = {"files": [{"path": "a.ts", "content_type": "video/mp2t"}]}
        assert api.post(f"{base}/outputs", headers=auth, json=outputs).status_code == 200

        proxy.set_mode("up")
        # Recovered: the upload started before the outage completes, with its bytes intact.
        put = http.put(upload["parts"][0]["url"], content=data)
        assert put.status_code == 200, put.text
        done["parts"][0]["etag"] = put.headers["etag"]
        completed = api.post(
            f"{base}/multipart/{upload['upload_id']}/complete", headers=auth, json=done
        )
        assert completed.status_code == 200, completed.text
    stored = s3.get_object(Bucket=s.delivery.bucket, Key="faults/refuse/big.mp4")["Body"].read()
    assert _sha(stored) == _sha(data)


def test_a_silent_store_is_a_503_after_a_bounded_number_of_attempts(
    settings: Settings, proxy: ToggleProxy, mezzanine: tuple[str, bytes]
) -> None:
    """A store that accepts connections and never answers (a hung process, a black-holed
    route): each attempt ends at the read timeout, and there are MAX_ATTEMPTS of them in all
    (botocore's ``max_attempts`` counts retries only; it used to allow 4 x 15 s)."""
    s = _via(settings, proxy.endpoint)
    job = {"mezzanine_key": mezzanine[0], "output_prefix": "faults/silent/"}
    with _serving(s, connect_timeout=0.5, read_timeout=0.3) as api:
        proxy.set_mode("blackhole")
        before = proxy.accepted
        _assert_503(api.post("/v1/jobs", headers=_admin(s), json=job), s, "create job")
        assert proxy.accepted - before == MAX_ATTEMPTS == 2
        proxy.set_mode("up")
        assert api.post("/v1/jobs", headers=_admin(s), json=job).status_code == 201


def test_a_slow_store_within_the_timeout_still_serves(
    settings: Settings, proxy: ToggleProxy, mezzanine: tuple[str, bytes]
) -> None:
    s = _via(settings, proxy.endpoint)
    proxy.set_mode("up", delay=0.3)
    with _serving(s, connect_timeout=2, read_timeout=3) as api:
        answer = api.post(
            "/v1/jobs",
            headers=_admin(s),
            json={"mezzanine_key": mezzanine[0], "output_prefix": "faults/slow/"},
        )
        assert answer.status_code == 201, answer.text


def test_a_closed_port_is_a_503_on_every_route_that_calls_the_store(settings: Settings) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    s = _via(settings, dead)
    job_id, auth = _mint(s, "faults/closed/")
    handle = sealed_upload(s, job_id, "faults/closed/a.mp4")
    base, upload = f"/v1/jobs/{job_id}", f"/multipart/{handle}"
    with _serving(s, **SHORT) as api:
        answers = {
            "create job": api.post("/v1/jobs", headers=_admin(s),
                                   json={"mezzanine_key": "m.mov", "output_prefix": "j/"}),
            "start": api.post(f"{base}/multipart", headers=auth,
                              json={"path": "a.mp4", "size": 5, "content_type": "video/mp4"}),
            "status": api.get(f"{base}{upload}", headers=auth, params={"path": "a.mp4", "size": 5}),
            "complete": api.post(f"{base}{upload}/complete", headers=auth, json={
                "path": "a.mp4", "size": 5, "parts": [{"part_number": 1, "etag": "0" * 32}]}),
            "abort": api.delete(f"{base}{upload}", headers=auth, params={"path": "a.mp4"}),
        }  # fmt: skip
    for what, answer in answers.items():
        _assert_503(answer, s, what)


# -- the store answering nonsense ----------------------------------------------------------------

_ERROR_XML = b"<?xml version='1.0'?><Error><Code>%s</Code><Message>m</Message></Error>"
STORE_ANSWERS = {
    "internal-error": (500, _ERROR_XML % b"InternalError"),
    "slow-down": (503, _ERROR_XML % b"SlowDown"),
    "not-xml-500": (502, b"<html>bad gateway</html>"),
    "html-page-200": (200, b"<html><body>captive portal</body></html>"),
    "empty-200": (200, b""),
    "broken-xml-200": (200, b"<CompleteMultipartUploadResult><ETag>"),
}


@pytest.mark.parametrize(("status", "body"), STORE_ANSWERS.values(), ids=STORE_ANSWERS.keys())
def test_a_store_answering_nonsense_never_yields_a_false_success_or_a_500(
    settings: Settings, fake_store: FakeStore, status: int, body: bytes
) -> None:
    """Starting and completing an upload need the store's real answer (an upload id, an
    ETag). An empty or foreign 200 used to make complete answer 200 with ``etag: ""``: the
    worker would have reported an object that was never assembled."""
    fake_store.status, fake_store.body = status, body
    s = _via(settings, fake_store.endpoint)
    job_id, auth = _mint(s, "faults/nonsense/")
    base = f"/v1/jobs/{job_id}"
    with _serving(s, **SHORT) as api:
        start = api.post(
            f"{base}/multipart",
            headers=auth,
            json={"path": "a.mp4", "size": 5, "content_type": "video/mp4"},
        )
        complete = api.post(
            f"{base}/multipart/{sealed_upload(s, job_id, 'faults/nonsense/a.mp4')}/complete",
            headers=auth,
            json={"path": "a.mp4", "size": 5, "parts": [{"part_number": 1, "etag": "0" * 32}]},
        )
    _assert_503(start, s, "start multipart")
    _assert_503(complete, s, "complete")


MALFORMED_HEADS = {
    "content-length-not-a-number": {"Content-Length": "twelve"},
    "last-modified-not-a-date": {"Last-Modified": "yesterday-ish"},
}


@pytest.mark.parametrize("headers", MALFORMED_HEADS.values(), ids=MALFORMED_HEADS.keys())
def test_a_head_answer_botocore_cannot_read_is_a_502_not_a_500(
    settings: Settings, fake_store: FakeStore, headers: dict[str, str]
) -> None:
    """botocore's parser raised ValueError past the broker: a 500 with a traceback."""
    fake_store.status, fake_store.headers = 200, headers
    s = _via(settings, fake_store.endpoint)
    with _serving(s, **SHORT) as api:
        answer = api.post(
            "/v1/jobs", headers=_admin(s), json={"mezzanine_key": "m.mov", "output_prefix": "j/"}
        )
    assert answer.status_code == 502, answer.text
    assert answer.json()["error"]["code"] == "store_bad_answer"


def test_a_skewed_clock_is_named_not_read_as_a_missing_mezzanine(
    settings: Settings, fake_store: FakeStore
) -> None:
    """A store 20 minutes behind this coordinator refuses its signatures with a 403; on a HEAD
    there is no body to say why, and job creation used to answer mezzanine_not_found."""
    store_time = datetime.now(UTC) - timedelta(minutes=20)
    fake_store.status = 403
    fake_store.headers = {"Date": email.utils.format_datetime(store_time, usegmt=True)}
    s = _via(settings, fake_store.endpoint)
    with _serving(s, **SHORT) as api:
        answer = api.post(
            "/v1/jobs", headers=_admin(s), json={"mezzanine_key": "m.mov", "output_prefix": "j/"}
        )
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    assert error["code"] == "store_clock_skew"
    assert "20 minutes ahead" in error["message"], error["message"]
    # The same 403 from a store whose clock agrees is still "not found" (no list permission).
    fake_store.headers = {"Date": email.utils.format_datetime(datetime.now(UTC), usegmt=True)}
    with _serving(s, **SHORT) as api:
        answer = api.post(
            "/v1/jobs", headers=_admin(s), json={"mezzanine_key": "m.mov", "output_prefix": "j/"}
        )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "mezzanine_not_found"


class DripStore:
    """Answers every request with a status line and then one header line every ``interval``
    seconds, ``lines`` times: each read arrives well within botocore's read timeout, so only a
    budget for the whole call can end it."""

    def __init__(self, *, interval: float = 0.25, lines: int = 120) -> None:
        self.dripping = 0  # connections still being dripped to
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._closed = threading.Event()
        self.interval, self.lines = interval, lines
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: socket.socket) -> None:
        with self._lock:
            self.dripping += 1
        try:
            with connection:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\n")
                for n in range(self.lines):
                    if self._closed.wait(self.interval):
                        return
                    connection.sendall(b"x-drip-%d: 1\r\n" % n)
        except OSError:
            pass
        finally:
            with self._lock:
                self.dripping -= 1

    def close(self) -> None:
        self._closed.set()
        self._server.close()


def test_a_dripping_store_cannot_hold_a_request_past_its_budget(settings: Settings) -> None:
    """A store sending 20 bytes every 2 s held a status call for 40 s: botocore's read timeout
    is per read. The request's store budget ends it with a 503 while the store still drips."""
    drip = DripStore()
    try:
        s = _via(settings, drip.endpoint)
        job_id, auth = _mint(s, "faults/drip/")
        handle = sealed_upload(s, job_id, "faults/drip/a.mp4")
        broker = build_broker(s, connect_timeout=1, read_timeout=5)
        app = create_app(s, broker=broker, store_budget_seconds=1.5)
        with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=60) as api:
            answer = api.get(
                f"/v1/jobs/{job_id}/multipart/{handle}",
                headers=auth,
                params={"path": "a.mp4", "size": 5},
            )
            still_dripping = drip.dripping
        _assert_503(answer, s, "status against a dripping store")
        assert "budget" in answer.json()["error"]["message"]
        assert still_dripping >= 1, "the answer came only after the store stopped dripping"
    finally:
        drip.close()


# -- settings unreadable at start ---------------------------------------------------------------

TOKEN_KEY = "t" * 40
ADMIN_KEY = "a" * 40
R2_SECRET = "r2-secret-" + "s" * 30


def _env(**changes: str | None) -> dict[str, str]:
    """A complete configuration in environment variables, with ``changes`` (None removes)."""
    env = {
        "COORDINATOR_ADMIN_KEY": ADMIN_KEY,
        "COORDINATOR_TOKEN_KEYS": json.dumps({"k1": TOKEN_KEY}),
        "R2_ENDPOINT_URL": "http://127.0.0.1:9",
        "R2_ACCESS_KEY_ID": "r2-key-id",
        "R2_SECRET_ACCESS_KEY": R2_SECRET,
        "DELIVERY_BUCKET": "deliv",
        "S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "aws-key-id",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-" + "x" * 30,
        "MEZZANINE_BUCKET": "mezz",
    }
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


BAD_STARTS: dict[str, tuple[dict[str, str | None], str]] = {
    "no-admin-key": ({"COORDINATOR_ADMIN_KEY": None}, "COORDINATOR_ADMIN_KEY"),
    "short-admin-key": ({"COORDINATOR_ADMIN_KEY": "short-admin"}, "COORDINATOR_ADMIN_KEY"),
    "no-token-keys": ({"COORDINATOR_TOKEN_KEYS": None}, "COORDINATOR_TOKEN_KEYS"),
    "token-keys-not-json": ({"COORDINATOR_TOKEN_KEYS": "k1=" + TOKEN_KEY}, "JSON object"),
    # used to escape as a ValueError from create_app: a traceback for serve, no 503 on Lambda
    "short-token-key": (
        {"COORDINATOR_TOKEN_KEYS": json.dumps({"k1": "short-token-key"})},
        "COORDINATOR_TOKEN_KEYS: token key 'k1' must be at least 32 bytes",
    ),
    "bad-key-id": (
        {"COORDINATOR_TOKEN_KEYS": json.dumps({"k 1/..": TOKEN_KEY})},
        "COORDINATOR_TOKEN_KEYS: token key id",
    ),
    "no-r2-secret": ({"R2_SECRET_ACCESS_KEY": None}, "R2_SECRET_ACCESS_KEY"),
    "unreadable-stack-outputs": (
        {"COORDINATOR_STACK_OUTPUTS": "/nonexistent/stack.json"},
        "COORDINATOR_STACK_OUTPUTS: cannot read",
    ),
}
_CONFIG_VARS = {*_env(), "COORDINATOR_STACK_OUTPUTS", "COORDINATOR_SECRET_ARN",
                "COORDINATOR_TOKEN_SIGNING_KID", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN",
                "AWS_CREDENTIAL_EXPIRATION", "R2_ACCOUNT_ID", "R2_JURISDICTION"}  # fmt: skip
_SECRET_VALUES = (ADMIN_KEY, TOKEN_KEY, R2_SECRET, "short-token-key", "short-admin")


@pytest.mark.parametrize("case", ["no-admin-key", "short-token-key", "unreadable-stack-outputs"])
def test_serve_refuses_to_start_and_says_why(case: str) -> None:
    changes, reason = BAD_STARTS[case]
    env = {
        **{k: v for k, v in os.environ.items() if k not in _CONFIG_VARS},
        **_env(**changes),
    }
    ran = subprocess.run(
        [sys.executable, "-m", "coordinator", "serve", "--port", "0"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert ran.returncode == 2, (ran.returncode, ran.stderr)
    assert ran.stderr.startswith("configuration: ") and reason in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr
    for secret in _SECRET_VALUES:
        assert secret not in ran.stdout + ran.stderr


@pytest.fixture
def lambda_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[dict[str, str]], None]]:
    def apply(env: dict[str, str]) -> None:
        for name in _CONFIG_VARS:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        lambda_handler._adapter.cache_clear()

    yield apply
    lambda_handler._adapter.cache_clear()


def _health_event() -> dict[str, Any]:
    return {
        "version": "2.0",
        "rawPath": "/healthz",
        "rawQueryString": "",
        "headers": {"host": "abc.lambda-url.eu-west-1.on.aws"},
        "requestContext": {
            "http": {"method": "GET", "path": "/healthz", "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.7"},
            "domainName": "abc.lambda-url.eu-west-1.on.aws",
        },
        "isBase64Encoded": False,
    }  # fmt: skip


@pytest.mark.parametrize("case", BAD_STARTS.keys())
def test_lambda_refuses_to_serve_says_why_in_its_log_and_heals_when_fixed(
    case: str,
    lambda_environ: Callable[[dict[str, str]], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    changes, reason = BAD_STARTS[case]
    lambda_environ(_env(**changes))
    with caplog.at_level(logging.ERROR, logger="coordinator.lambda_handler"):
        refused = lambda_handler.handler(_health_event(), None)
    assert refused["statusCode"] == 503
    assert json.loads(refused["body"])["error"]["code"] == "not_configured"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "refusing to serve" in logged and reason in logged, logged
    for secret in _SECRET_VALUES:
        assert secret not in logged and secret not in refused["body"]
    # Nothing was cached on failure: once the setting is fixed, the next event is served.
    lambda_environ(_env())
    served = lambda_handler.handler(_health_event(), None)
    assert served["statusCode"] == 200, served


def test_an_unreachable_secrets_manager_is_tried_three_times_then_named(
    proxy: ToggleProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the secret bundle at cold start: a refused endpoint is tried 3 times in all
    (it was 4: botocore's ``max_attempts`` counts retries), then a SecretsError names it."""
    from coordinator.secrets import SecretsError, fetch_secret_string

    for name, value in {
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": proxy.endpoint,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret-" + "s" * 33,
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    proxy.set_mode("refuse")
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:coordinator-AbCdEf"
    with pytest.raises(SecretsError) as refused:
        fetch_secret_string(arn)
    assert proxy.accepted == 3
    assert arn in str(refused.value) and "secret-" not in str(refused.value)


# -- signing credentials near expiry --------------------------------------------------------------


def test_urls_signed_with_expiring_credentials_are_capped_and_expires_at_is_exact(
    settings: Settings,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    temporary = Credentials(
        settings.mezzanine.credentials.access_key,
        settings.mezzanine.credentials.secret_key,
        session_token="FQoGZXIvYXdzEXAMPLE-session-token",
        expires_at=now + timedelta(seconds=90),
    )
    s = replace(settings, mezzanine=replace(settings.mezzanine, credentials=temporary))
    job_id, auth = _mint(s, "faults/expiring/")
    with _serving(s) as api:
        inputs = api.post(f"/v1/jobs/{job_id}/inputs", headers=auth, json={"expires_in": 3600})
        outputs = api.post(
            f"/v1/jobs/{job_id}/outputs",
            headers=auth,
            json={"files": [{"path": "a.ts", "content_type": "video/mp2t"}], "expires_in": 3600},
        )
    assert inputs.status_code == 200, inputs.text
    body = inputs.json()
    for url in (body["inputs"][0]["get_url"], body["inputs"][0]["head_url"]):
        query = _query(url)
        signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        lifetime = int(query["X-Amz-Expires"])
        assert 1 <= lifetime <= 90  # capped by the credentials, not the 3600 asked
        assert signed_at + timedelta(seconds=lifetime) <= temporary.expires_at  # type: ignore[operator]
        ends = (signed_at + timedelta(seconds=lifetime)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert body["expires_at"] == ends  # honest: exactly when the signature stops working
        assert query["X-Amz-Security-Token"] == temporary.session_token
    # The R2 side signs with its own (long-lived) keys: not capped by the AWS session.
    assert int(_query(outputs.json()["files"][0]["url"])["X-Amz-Expires"]) == 3600


def test_expired_signing_credentials_are_a_503_not_a_dead_url(settings: Settings) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    expired = Credentials("AKIDEXAMPLE", "secret-" + "e" * 33, session_token="tok", expires_at=past)
    s = replace(settings, mezzanine=replace(settings.mezzanine, credentials=expired))
    job_id, auth = _mint(s, "faults/expired/")
    with _serving(s) as api:
        _assert_503(api.post(f"/v1/jobs/{job_id}/inputs", headers=auth), s, "inputs")
        outputs = {"files": [{"path": "a.ts", "content_type": "video/mp2t"}]}
        assert api.post(f"/v1/jobs/{job_id}/outputs", headers=auth, json=outputs).is_success


# -- a worker that dies mid-upload --------------------------------------------------------------


def _start(api: httpx.Client, job: Any, path: str, size: int, **extra: Any) -> dict[str, Any]:
    answer = api.post(
        job.url("/multipart"),
        headers=job.auth,
        json={"path": path, "size": size, "content_type": "video/mp4", **extra},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def _status(api: httpx.Client, job: Any, upload_id: str, path: str, size: int) -> httpx.Response:
    return api.get(
        job.url(f"/multipart/{upload_id}"), headers=job.auth, params={"path": path, "size": size}
    )


def _complete(
    api: httpx.Client, job: Any, upload_id: str, path: str, size: int, etags: dict[int, str]
) -> httpx.Response:
    parts = [{"part_number": n, "etag": etags[n]} for n in sorted(etags)]
    return api.post(
        job.url(f"/multipart/{upload_id}/complete"),
        headers=job.auth,
        json={"path": path, "size": size, "parts": parts},
    )


def test_a_worker_that_dies_mid_upload_resumes_from_the_part_listing(
    api: httpx.Client, http: httpx.Client, job: Any, s3: Any, settings: Settings
) -> None:
    size = 2 * 5 * MiB + 1234
    data = _sample(size, seed=7)
    upload = _start(api, job, "film.mp4", size)
    part_size = upload["part_size"]
    chunks = {n: data[(n - 1) * part_size : n * part_size] for n in (1, 2, 3)}
    urls = {p["part_number"]: p["url"] for p in upload["parts"]}
    assert http.put(urls[1], content=chunks[1]).status_code == 200
    assert http.put(urls[3], content=chunks[3]).status_code == 200
    # Part 2 dies half way: what got stored is short (a wrong size counts as missing).
    assert http.put(urls[2], content=chunks[2][:MiB]).status_code == 200

    # A new worker knows only the token, the upload id, the path and the size.
    status = _status(api, job, upload["upload_id"], "film.mp4", size)
    assert status.status_code == 200, status.text
    state = status.json()
    assert [p["part_number"] for p in state["uploaded"]] == [1, 3]
    assert state["missing_count"] == 1 and [p["part_number"] for p in state["parts"]] == [2]
    again = http.put(state["parts"][0]["url"], content=chunks[2])
    assert again.status_code == 200
    etags = {p["part_number"]: p["etag"] for p in state["uploaded"]} | {2: again.headers["etag"]}
    done = _complete(api, job, upload["upload_id"], "film.mp4", size, etags)
    assert done.status_code == 200, done.text
    stored = s3.get_object(Bucket=settings.delivery.bucket, Key=job.prefix + "film.mp4")
    assert _sha(stored["Body"].read()) == _sha(data)


def test_resuming_re_signs_part_urls_that_have_expired(
    adapter: str, api: httpx.Client, http: httpx.Client, settings: Settings, s3: Any
) -> None:
    """Part URLs issued long ago have expired (403 at the store); the listing signs new ones."""
    now = datetime.now(UTC).replace(microsecond=0)
    job_id, auth = _mint(settings, "faults/stale/", issued_at=now - timedelta(minutes=10))
    job = _Job(job_id, auth)
    earlier = lambda: datetime.now(UTC) - timedelta(minutes=5)  # noqa: E731
    with client_over(adapter, settings, clock=earlier) as old_api:
        upload = _start(old_api, job, "late.mp4", 4321, expires_in=60)
    data = _sample(4321, seed=3)
    stale = http.put(upload["parts"][0]["url"], content=data)
    assert stale.status_code == 403 and b"expired" in stale.content
    state = _status(api, job, upload["upload_id"], "late.mp4", 4321).json()
    fresh = http.put(state["parts"][0]["url"], content=data)
    assert fresh.status_code == 200
    done = _complete(api, job, upload["upload_id"], "late.mp4", 4321, {1: fresh.headers["etag"]})
    assert done.status_code == 200, done.text
    stored = s3.get_object(Bucket=settings.delivery.bucket, Key="faults/stale/late.mp4")
    assert stored["Body"].read() == data


def test_a_big_upload_pages_its_part_urls_and_abort_discards_it(
    api: httpx.Client, http: httpx.Client, job: Any
) -> None:
    size = 1024 * 5 * MiB  # 5 GiB: 1,024 parts of 5 MiB, more than one page of URLs
    upload = _start(api, job, "huge.mp4", size)
    assert upload["part_count"] == 1024 and upload["part_size"] == 5 * MiB
    assert [p["part_number"] for p in upload["parts"]] == list(range(1, 1001))
    assert http.put(upload["parts"][0]["url"], content=_sample(5 * MiB, 1)).status_code == 200
    state = _status(api, job, upload["upload_id"], "huge.mp4", size).json()
    assert [p["part_number"] for p in state["uploaded"]] == [1]
    assert state["missing_count"] == 1023
    assert [p["part_number"] for p in state["parts"]] == list(range(2, 1002))
    aborted = api.delete(
        job.url(f"/multipart/{upload['upload_id']}"), headers=job.auth, params={"path": "huge.mp4"}
    )
    assert aborted.status_code == 204
    assert _status(api, job, upload["upload_id"], "huge.mp4", size).status_code == 404


# -- an upload completed twice ------------------------------------------------------------------


def _uploaded(
    api: httpx.Client, http: httpx.Client, job: Any, path: str, size: int, seed: int
) -> tuple[str, dict[int, str], bytes]:
    data = _sample(size, seed)
    upload = _start(api, job, path, size)
    part_size, etags = upload["part_size"], {}
    for part in upload["parts"]:
        n = part["part_number"]
        put = http.put(part["url"], content=data[(n - 1) * part_size : n * part_size])
        assert put.status_code == 200, put.text
        etags[n] = put.headers["etag"]
    return upload["upload_id"], etags, data


def test_an_upload_is_never_completed_twice(
    api: httpx.Client, http: httpx.Client, job: Any, s3: Any, settings: Settings
) -> None:
    size = 5 * MiB + 100
    upload_id, etags, data = _uploaded(api, http, job, "twice.mp4", size, seed=11)
    first = _complete(api, job, upload_id, "twice.mp4", size, etags)
    assert first.status_code == 200, first.text
    # A retry (the first answer was lost) learns that its object is safe: 409, not 404.
    second = _complete(api, job, upload_id, "twice.mp4", size, etags)
    assert second.status_code == 409, second.text
    assert second.json()["error"]["code"] == "already_completed"
    assert first.json()["etag"].strip('"') in second.json()["error"]["message"]
    # Other parts, or an abort, after completion: the upload is gone (404), the object stays.
    other = _complete(api, job, upload_id, "twice.mp4", size, {1: "f" * 32, 2: "e" * 32})
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    aborted = api.delete(
        job.url(f"/multipart/{upload_id}"), headers=job.auth, params={"path": "twice.mp4"}
    )
    assert aborted.status_code == 404
    stored = s3.get_object(Bucket=settings.delivery.bucket, Key=job.prefix + "twice.mp4")
    assert _sha(stored["Body"].read()) == _sha(data)
    assert stored["ETag"] == first.json()["etag"]


@pytest.mark.parametrize("round_", range(3))
def test_racing_completes_assemble_the_object_once_and_every_retry_hears_409(
    served: str,
    http: httpx.Client,
    api: httpx.Client,
    job: Any,
    s3: Any,
    settings: Settings,
    round_: int,
) -> None:
    """Four completes of one upload at once. The coordinator lets one complete of an upload
    reach the store at a time (the JuiceFS gateway stored 0-byte, truncated or zero-filled
    objects when completes raced), so exactly one hears 200 and the others, and any retry,
    hear 409 already_completed. The object is the parts, once."""
    size = 5 * MiB + 7
    upload_id, etags, data = _uploaded(api, http, job, "race.mp4", size, seed=12 + round_)
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(4)

    def complete() -> None:
        with httpx.Client(base_url=served, timeout=30) as client:
            barrier.wait(10)
            answers.append(_complete(client, job, upload_id, "race.mp4", size, etags))

    threads = [threading.Thread(target=complete) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 409, 409, 409], [a.text for a in answers]
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {
        "already_completed"
    }
    retry = _complete(api, job, upload_id, "race.mp4", size, etags)
    assert retry.status_code == 409, retry.text
    stored = s3.get_object(Bucket=settings.delivery.bucket, Key=job.prefix + "race.mp4")
    assert _sha(stored["Body"].read()) == _sha(data)


# -- slow and ambiguous clients of `serve` ------------------------------------------------------


def _raw_exchange(base: str, head: bytes, *, trickle: bytes = b"", every: float = 0.2) -> bytes:
    """Send ``head``, then ``trickle`` one byte every ``every`` s while no answer has come, then
    wait; return everything the server sent until it closed the connection."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall(head)
        conn.settimeout(every)
        answer = b""
        for byte in trickle:
            try:
                chunk = conn.recv(65536)
                if not chunk:
                    return answer
                answer += chunk
                break
            except TimeoutError:
                conn.sendall(bytes([byte]))
        conn.settimeout(30)
        while chunk := conn.recv(65536):
            answer += chunk
        return answer


def test_a_trickling_body_is_cut_with_408_and_the_connection_closed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn waits for a body forever; the app gives it BODY_SECONDS."""
    monkeypatch.setattr("coordinator.httpio.BODY_SECONDS", 1)
    job_id, auth = _mint(settings, "faults/trickle/")
    body = json.dumps({"files": [{"path": "a.ts", "content_type": "video/mp2t"}]}).encode()
    head = (
        f"POST /v1/jobs/{job_id}/outputs HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {auth['Authorization']}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with _served(settings) as base:
        # A few bytes, slowly, then nothing more: every byte sent is read by the server, so its
        # close after the 408 is a FIN (closing on unread bytes would be an RST, which can
        # swallow the answer on the client's side before it reads it).
        answer = _raw_exchange(base, head, trickle=body[:3], every=0.2)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout", answer[:300]
    assert b"connection: close" in rest.lower()
    assert b'"request_timeout"' in rest


def test_content_length_and_transfer_encoding_together_are_refused_and_closed(
    settings: Settings,
) -> None:
    """Both framings on one request is the classic smuggling shape (RFC 9112 6.1): the answer
    is a 400 and the connection is not reused for whatever bytes follow."""
    job_id, auth = _mint(settings, "faults/smuggle/")
    body = b'{"files":[{"path":"a.ts","content_type":"video/mp2t"}]}'
    smuggled = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    head = (
        (
            f"POST /v1/jobs/{job_id}/outputs HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: {auth['Authorization']}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
        + b"%x\r\n" % len(body)
        + body
        + b"\r\n0\r\n\r\n"
        + smuggled
    )
    with _served(settings) as base:
        answer = _raw_exchange(base, head)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert answer.count(b"HTTP/1.1 ") == 1, "a second request was served on the connection"


def test_serve_buffers_at_most_16_kib_of_an_unfinished_request_head(settings: Settings) -> None:
    """SERVER_LIMITS: uvicorn keeps at most 16 KiB of a request head that has not ended
    (h11's max incomplete event size): a head that never ends is refused, not buffered. A
    head that arrives whole in one read is parsed whatever its size (measured: 100 KiB at
    once is served): the limit bounds memory held for unfinished heads, not a head's size."""
    unfinished = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (20 * 1024)
    fits = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: " + b"a" * (12 * 1024)
    with _served(settings) as base:
        refused = _raw_exchange(base, unfinished)
        kept = _raw_exchange(base, fits, trickle=b"\r\n\r\n", every=0.05)
    assert refused.startswith(b"HTTP/1.1 4"), refused[:200]
    assert kept.startswith(b"HTTP/1.1 200 "), kept[:200]
