"""``python -m coordinator demo``: the whole flow, end to end, on this machine.

A real S3-compatible server that checks SigV4 (``embedded_store``) plays both the S3 mezzanine
store and the R2 delivery store; the coordinator runs under uvicorn on a loopback port; a
worker that holds no credentials at all (only the job's token) fetches the mezzanine, packages a
small ladder (HLS and DASH, three renditions, audio, subtitles, a 12 MiB MP4) and publishes it
with the worker client (``coordinator.client``): the first run is killed mid-publish (the
MP4's parts stored, not completed), the second resumes and uploads only what is missing,
manifests after their segments, the master last.
Every object is then read back with the store's own credentials and compared by SHA-256,
content type and Cache-Control. Exit status 0 means all of it worked; nothing is left
running or on disk afterwards.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import secrets
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .app import create_app
from .config import Settings, StoreSettings
from .embedded_store import EmbeddedStore, embedded_store
from .endpoints import SIGV4_REGION
from .httpio import SERVER_LIMITS
from .s3client import make_client

__all__ = ["main", "serve_in_thread"]

MEZZANINE_BUCKET = "demo-mezzanine"
DELIVERY_BUCKET = "demo-delivery"
MEZZANINE_KEY = "masters/title-0042/master.mov"
OUTPUT_PREFIX = "renditions/title-0042/"
MEZZANINE_REGION = "eu-central-1"  # any AWS region: the S3 side is signed for it
MEZZANINE_SIZE = 4 * 1024 * 1024 + 123
BIG_OUTPUT_SIZE = 12 * 1024 * 1024 + 4321  # three 5 MiB parts, the last shorter


class DemoFailure(Exception):
    """A step did not do what it should; the message says which."""


def _say(step: str, detail: str = "") -> None:
    print(f"  {step:<28} {detail}".rstrip(), flush=True)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise DemoFailure(message)


def _sample(size: int, *, seed: int) -> bytes:
    """Reproducible stand-in media bytes (not secret: a seeded PRNG is what we want)."""
    return random.Random(seed).randbytes(size)  # noqa: S311


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def serve_in_thread(app: Any, *, timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields the base URL."""
    import uvicorn

    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it every answer waits 40 ms for a delayed ACK (Nagle: headers, then body).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # bound here, so no other process can take it meanwhile
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app, log_level="warning", lifespan="off", server_header=False, **SERVER_LIMITS
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise DemoFailure("the coordinator did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()


def _settings(store: EmbeddedStore) -> Settings:
    # One local server stands in for both stores; in production these are different
    # endpoints with different credentials (AWS role for S3, bucket-scoped token for R2).
    return Settings(
        admin_key=secrets.token_urlsafe(32),
        token_keys={"demo-1": secrets.token_urlsafe(32)},
        signing_kid="demo-1",
        mezzanine=StoreSettings(
            endpoint=store.endpoint,
            region=MEZZANINE_REGION,
            bucket=MEZZANINE_BUCKET,
            credentials=store.credentials,
        ),
        delivery=StoreSettings(
            endpoint=store.endpoint,
            region=SIGV4_REGION,
            bucket=DELIVERY_BUCKET,
            credentials=store.credentials,
        ),
    )


class _WorkerKilled(Exception):
    """The demo's injected crash: the worker dies instead of sending a request."""


def _killing_transport(puts: int) -> Any:
    """An httpx transport to the store that 'kills' the worker before its ``puts``-th PUT."""
    import httpx

    class Transport(httpx.HTTPTransport):
        def __init__(self) -> None:
            super().__init__()
            self.sent = 0
            self.stored = 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            self.sent += request.method == "PUT"
            if self.sent >= puts:
                raise _WorkerKilled(f"worker killed before PUT {self.sent}")
            response = super().handle_request(request)
            self.stored += request.method == "PUT" and response.status_code == 200
            return response

    return Transport()


def _worker(base: str, token: str, job_id: str, mezzanine_sha: str, workdir: Path) -> Path:
    """Everything a credential-less worker does; returns the ladder directory it published."""
    import httpx

    from .client import CoordinatorApi, CoordinatorRefused, Journal, Publisher, Transfer
    from .client.journal import DEFAULT_NAME
    from .sample_ladder import write_sample_ladder

    # Object-store requests carry no credentials of any kind: only the presigned URL.
    with CoordinatorApi(base, job_id=job_id, token=token) as api, httpx.Client(timeout=60) as store:
        source = api.inputs()["inputs"][0]
        head = store.head(source["head_url"])
        _check(head.status_code == 200, f"mezzanine HEAD gave {head.status_code}")
        got = store.get(source["get_url"])
        _check(got.status_code == 200, f"mezzanine GET gave {got.status_code}")
        _check(_sha(got.content) == mezzanine_sha, "mezzanine bytes differ")
        _say("presigned GET mezzanine", f"{len(got.content):,} bytes, sha256 ok")

        # "Encode": a packaged ladder (HLS + DASH, 3 renditions, audio, subtitles, an MP4).
        ladder = workdir / "ladder"
        files = write_sample_ladder(ladder, download_size=BIG_OUTPUT_SIZE)
        total = sum(f.stat().st_size for f in files)
        _say("ladder packaged", f"{len(files)} files, {total:,} bytes (HLS + DASH + MP4)")

        journal_path = ladder / DEFAULT_NAME
        killer = _killing_transport(30)  # mid-wave: MP4 parts stored, not completed
        crashing = Transfer(client=httpx.Client(transport=killer, timeout=60))
        try:
            Publisher(api=api, transfer=crashing).publish(
                ladder, journal=Journal(journal_path, job_id=job_id)
            )
            raise DemoFailure("the injected crash did not happen")
        except _WorkerKilled:
            pass
        finally:
            crashing.close()
        _say(
            "publish (worker killed)",
            f"{killer.stored} PUTs stored (the MP4's parts first), then killed mid-wave",
        )

        transfer = Transfer()
        try:
            summary = Publisher(api=api, transfer=transfer).publish(
                ladder, journal=Journal(journal_path, job_id=job_id)
            )
        finally:
            transfer.close()
        _check(summary.resumed_uploads == 1, "the multipart upload was not resumed")
        _check(summary.verified == len(files), "not every file was verified")
        _say(
            "publish again (resumed)",
            f"{summary.puts} PUTs + {summary.parts} part(s) for what was missing, "
            f"{summary.skipped_files} files skipped, multipart resumed",
        )
        _say("order", f"waves {summary.waves}: segments, then media playlists, master last")

        try:
            api.outputs([{"path": "../../masters/evil.mov", "content_type": "video/mp4"}])
            raise DemoFailure("a '..' path was signed")
        except CoordinatorRefused as refused:
            _check(refused.status == 400, f"a '..' path gave {refused.status}")
        _say("path outside prefix", "refused: 400, no URL")

        doomed = api.create_multipart("mp4/abandoned.mp4", size=6 * 2**20, content_type="video/mp4")
        api.abort_multipart(doomed["upload_id"], path="mp4/abandoned.mp4")
        try:
            api.multipart_status(doomed["upload_id"], path="mp4/abandoned.mp4", size=6 * 2**20)
            raise DemoFailure("an aborted upload still answers")
        except CoordinatorRefused as gone:
            _check(gone.status == 404, f"status after abort gave {gone.status}")
        _say("multipart abort", "204, then 404 for the upload")
    return ladder


def _verify(client: Any, ladder: Path) -> None:
    from .client.journal import DEFAULT_NAME
    from .client.media import cache_control, content_type

    files = [p for p in ladder.rglob("*") if p.is_file() and p.name != DEFAULT_NAME]
    for path in files:
        name = path.relative_to(ladder).as_posix()
        stored = client.get_object(Bucket=DELIVERY_BUCKET, Key=OUTPUT_PREFIX + name)
        _check(_sha(stored["Body"].read()) == _sha(path.read_bytes()), f"{name}: bytes differ")
        _check(stored["ContentType"] == content_type(name), f"{name}: {stored['ContentType']}")
        _check(stored.get("CacheControl") == cache_control(name), f"{name}: Cache-Control")
    listed = client.list_objects_v2(Bucket=DELIVERY_BUCKET, Prefix=OUTPUT_PREFIX)["KeyCount"]
    _check(listed == len(files), f"{listed} objects under the prefix, {len(files)} files")
    _say("read back + sha256", f"{len(files)} objects match, content types and caching kept")


def run() -> None:
    """The demo; raises on the first thing that does not work."""
    import httpx

    started = time.monotonic()
    print("r2-video coordinator demo (worker holds no credentials)")
    with embedded_store() as store:
        _say("store", f"JuiceFS S3 gateway at {store.endpoint} (checks SigV4)")
        admin = make_client(
            endpoint=store.endpoint, region=SIGV4_REGION, credentials=store.credentials
        )
        for bucket in (MEZZANINE_BUCKET, DELIVERY_BUCKET):
            admin.create_bucket(Bucket=bucket)
        mezzanine = _sample(MEZZANINE_SIZE, seed=7)
        admin.put_object(Bucket=MEZZANINE_BUCKET, Key=MEZZANINE_KEY, Body=mezzanine)
        _say(
            "buckets + mezzanine", f"{MEZZANINE_BUCKET}/{MEZZANINE_KEY} ({MEZZANINE_SIZE:,} bytes)"
        )

        settings = _settings(store)
        with serve_in_thread(create_app(settings)) as base:
            _say("coordinator", f"uvicorn at {base}")
            created = (
                httpx.post(
                    f"{base}/v1/jobs",
                    headers={"Authorization": f"Bearer {settings.admin_key}"},
                    json={
                        "mezzanine_key": MEZZANINE_KEY,
                        "output_prefix": OUTPUT_PREFIX,
                        "ttl_seconds": 900,
                    },
                )
                .raise_for_status()
                .json()
            )
            _say("job created (admin)", f"{created['job_id']}, token until {created['expires_at']}")
            with tempfile.TemporaryDirectory(prefix="r2video-demo-") as workdir:
                ladder = _worker(
                    base, created["worker_token"], created["job_id"], _sha(mezzanine), Path(workdir)
                )
                _verify(admin, ladder)
    print(f"demo OK in {time.monotonic() - started:.1f}s; store stopped, temp dir removed")


def main() -> int:
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # run the cleanup in every finally on the way out

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
    try:
        run()
    except DemoFailure as exc:
        print(f"demo FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo interrupted; cleaned up", file=sys.stderr)
        return 130
    except Exception as exc:  # the demo reports any failure as one line and a non-zero exit
        response = getattr(exc, "response", None)
        detail = getattr(response, "text", "")[:300]
        print(f"demo FAILED: {type(exc).__name__}: {exc} {detail}".rstrip(), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
