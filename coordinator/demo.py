"""``python -m coordinator demo``: the whole flow, end to end, on this machine.

A real S3-compatible server that checks SigV4 (``embedded_store``) plays both the S3 mezzanine
store and the R2 delivery store; the coordinator runs under uvicorn on a loopback port; a
worker that holds no credentials at all (only the job's token) fetches the mezzanine, uploads
an HLS rendition with single PUTs and a large MP4 with a multipart upload that it interrupts and
resumes, and completes it. Every object is then read back with the store's own credentials and
compared by SHA-256 and content type. Exit status 0 means all of it worked; nothing is left
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
import threading
import time
from collections.abc import Iterator
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


def _rendition(mezzanine: bytes) -> dict[str, tuple[bytes, str]]:
    """A pretend HLS rendition 'encoded' from the mezzanine: manifest plus three segments."""
    segments = {f"hls/720p/seg{i:03d}.ts": mezzanine[i * 65536 : (i + 1) * 65536] for i in range(3)}
    manifest = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n"
    manifest += "".join(f"#EXTINF:6.0,\n{name.rsplit('/', 1)[1]}\n" for name in segments)
    manifest += "#EXT-X-ENDLIST\n"
    files = {name: (data, "video/mp2t") for name, data in segments.items()}
    files["hls/720p/index.m3u8"] = (manifest.encode(), "application/vnd.apple.mpegurl")
    return files


def _worker(base: str, token: str, job_id: str, mezzanine_sha: str) -> dict[str, tuple[bytes, str]]:
    """Everything a credential-less worker does; returns what it uploaded (key -> data, type)."""
    import httpx

    auth = {"Authorization": f"Bearer {token}"}
    job = f"{base}/v1/jobs/{job_id}"
    uploaded: dict[str, tuple[bytes, str]] = {}
    # Object-store requests carry no credentials of any kind: only the presigned URL.
    with httpx.Client(timeout=30) as api, httpx.Client(timeout=60) as store:
        inputs = api.post(f"{job}/inputs", headers=auth).raise_for_status().json()
        source = inputs["inputs"][0]
        head = store.head(source["head_url"])
        _check(head.status_code == 200, f"mezzanine HEAD gave {head.status_code}")
        got = store.get(source["get_url"])
        _check(got.status_code == 200, f"mezzanine GET gave {got.status_code}")
        _check(_sha(got.content) == mezzanine_sha, "mezzanine bytes differ")
        _say("presigned GET mezzanine", f"{len(got.content):,} bytes, sha256 ok")

        rendition = _rendition(got.content)
        files = [{"path": path, "content_type": ct} for path, (_, ct) in rendition.items()]
        answer = api.post(f"{job}/outputs", headers=auth, json={"files": files})
        for signed in answer.raise_for_status().json()["files"]:
            data, content_type = rendition[signed["path"]]
            put = store.put(signed["url"], content=data, headers=signed["headers"])
            _check(put.status_code == 200, f"PUT {signed['path']} gave {put.status_code}")
            uploaded[signed["key"]] = (data, content_type)
        _say("presigned PUT x4", "HLS manifest + 3 segments, content types signed")

        escape = api.post(
            f"{job}/outputs",
            headers=auth,
            json={"files": [{"path": "../../masters/evil.mov", "content_type": "video/mp4"}]},
        )
        _check(escape.status_code == 400, f"a '..' path gave {escape.status_code}")
        _say("path outside prefix", "refused: 400, no URL")

        big = _sample(BIG_OUTPUT_SIZE, seed=42)
        path, content_type = "mp4/1080p.mp4", "video/mp4"
        started = api.post(
            f"{job}/multipart",
            headers=auth,
            json={"path": path, "size": len(big), "content_type": content_type},
        )
        upload = started.raise_for_status().json()
        size, count = upload["part_size"], upload["part_count"]
        _say(
            "multipart start",
            f"{count} parts of {size // 2**20} MiB, upload {upload['upload_id'][:8]}…",
        )
        for part in upload["parts"][:-1]:  # the worker "crashes" before the last part
            n = part["part_number"]
            put = store.put(part["url"], content=big[(n - 1) * size : n * size])
            _check(put.status_code == 200, f"part {n} gave {put.status_code}")

        resumed = (
            api.get(
                f"{job}/multipart/{upload['upload_id']}",
                headers=auth,
                params={"path": path, "size": len(big)},
            )
            .raise_for_status()
            .json()
        )
        _check(resumed["missing_count"] == 1, f"expected 1 missing part, got {resumed}")
        _say(
            "resume: list parts",
            f"{len(resumed['uploaded'])} stored, {resumed['missing_count']} missing, re-signed",
        )
        for part in resumed["parts"]:
            n = part["part_number"]
            put = store.put(part["url"], content=big[(n - 1) * size : n * size])
            _check(put.status_code == 200, f"part {n} gave {put.status_code}")
        etags = {p["part_number"]: p["etag"] for p in resumed["uploaded"]}
        final = (
            api.get(
                f"{job}/multipart/{upload['upload_id']}",
                headers=auth,
                params={"path": path, "size": len(big)},
            )
            .raise_for_status()
            .json()
        )
        etags.update({p["part_number"]: p["etag"] for p in final["uploaded"]})
        parts = [{"part_number": n, "etag": etags[n]} for n in sorted(etags)]
        done = (
            api.post(
                f"{job}/multipart/{upload['upload_id']}/complete",
                headers=auth,
                json={"path": path, "size": len(big), "parts": parts},
            )
            .raise_for_status()
            .json()
        )
        uploaded[done["key"]] = (big, content_type)
        _say("multipart complete", f"{len(big):,} bytes, etag {done['etag']}")

        doomed = (
            api.post(
                f"{job}/multipart",
                headers=auth,
                json={"path": "mp4/abandoned.mp4", "size": 6 * 2**20, "content_type": content_type},
            )
            .raise_for_status()
            .json()
        )
        url = f"{job}/multipart/{doomed['upload_id']}"
        aborted = api.delete(url, headers=auth, params={"path": "mp4/abandoned.mp4"})
        _check(aborted.status_code == 204, f"abort gave {aborted.status_code}")
        gone = api.get(url, headers=auth, params={"path": "mp4/abandoned.mp4", "size": 6 * 2**20})
        _check(gone.status_code == 404, f"status after abort gave {gone.status_code}")
        _say("multipart abort", "204, then 404 for the upload")
    return uploaded


def _verify(client: Any, uploaded: dict[str, tuple[bytes, str]]) -> None:
    for key, (data, content_type) in uploaded.items():
        stored = client.get_object(Bucket=DELIVERY_BUCKET, Key=key)
        body = stored["Body"].read()
        _check(_sha(body) == _sha(data), f"{key}: bytes differ")
        _check(
            stored["ContentType"] == content_type, f"{key}: content type {stored['ContentType']}"
        )
    _say("read back + sha256", f"{len(uploaded)} objects match, content types kept")


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
            uploaded = _worker(base, created["worker_token"], created["job_id"], _sha(mezzanine))
        _verify(admin, uploaded)
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
