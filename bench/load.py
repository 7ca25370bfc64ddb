"""The coordinator under load: N simulated encoding workers for T seconds, all on loopback.

Run:
  .venv/bin/python bench/load.py                # 50 workers for 20 s, then the batch figure
  .venv/bin/python bench/load.py --quick        # 20 workers for 4 s
  .venv/bin/python bench/load.py --workers 100 --seconds 30 --json /tmp/load.json
  .venv/bin/python bench/load.py --quick --lambda-path   # then the Lambda path (below)

Three processes share the machine: the embedded S3 store (the JuiceFS gateway: it checks every
SigV4 signature and writes real files), the coordinator (``create_app(load_settings())`` under
uvicorn in its own process, as ``python -m coordinator serve`` runs it, access log off) and
this one, whose N asyncio workers (httpx) each loop until the time is up, one job per loop, as
an encoder would:

  create the job (admin key) -> inputs -> GET the mezzanine (SHA-256 checked)
  -> outputs for an HLS manifest and 3 segments -> PUT each (content types signed)
  -> multipart start for a 2-part file (5 MiB + a tail) -> PUT part 1
  -> status, as a worker restarted after a crash would -> PUT the missing part
  -> complete (the answer's ETag checked against the parts')

Afterwards every object written is read back with the store's own credentials and compared by
SHA-256, size and content type; nothing else may be under the prefix, and no multipart upload
may be left open.

Reported: coordinator requests per second; per endpoint the p50/p95/p99 latency the workers
saw, and the time the app spent (an ASGI wrapper inside the coordinator process), with the part
of it spent waiting on the store (boto3 calls); presigned transfers to the store separately;
CPU seconds per process; errors (any unexpected status or transport error) and objects verified.

Then the batch figure: the server time for one ``POST /multipart`` that answers with 1,000 part
URLs (a 5 GiB upload: 1,024 parts of 5 MiB; 1,000 is the most one answer carries), and in the
same run the obvious alternative: the same 1,000 URLs from boto3's ``generate_presigned_url``
(first checked byte-identical, clock frozen). Prints figures; asserts no timing.

With ``--lambda-path``, after the serve coordinator has stopped: the same load again (same
workers, same mix, same checks, every object verified with the rest) into the Lambda handler in
this process (bench/load_lambda.py: each request a Function URL event, payload 2.0), its calls on
a pool of ``--lambda-threads`` threads (default: as many as workers, then 1, as one Lambda
instance runs events). The coordinator's CPU there is the handler threads' own CPU inside the
calls (``time.thread_time``), printed per request next to the serve figure of the same run and
their ratio; ``--lambda-profile`` adds a phase under cProfile (CPU-timed) and its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import unittest.mock
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from load_report import percentiles, report
from timed_coordinator import (
    RESET_PATH,
    STATS_PATH,
    STORE_CLIENT_VAR,
    coordinator_environment,
    coordinator_process,
)

from coordinator.multipart import multipart_etag

ROOT = Path(__file__).resolve().parent.parent
MiB = 2**20
MEZZANINE_BUCKET = "load-mezzanine"
DELIVERY_BUCKET = "load-delivery"
MEZZANINE_KEY = "masters/load/master.mov"
MEZZANINE_SIZE = 256 * 1024
MEZZANINE_REGION = "eu-central-1"
PART_SIZE = 5 * MiB  # R2's minimum; all parts but the last are this size
BATCH_SIZE = 1024 * PART_SIZE  # 5 GiB: 1,024 parts, 1,000 URLs in the first answer
BATCH_URLS = 1000


# ---------------------------------------------------------------------------------------------
# In this process: the store, the coordinator process, the workers



def _cpu_seconds(pid: int) -> float:
    """user + system CPU of a process (all its threads), from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pid_of(needle: str) -> int | None:
    """The process whose command line mentions ``needle`` (the store's work directory)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "cmdline").read_bytes().decode(errors="replace"):
                return int(entry.name)
    return None


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Expected:
    sha256: str
    size: int
    content_type: str


@dataclass
class Tally:
    """What the workers saw."""

    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    transfers: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    transfer_bytes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    expected: dict[str, Expected] = field(default_factory=dict)
    jobs: int = 0

    def error(self, what: str, detail: str) -> None:
        self.errors[what] += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{what}: {detail[:300]}")


class JobFailed(Exception):
    """A step did not answer as it should; counted, and the worker moves to its next job."""


class Blobs:
    """Reproducible media bytes; every object gets a unique tail so each checksum differs."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        self.mezzanine = rng.randbytes(MEZZANINE_SIZE)
        self.part_one = rng.randbytes(PART_SIZE)
        self.part_one_hash = hashlib.sha256(self.part_one)
        self.part_one_md5 = hashlib.md5(self.part_one, usedforsecurity=False).hexdigest()
        self.pool = rng.randbytes(256 * 1024)


class Workers:
    def __init__(
        self,
        base: str,
        admin_key: str,
        blobs: Blobs,
        tally: Tally,
        workers: int,
        phase: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base = base
        self.transport = transport  # None: over HTTP to ``base``; else the coordinator in it
        self.phase = phase  # prefixes every job's tag: phases never share a key
        self.admin = {"Authorization": f"Bearer {admin_key}"}
        self.blobs = blobs
        self.mezzanine_sha = hashlib.sha256(blobs.mezzanine).hexdigest()
        self.tally = tally
        self.limits = httpx.Limits(max_connections=workers * 4, max_keepalive_connections=workers)

    async def run(self, workers: int, seconds: float, mark: Callable[[], None]) -> float:
        async with (
            httpx.AsyncClient(
                base_url=self.base, timeout=60, limits=self.limits, transport=self.transport
            ) as self.api,
            httpx.AsyncClient(timeout=120, limits=self.limits) as self.store,
        ):
            # Warm-up, outside the figures: the coordinator imports boto3 on its first HEAD.
            await self.job(0, 0)
            await self.api.post(RESET_PATH)
            for kind in (self.tally.latency, self.tally.transfers, self.tally.transfer_bytes):
                kind.clear()
            self.tally.jobs = 0  # its objects stay expected: they are verified with the rest
            mark()
            started = time.perf_counter()
            deadline = started + seconds
            await asyncio.gather(*(self.worker(i, deadline) for i in range(workers)))
            return time.perf_counter() - started

    async def worker(self, number: int, deadline: float) -> None:
        count = 0
        while time.perf_counter() < deadline:
            count += 1
            with contextlib.suppress(JobFailed):
                await self.job(number + 1, count)

    async def call(self, what: str, expect: int, method: str, url: str, **kw: Any) -> Any:
        start = time.perf_counter()
        try:
            answer = await self.api.request(method, url, **kw)
        except httpx.HTTPError as exc:
            self.tally.error(what, f"{type(exc).__name__}: {exc}")
            raise JobFailed from None
        self.tally.latency[what].append(time.perf_counter() - start)
        if answer.status_code != expect:
            self.tally.error(f"{what} {answer.status_code}", answer.text)
            raise JobFailed
        return answer.json()

    async def transfer(
        self, what: str, method: str, url: str, *, content: bytes = b"", **kw: Any
    ) -> httpx.Response:
        start = time.perf_counter()
        try:
            answer = await self.store.request(method, url, content=content or None, **kw)
        except httpx.HTTPError as exc:
            self.tally.error(what, f"{type(exc).__name__}: {exc}")
            raise JobFailed from None
        self.tally.transfers[what].append(time.perf_counter() - start)
        self.tally.transfer_bytes[what] += len(content) or len(answer.content)
        if answer.status_code != 200:
            self.tally.error(f"{what} {answer.status_code}", answer.text)
            raise JobFailed
        return answer

    async def job(self, worker: int, number: int) -> None:
        tag = f"{self.phase}w{worker:03d}-j{number:05d}"
        rng = random.Random(tag)
        job = await self.call(
            "create job", 201, "POST", "/v1/jobs", headers=self.admin,
            json={"mezzanine_key": MEZZANINE_KEY, "output_prefix": f"load/{tag}/",
                  "ttl_seconds": 3600},
        )  # fmt: skip
        auth = {"Authorization": f"Bearer {job['worker_token']}"}
        jobs = f"/v1/jobs/{job['job_id']}"

        inputs = await self.call("inputs", 200, "POST", f"{jobs}/inputs", headers=auth)
        got = await self.transfer("GET mezzanine", "GET", inputs["inputs"][0]["get_url"])
        if hashlib.sha256(got.content).hexdigest() != self.mezzanine_sha:
            self.tally.error("GET mezzanine", "checksum differs")
            raise JobFailed

        files: dict[str, tuple[bytes, str]] = {}
        names = [f"hls/720p/seg{i:03d}.ts" for i in range(3)]
        for name in names:
            start = rng.randrange(0, len(self.blobs.pool) - 65536)
            data = self.blobs.pool[start : start + rng.randrange(16384, 65536)] + tag.encode()
            files[name] = (data, "video/mp2t")
        manifest = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n" + "".join(
            f"#EXTINF:6.0,\n{name.rsplit('/', 1)[1]}\n" for name in names
        )
        files["hls/720p/index.m3u8"] = (manifest.encode(), "application/vnd.apple.mpegurl")
        outputs = await self.call(
            "outputs", 200, "POST", f"{jobs}/outputs", headers=auth,
            json={"files": [{"path": p, "content_type": t} for p, (_, t) in files.items()]},
        )  # fmt: skip
        puts = [
            self.transfer("PUT segment", "PUT", f["url"], content=files[f["path"]][0],
                          headers=f["headers"])
            for f in outputs["files"]
        ]  # fmt: skip
        await asyncio.gather(*puts)
        for signed in outputs["files"]:
            data, content_type = files[signed["path"]]
            digest = hashlib.sha256(data).hexdigest()
            self.tally.expected[signed["key"]] = Expected(digest, len(data), content_type)

        tail = tag.encode() + rng.randbytes(rng.randrange(1, 65536))
        size = PART_SIZE + len(tail)
        path = "mp4/1080p.mp4"
        started = await self.call(
            "multipart start", 201, "POST", f"{jobs}/multipart", headers=auth,
            json={"path": path, "size": size, "content_type": "video/mp4"},
        )  # fmt: skip
        if started["part_count"] != 2:
            self.tally.error("multipart start", f"plan {started['part_count']} parts")
            raise JobFailed
        upload = f"{jobs}/multipart/{started['upload_id']}"
        await self.transfer(
            "PUT part", "PUT", started["parts"][0]["url"], content=self.blobs.part_one
        )
        # As a worker restarted after a crash: ask what is stored, upload the rest.
        status = await self.call(
            "multipart status", 200, "GET", upload, headers=auth,
            params={"path": path, "size": size},
        )  # fmt: skip
        if [p["part_number"] for p in status["parts"]] != [2]:
            self.tally.error("multipart status", json.dumps(status)[:300])
            raise JobFailed
        second = await self.transfer("PUT part", "PUT", status["parts"][0]["url"], content=tail)
        etags = [status["uploaded"][0]["etag"], second.headers["etag"]]
        done = await self.call(
            "multipart complete", 200, "POST", f"{upload}/complete", headers=auth,
            json={"path": path, "size": size,
                  "parts": [{"part_number": n, "etag": e} for n, e in enumerate(etags, 1)]},
        )  # fmt: skip
        if done["etag"].strip('"') != multipart_etag(etags):
            self.tally.error("multipart complete", f"etag {done['etag']}")
            raise JobFailed
        digest = self.blobs.part_one_hash.copy()
        digest.update(tail)
        self.tally.expected[done["key"]] = Expected(digest.hexdigest(), size, "video/mp4")
        self.tally.jobs += 1


def verify(s3: Any, tally: Tally) -> dict[str, int]:
    """Read every object back: SHA-256, size, content type; nothing extra, nothing left open."""

    def check(item: tuple[str, Expected]) -> str | None:
        key, want = item
        try:
            got = s3.get_object(Bucket=DELIVERY_BUCKET, Key=key)
        except Exception as exc:  # reported, not raised
            return f"{key}: {type(exc).__name__}"
        data = got["Body"].read()
        if len(data) != want.size or hashlib.sha256(data).hexdigest() != want.sha256:
            return f"{key}: bytes differ"
        if got["ContentType"] != want.content_type:
            return f"{key}: content type {got['ContentType']!r}"
        return None

    with ThreadPoolExecutor(8) as pool:
        problems = [p for p in pool.map(check, tally.expected.items()) if p]
    stored: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=DELIVERY_BUCKET, Prefix="load/"
    ):
        stored.update(o["Key"] for o in page.get("Contents", []))
    open_uploads = s3.list_multipart_uploads(Bucket=DELIVERY_BUCKET, Prefix="load/")
    return {
        "expected": len(tally.expected),
        "verified": len(tally.expected) - len(problems),
        "bad": len(problems),
        "unexpected": len(stored - set(tally.expected)),
        "missing": len(set(tally.expected) - stored),
        "open_uploads": len(open_uploads.get("Uploads", [])),
        "bytes": sum(e.size for e in tally.expected.values()),
        "problems": problems[:5],  # type: ignore[dict-item]
    }


# ---------------------------------------------------------------------------------------------
# The batch figure


def _median_ms(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def batch_figures(base: str, admin_key: str, env: dict[str, str], repeats: int) -> dict[str, Any]:
    from coordinator.app import build_broker
    from coordinator.config import load_settings
    from coordinator.s3client import make_client

    with httpx.Client(base_url=base, timeout=60) as api:
        job = api.post(
            "/v1/jobs",
            headers={"Authorization": f"Bearer {admin_key}"},
            json={"mezzanine_key": MEZZANINE_KEY, "output_prefix": "batch/"},
        ).json()
        auth = {"Authorization": f"Bearer {job['worker_token']}"}
        walls, sizes, upload = [], [], {}
        api.get(RESET_PATH)
        for n in range(repeats + 1):
            start = time.perf_counter()
            answer = api.post(
                f"/v1/jobs/{job['job_id']}/multipart",
                headers=auth,
                json={"path": f"big-{n}.mp4", "size": BATCH_SIZE, "content_type": "video/mp4"},
            )
            wall = time.perf_counter() - start
            upload = answer.json()
            if answer.status_code != 201 or len(upload["parts"]) != BATCH_URLS:
                sys.exit(f"batch request failed: {answer.status_code} {answer.text[:300]}")
            if n:  # the first one warms the path
                walls.append(wall)
                sizes.append(len(answer.content))
            api.delete(
                f"/v1/jobs/{job['job_id']}/multipart/{upload['upload_id']}",
                headers=auth,
                params={"path": f"big-{n}.mp4"},
            )
        samples = api.get(STATS_PATH).json()["routes"]["multipart start"][1:]
    app_ms = statistics.median(s[0] for s in samples) / 1e6
    store_ms = statistics.median(s[1] for s in samples) / 1e6

    # The same 1,000 URLs, signed in this process: the coordinator's signer vs boto3's.
    settings = load_settings(env)
    broker = build_broker(settings)
    delivery = settings.delivery
    client = make_client(
        endpoint=delivery.endpoint, region=delivery.region, credentials=delivery.credentials
    )
    key, upload_id, numbers = upload["key"], upload["upload_id"], range(1, BATCH_URLS + 1)

    def ours(now: datetime) -> list[str]:
        parts = broker._part_urls(key, upload_id, numbers, now=now, lifetime=3600)
        return [p.url for p in parts]

    def theirs() -> list[str]:
        return [
            client.generate_presigned_url(
                "upload_part",
                Params={"Bucket": delivery.bucket, "Key": key, "UploadId": upload_id,
                        "PartNumber": n},
                ExpiresIn=3600,
            )
            for n in numbers
        ]  # fmt: skip

    frozen = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
    with unittest.mock.patch(
        "botocore.auth.get_current_datetime", return_value=frozen.replace(tzinfo=None)
    ):
        if ours(frozen) != theirs():
            sys.exit("the coordinator's part URLs differ from boto3's: not comparable")
    ours(datetime.now(UTC))  # warm both (signing-key cache, botocore's endpoint rules)
    theirs()
    sign_ms = _median_ms(lambda: ours(datetime.now(UTC).replace(microsecond=0)), repeats)
    boto_ms = _median_ms(theirs, repeats)
    return {
        "parts": BATCH_SIZE // PART_SIZE,
        "urls": BATCH_URLS,
        "answer_bytes": int(statistics.median(sizes)),
        "wall_ms": statistics.median(walls) * 1000,
        "app_ms": app_ms,
        "store_ms": store_ms,
        "sign_ms": sign_ms,
        "boto3_ms": boto_ms,
        "repeats": repeats,
    }


# ---------------------------------------------------------------------------------------------
# The Lambda path


def lambda_phase(
    env: dict[str, str], admin_key: str, blobs: Blobs, tally: Tally, workers: int,
    seconds: float, threads: int, *, profile: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """The same load into the Lambda handler in this process (bench/load_lambda.py), its calls
    on ``threads`` threads; errors and objects go to ``tally`` (verified with the rest)."""
    from load_lambda import BASE_URL, LambdaPath

    other = Tally()
    transport = LambdaPath(env, threads, profile=profile)
    tag = f"lambda{threads}{'p' if profile else ''}-"
    phase = Workers(BASE_URL, admin_key, blobs, other, workers, tag, transport=transport)
    elapsed = asyncio.run(phase.run(workers, seconds, lambda: None))
    seen = sum(len(v) for v in other.latency.values())
    if transport.requests != seen:  # every request the workers timed was one handler call
        other.error("lambda path", f"{transport.requests} handler calls for {seen} requests")
    tally.expected.update(other.expected)
    for what, count in other.errors.items():
        tally.errors[f"lambda phase ({threads} threads): {what}"] += count
    tally.error_samples.extend(other.error_samples)
    return {
        "threads": threads,
        "profiled": profile,
        "jobs": other.jobs,
        "requests": transport.requests,
        "rps": transport.requests / elapsed,
        "cpu_s": transport.cpu_seconds,
        "cpu_ms": transport.cpu_seconds / max(transport.requests, 1) * 1000,
        "endpoints": {
            name: {
                "count": len(rows),
                "cpu_ms": [v / 1e6 for v in percentiles([r[3] for r in rows], 50, 95)],
                "handler_ms": [v / 1e6 for v in percentiles([r[0] for r in rows], 50, 95)],
                "store_ms": percentiles([r[1] / 1e6 for r in rows], 50, 95),
                "cpu_mean_ms": statistics.fmean(r[3] for r in rows) / 1e6,
            }
            for name, rows in transport.samples.items()
        },
        "top": transport.top() if profile else None,
    }


def lambda_report(phases: list[dict[str, Any]], serve_ms: float) -> str:
    lines = ["", "the same load into the Lambda handler in this process (Function URL events):"]
    for phase in phases:
        if phase["profiled"]:
            continue
        lines.append(
            f"  {phase['threads']:>3} handler thread{'s' if phase['threads'] > 1 else ' '}: "
            f"{phase['requests']} requests "
            f"({phase['jobs']} jobs, {phase['rps']:.0f} req/s), coordinator CPU per request "
            f"{phase['cpu_ms']:.3f} ms (thread CPU inside the handler calls); under serve "
            f"{serve_ms:.2f} ms: {serve_ms / phase['cpu_ms']:.1f}x"
        )
    # Per endpoint for the fewest threads: 1 is how a Lambda instance runs events.
    first = min((p for p in phases if not p["profiled"]), key=lambda p: p["threads"])
    lines.append(
        f"  per endpoint, {first['threads']:>2} threads: {'count':>6}  {'CPU mean/p50/p95 ms':>20}"
        f"  {'handler p50/p95 ms':>19}  {'of it store p50/p95':>19}"
    )
    for name, row in first["endpoints"].items():
        c, h, st = row["cpu_ms"], row["handler_ms"], row["store_ms"]
        lines.append(
            f"    {name:<31}{row['count']:>6}  {row['cpu_mean_ms']:>6.3f} {c[0]:>6.3f} "
            f"{c[1]:>6.3f}  {h[0]:>9.2f} {h[1]:>9.2f}  {st[0]:>9.2f} {st[1]:>9.2f}"
        )
    for phase in phases:
        if phase["profiled"]:
            lines.append(
                f"\nprofiled ({phase['threads']} thread, not in the figures above: cProfile "
                f"inflates them), the handler calls' top functions by own CPU time:"
            )
            lines.append(phase["top"])
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="20 workers for 4 s")
    parser.add_argument("--batch-repeats", type=int, default=15)
    parser.add_argument("--no-batch", action="store_true")
    parser.add_argument(
        "--compare-boto3",
        action="store_true",
        help="then the same load on a coordinator whose store calls go through boto3",
    )
    parser.add_argument(
        "--lambda-path",
        action="store_true",
        help="then the same load into the Lambda handler in this process, per --lambda-threads",
    )
    parser.add_argument(
        "--lambda-threads",
        default="",
        help="comma-separated handler thread counts for --lambda-path (default: --workers,1)",
    )
    parser.add_argument(
        "--lambda-profile",
        action="store_true",
        help="with --lambda-path: one more phase, 1 thread, under cProfile (top functions)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.workers, args.seconds, args.batch_repeats = 20, 4.0, 5

    from coordinator.embedded_store import embedded_store
    from coordinator.s3client import make_client

    admin_key = os.urandom(24).hex()
    token_key = os.urandom(24).hex()
    blobs = Blobs(seed=42)
    tally = Tally()
    with embedded_store() as store, tempfile.TemporaryDirectory() as tmp:
        s3 = make_client(endpoint=store.endpoint, region="auto", credentials=store.credentials)
        for bucket in (MEZZANINE_BUCKET, DELIVERY_BUCKET):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=MEZZANINE_BUCKET, Key=MEZZANINE_KEY, Body=blobs.mezzanine)
        env = coordinator_environment(
            store,
            admin_key=admin_key,
            token_key=token_key,
            delivery_bucket=DELIVERY_BUCKET,
            mezzanine_bucket=MEZZANINE_BUCKET,
            region=MEZZANINE_REGION,
        )
        store_pid = _pid_of(str(store.workdir))
        log = Path(tmp) / "coordinator.log"
        with coordinator_process(env, log) as (base, pid):
            workers = Workers(base, admin_key, blobs, tally, args.workers)
            before: list[float] = []

            def mark() -> None:
                before[:] = [_cpu_seconds(pid), _cpu_seconds(store_pid or -1), _own_cpu()]

            elapsed = asyncio.run(workers.run(args.workers, args.seconds, mark))
            after = (_cpu_seconds(pid), _cpu_seconds(store_pid or -1), _own_cpu())
            stats = httpx.get(f"{base}{STATS_PATH}").json()["routes"]
            batch = (
                None if args.no_batch else batch_figures(base, admin_key, env, args.batch_repeats)
            )
        comparison = None
        if args.compare_boto3:
            own = after[0] - before[0], sum(len(v) for v in tally.latency.values())
            other = Tally()
            boto3_env = {**env, STORE_CLIENT_VAR: "boto3"}
            with coordinator_process(boto3_env, log) as (boto3_base, boto3_pid):
                phase = Workers(boto3_base, admin_key, blobs, other, args.workers, "boto3-")
                start: list[float] = []

                def mark_boto3() -> None:
                    start.append(_cpu_seconds(boto3_pid))

                asyncio.run(phase.run(args.workers, args.seconds, mark_boto3))
                spent = _cpu_seconds(boto3_pid) - start[0]
            requests_boto3 = sum(len(v) for v in other.latency.values())
            comparison = {
                "ours_ms": own[0] / own[1] * 1000,
                "boto3_ms": spent / requests_boto3 * 1000,
                "boto3_requests": requests_boto3,
            }
            tally.expected.update(other.expected)  # verified with the rest
            for what, count in other.errors.items():
                tally.errors[f"boto3 phase: {what}"] += count
            tally.error_samples.extend(other.error_samples)
        phases = []
        if args.lambda_path:
            counts = args.lambda_threads or f"{args.workers},1"
            runs = [(int(n), False) for n in counts.split(",")]
            runs += [(1, True)] if args.lambda_profile else []
            for threads, profile in runs:
                phases.append(
                    lambda_phase(
                        env, admin_key, blobs, tally, args.workers, args.seconds, threads,
                        profile=profile,
                    )
                )  # fmt: skip
        coordinator_log = log.read_text(errors="replace")
        checked = verify(s3, tally)

    endpoints = {}
    for name, latencies in tally.latency.items():
        server = stats.get(name, [])
        endpoints[name] = {
            "count": len(latencies),
            "worker_ms": [v * 1000 for v in percentiles(latencies, 50, 95, 99)],
            "app_ms": [v / 1e6 for v in percentiles([s[0] for s in server], 50, 95, 99)],
            "store_ms": percentiles([s[1] / 1e6 for s in server], 50, 95),
        }
    requests = sum(len(v) for v in tally.latency.values())
    result = {
        "run": {
            "workers": args.workers,
            "seconds": args.seconds,
            "elapsed": elapsed,
            "jobs": tally.jobs,
            "requests": requests,
            "rps": requests / elapsed,
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "pool_full_warnings": coordinator_log.count("Connection pool is full"),
        },
        "endpoints": endpoints,
        "transfers": {
            name: {
                "count": len(times),
                "ms": [v * 1000 for v in percentiles(times, 50, 95, 99)],
                "mib": tally.transfer_bytes[name] / MiB,
            }
            for name, times in tally.transfers.items()
        },
        "cpu_s": {
            "coordinator": after[0] - before[0],
            "store": after[1] - before[1],
            "workers": after[2] - before[2],
        },
        "errors": dict(tally.errors),
        "error_samples": tally.error_samples,
        "verify": checked,
        "batch": batch,
        "comparison": comparison,
    }
    print(report(result))
    if comparison:
        print(
            f"\nthe same load with the store calls through boto3 ({comparison['boto3_requests']} "
            f"requests): coordinator CPU per request {comparison['boto3_ms']:.2f} ms against "
            f"{comparison['ours_ms']:.2f} ms with s3client.S3Client: "
            f"{comparison['boto3_ms'] / comparison['ours_ms']:.2f}x"
        )
    if phases:
        result["lambda"] = phases
        print(lambda_report(phases, result["cpu_s"]["coordinator"] / requests * 1000))
    if result["run"]["pool_full_warnings"]:
        print(f"(boto3 'connection pool is full' warnings: {result['run']['pool_full_warnings']})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    failed = sum(tally.errors.values()) or checked["bad"] or checked["missing"]
    sys.exit(1 if failed or checked["unexpected"] or checked["open_uploads"] else 0)


if __name__ == "__main__":
    main()
