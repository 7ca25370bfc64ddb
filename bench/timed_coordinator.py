"""The coordinator for ``bench/load.py``, in its own process: ``create_app(load_settings())``
under uvicorn as ``python -m coordinator serve`` runs it (access log off), wrapped so that each
request's app time and the part of it spent in store calls are recorded per route. With
``BENCH_STORE_CLIENT=boto3`` the store calls go through boto3 instead (the comparison).

``timed_broker``, ``store_time`` and ``route_name`` are shared with ``bench/load_lambda.py``
(the same timing around the Lambda handler, in process).

``coordinator_process`` starts it (``python bench/timed_coordinator.py PORT``) and yields its URL;
``GET /__bench__/stats`` answers the samples and the process's CPU time, ``/__bench__/reset``
clears them.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
import resource
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

ROOT = Path(__file__).resolve().parent.parent

STATS_PATH = "/__bench__/stats"  # answered by the timing wrapper, not by the app
# "boto3": the store calls go through boto3 clients instead of the coordinator's S3Client (the
# happy path maps no error, so store.call takes either).
STORE_CLIENT_VAR = "BENCH_STORE_CLIENT"
RESET_PATH = "/__bench__/reset"


_STORE_NS: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "store_ns", default=None
)
_ROUTES = [
    ("POST", re.compile(r"/v1/jobs"), "create job"),
    ("POST", re.compile(r"/v1/jobs/[^/]+/inputs"), "inputs"),
    ("POST", re.compile(r"/v1/jobs/[^/]+/outputs"), "outputs"),
    ("POST", re.compile(r"/v1/jobs/[^/]+/multipart"), "multipart start"),
    ("GET", re.compile(r"/v1/jobs/[^/]+/multipart/[^/]+"), "multipart status"),
    ("POST", re.compile(r"/v1/jobs/[^/]+/multipart/[^/]+/complete"), "multipart complete"),
    ("DELETE", re.compile(r"/v1/jobs/[^/]+/multipart/[^/]+"), "multipart abort"),
]


def route_name(method: str, path: str) -> str:
    for want, pattern, name in _ROUTES:
        if method == want and pattern.fullmatch(path):
            return name
    return f"{method} other"


class _TimedClient:
    """A store client whose method calls add their duration to the request's store time (the
    context variable travels into Starlette's thread pool with the request's context)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter_ns()
            try:
                return attribute(*args, **kwargs)
            finally:
                spent = _STORE_NS.get()
                if spent is not None:
                    spent.append(time.perf_counter_ns() - start)

        return timed


class _Timing:
    """ASGI wrapper: per route, (app ns, store ns, status) for every request it passes on."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.samples: dict[str, list[tuple[int, int, int]]] = defaultdict(list)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in (STATS_PATH, RESET_PATH):
            await self._admin(scope["path"], send)
            return
        name = route_name(scope["method"], scope["path"])
        spent: list[int] = []
        token = _STORE_NS.set(spent)
        start = time.perf_counter_ns()
        status = 0

        async def timed_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                self.samples[name].append((time.perf_counter_ns() - start, sum(spent), status))
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            _STORE_NS.reset(token)

    async def _admin(self, path: str, send: Any) -> None:
        if path == RESET_PATH:
            self.samples.clear()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        body = json.dumps(
            {"routes": self.samples, "cpu_s": usage.ru_utime + usage.ru_stime}
        ).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def timed_broker(settings: Any, *, store_client: str | None = None) -> Any:
    """The broker ``create_core`` builds for ``settings``, its store calls timed (``store_time``);
    ``store_client="boto3"``: through boto3 clients instead (the comparison)."""
    from coordinator.app import build_broker
    from coordinator.broker import Broker
    from coordinator.store import Store

    plain = build_broker(settings)
    if store_client == "boto3":  # the alternative, for load.py's comparison
        from coordinator.s3client import make_client

        def boto3_client(store: Store) -> Store:
            client = make_client(
                endpoint=store.endpoint, region=store.region, credentials=store.credentials
            )
            return replace(store, client=lambda: client)

        plain = Broker(
            mezzanine=boto3_client(plain.mezzanine),
            delivery=boto3_client(plain.delivery),
            handles=plain.handles,
        )

    def timed(store: Store) -> Store:
        make = store.client
        return replace(store, client=lambda: _TimedClient(make()))

    return Broker(
        mezzanine=timed(plain.mezzanine), delivery=timed(plain.delivery), handles=plain.handles
    )


@contextlib.contextmanager
def store_time() -> Iterator[list[int]]:
    """The durations (ns) of the store calls made in this context, as they happen."""
    spent: list[int] = []
    token = _STORE_NS.set(spent)
    try:
        yield spent
    finally:
        _STORE_NS.reset(token)


def serve_coordinator(port: int) -> None:
    """The coordinator as ``python -m coordinator serve`` builds it, wrapped for timing."""
    import uvicorn

    from coordinator.app import create_app
    from coordinator.config import load_settings

    settings = load_settings()
    broker = timed_broker(settings, store_client=os.environ.get(STORE_CLIENT_VAR))
    app = _Timing(create_app(settings, broker=broker))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_level="warning",
        server_header=False,
        lifespan="off",
    )



def coordinator_environment(
    store: Any, *, admin_key: str, token_key: str, delivery_bucket: str, mezzanine_bucket: str,
    region: str,
) -> dict[str, str]:  # fmt: skip
    """The coordinator's settings for a bench: both sides on the embedded ``store``."""
    return {
        "COORDINATOR_ADMIN_KEY": admin_key,
        "COORDINATOR_TOKEN_KEYS": json.dumps({"bench-1": token_key}),
        "R2_ENDPOINT_URL": store.endpoint,
        "R2_ACCESS_KEY_ID": store.access_key,
        "R2_SECRET_ACCESS_KEY": store.secret_key,
        "DELIVERY_BUCKET": delivery_bucket,
        "S3_ENDPOINT_URL": store.endpoint,
        "AWS_REGION": region,
        "AWS_ACCESS_KEY_ID": store.access_key,
        "AWS_SECRET_ACCESS_KEY": store.secret_key,
        "MEZZANINE_BUCKET": mezzanine_bucket,
    }


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def coordinator_process(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """The coordinator in its own process; yields (base URL, pid)."""
    names = set(env) | {"COORDINATOR_STACK_OUTPUTS", "COORDINATOR_SECRET_ARN", "AWS_SESSION_TOKEN"}
    clean = {k: v for k, v in os.environ.items() if k not in names}
    for _ in range(3):
        port = _free_port()
        with log.open("ab") as sink:
            process = subprocess.Popen(
                [sys.executable, __file__, str(port)],
                env={**clean, **env}, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=sink,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        if process.poll() is None:
            break
    else:
        sys.exit(f"the coordinator would not start:\n{log.read_text()[-2000:]}")
    try:
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    serve_coordinator(int(sys.argv[1]))
