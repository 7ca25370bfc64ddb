"""The worker client's upload throughput against boto3's transfer manager, same files, same
store, one run.

Run:
  .venv/bin/python bench/publish.py            # 5 rounds of a ~110 MiB ladder (~1 min)
  .venv/bin/python bench/publish.py --quick    # 3 rounds of a ~30 MiB ladder
  .venv/bin/python bench/publish.py --rounds 9 --concurrency 10 --json /tmp/publish.json

The store is the embedded JuiceFS gateway (it checks every SigV4 signature and writes real
files); the coordinator runs in its own process as ``python -m coordinator serve`` does. One
ladder (``coordinator.sample_ladder``: HLS + DASH, three renditions, audio, subtitles and a
progressive MP4 large enough for multipart) is written once and uploaded each round twice, to
fresh prefixes:

* **client**: ``coordinator.client.Publisher`` with a fresh job (created before the clock
  starts), everything the worker does: hashing, presigning through the coordinator, PUTs with
  Content-MD5, multipart with status and complete, waves (manifests last), the journal;
* **boto3**: what ``aws s3 cp --recursive`` does, with the store's own credentials: one
  s3transfer ``TransferManager`` (multipart from 8 MiB in 8 MiB chunks, the CLI's defaults),
  ``upload`` of every file with its content type and Cache-Control, all at once.

Both use the same concurrency (default 10, the CLI's ``max_concurrent_requests``). The two
alternate within each round, and which goes first alternates between rounds. Every object of
every round is checked afterwards (count and ETag per key). Prints MiB/s per side (median and
min-max), this process's CPU seconds per round (the client's side excludes the coordinator's
process), the ratio of medians and the median of per-round ratios; asserts no timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from timed_coordinator import coordinator_environment, coordinator_process

MiB = 1024 * 1024
MEZZANINE_BUCKET = "publish-mezzanine"
DELIVERY_BUCKET = "publish-delivery"
MEZZANINE_KEY = "masters/bench.mov"
MEZZANINE_REGION = "eu-central-1"



def _files(ladder: Path) -> list[tuple[Path, str]]:
    return [(p, p.relative_to(ladder).as_posix()) for p in sorted(ladder.rglob("*")) if p.is_file()]


def run_client(
    base: str, admin_key: str, ladder: Path, concurrency: int, tmp: Path
) -> tuple[float, str]:
    from coordinator.client import CoordinatorApi, Journal, Publisher, PublishOptions, Transfer

    prefix = f"client/{os.urandom(6).hex()}/"
    created = (
        httpx.post(
            f"{base}/v1/jobs",
            headers={"Authorization": f"Bearer {admin_key}"},
            json={"mezzanine_key": MEZZANINE_KEY, "output_prefix": prefix, "ttl_seconds": 3600},
            timeout=30,
        )
        .raise_for_status()
        .json()
    )
    journal = Journal(tmp / f"{created['job_id']}.jsonl", job_id=created["job_id"])
    started = time.perf_counter()
    with CoordinatorApi(base, job_id=created["job_id"], token=created["worker_token"]) as api:
        transfer = Transfer()
        try:
            summary = Publisher(
                api=api, transfer=transfer, options=PublishOptions(concurrency=concurrency)
            ).publish(ladder, journal=journal)
        finally:
            transfer.close()
    elapsed = time.perf_counter() - started
    if summary.verified != summary.files:
        sys.exit(f"client: {summary.files - summary.verified} files not verified")
    return elapsed, prefix


def run_boto3(s3: Any, ladder: Path, concurrency: int) -> tuple[float, str]:
    from boto3.s3.transfer import TransferConfig
    from s3transfer.manager import TransferManager

    from coordinator.client.media import cache_control, content_type

    prefix = f"boto3/{os.urandom(6).hex()}/"
    config = TransferConfig(
        multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=concurrency
    )
    started = time.perf_counter()
    with TransferManager(s3, config) as manager:
        futures = []
        for path, name in _files(ladder):
            extra = {"ContentType": content_type(name)}
            rule = cache_control(name)
            if rule is not None:
                extra["CacheControl"] = rule
            futures.append(manager.upload(str(path), DELIVERY_BUCKET, prefix + name, extra))
        for future in futures:
            future.result()
    return time.perf_counter() - started, prefix


def check(s3: Any, prefix: str, ladder: Path) -> None:
    """Every file is under the prefix with its bytes' size; nothing else is."""
    want = {name: path.stat().st_size for path, name in _files(ladder)}
    got: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=DELIVERY_BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            got[item["Key"].removeprefix(prefix)] = item["Size"]
    if got != want:
        sys.exit(f"{prefix}: stored objects differ from the ladder ({len(got)} vs {len(want)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--segments", type=int, default=20, help="per rendition")
    parser.add_argument("--segment-kib", type=int, default=512)
    parser.add_argument("--download-mib", type=int, default=48)
    parser.add_argument("--quick", action="store_true", help="3 rounds of a smaller ladder")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.segments, args.segment_kib, args.download_mib = 3, 8, 256, 20

    from coordinator.embedded_store import embedded_store
    from coordinator.s3client import make_client
    from coordinator.sample_ladder import write_sample_ladder

    admin_key, token_key = os.urandom(24).hex(), os.urandom(24).hex()
    with embedded_store() as store, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        s3 = make_client(
            endpoint=store.endpoint,
            region="auto",
            credentials=store.credentials,
            read_timeout=60,  # the coordinator's 5 s is for its own small calls
        )
        for bucket in (MEZZANINE_BUCKET, DELIVERY_BUCKET):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=MEZZANINE_BUCKET, Key=MEZZANINE_KEY, Body=b"master")
        ladder = tmp / "ladder"
        write_sample_ladder(
            ladder,
            segments=args.segments,
            segment_size=args.segment_kib * 1024,
            download_size=args.download_mib * MiB + 12345,
        )
        files = _files(ladder)
        total = sum(p.stat().st_size for p, _ in files)
        print(
            f"ladder: {len(files)} files, {total / MiB:.1f} MiB; concurrency {args.concurrency}; "
            f"{args.rounds} rounds, sides alternating"
        )
        env = coordinator_environment(
            store,
            admin_key=admin_key,
            token_key=token_key,
            delivery_bucket=DELIVERY_BUCKET,
            mezzanine_bucket=MEZZANINE_BUCKET,
            region=MEZZANINE_REGION,
        )
        times: dict[str, list[float]] = {"client": [], "boto3": []}
        cpu: dict[str, list[float]] = {"client": [], "boto3": []}
        with coordinator_process(env, tmp / "coordinator.log") as (base, _pid):
            run_client(base, admin_key, ladder, args.concurrency, tmp)  # warm-up, not counted
            run_boto3(s3, ladder, args.concurrency)
            for round_number in range(args.rounds):
                order = ("client", "boto3") if round_number % 2 == 0 else ("boto3", "client")
                for side in order:
                    cpu_before = time.process_time()
                    if side == "client":
                        elapsed, prefix = run_client(base, admin_key, ladder, args.concurrency, tmp)
                    else:
                        elapsed, prefix = run_boto3(s3, ladder, args.concurrency)
                    cpu[side].append(time.process_time() - cpu_before)
                    check(s3, prefix, ladder)
                    times[side].append(elapsed)

    rates = {side: [total / MiB / t for t in values] for side, values in times.items()}
    ratios = [c / b for c, b in zip(rates["client"], rates["boto3"], strict=True)]
    result = {
        "files": len(files),
        "mib": total / MiB,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "mib_s": {
            side: {"median": statistics.median(v), "min": min(v), "max": max(v), "all": v}
            for side, v in rates.items()
        },
        "cpu_s": {side: statistics.median(v) for side, v in cpu.items()},
        "ratio_of_medians": statistics.median(rates["client"]) / statistics.median(rates["boto3"]),
        "median_round_ratio": statistics.median(ratios),
        "round_ratios": ratios,
    }
    for side in ("client", "boto3"):
        figures = result["mib_s"][side]
        print(
            f"  {side:<7} {figures['median']:7.1f} MiB/s median "
            f"(min {figures['min']:.1f}, max {figures['max']:.1f}); "
            f"this process's CPU {result['cpu_s'][side]:.2f} s a round (median)"
        )
    print(
        f"  client / boto3: {result['ratio_of_medians']:.2f}x (ratio of medians); "
        f"per round {result['median_round_ratio']:.2f}x median, "
        f"{min(ratios):.2f}-{max(ratios):.2f}x"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
