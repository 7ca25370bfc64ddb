"""URLs per second: botocore's generate_presigned_url vs coordinator.sigv4.presign_url.

Run: .venv/bin/python bench/presign.py [--urls 2000] [--repeats 7]

First checks, with botocore's clock frozen, that both produce byte-identical URLs on a sample
of the inputs (and stops if not); then times both over the same PUT inputs (distinct keys,
signed Content-Type, session token, R2 EU endpoint), each reading the real clock per URL, and
prints the best of several repeats and the ratio. Prints figures; asserts no timing.
"""

import argparse
import sys
import time
import unittest.mock
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
import botocore
import botocore.auth

from coordinator import s3client
from coordinator.sigv4 import Credentials, presign_url, signing_key

ENDPOINT = "https://0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com"
BUCKET = "delivery-eu"
REGION = "auto"
EXPIRES_IN = 900
CREDENTIALS = Credentials(
    access_key="0123456789abcdef0123456789abcdef",
    secret_key="f" * 64,
    session_token="IQoJb3JpZ2luX2VjEXAMPLE+session/token==",  # noqa: S106 (a dummy)
)


def make_inputs(count: int) -> list[tuple[str, str]]:
    """(key, content type) pairs: distinct keys, as a packager would write them."""
    types = ["video/iso.segment", "video/mp4", "application/vnd.apple.mpegurl"]
    return [
        (f"jobs/7f3c9a/out/1080p/seg {i:05d}+v2.m4s", types[i % len(types)])
        for i in range(count)
    ]


def make_client() -> Any:
    # The coordinator's own boto3 client (SigV4, checksums "when_required"): the fair opponent.
    return s3client.make_client(endpoint=ENDPOINT, region=REGION, credentials=CREDENTIALS)


def boto_url(client: Any, key: str, content_type: str) -> str:
    return client.generate_presigned_url(
        "put_object",
        Params={"Bucket": BUCKET, "Key": key, "ContentType": content_type},
        ExpiresIn=EXPIRES_IN,
    )


def fast_url(key: str, content_type: str, now: datetime) -> str:
    return presign_url(
        "PUT",
        endpoint=ENDPOINT,
        bucket=BUCKET,
        key=key,
        credentials=CREDENTIALS,
        region=REGION,
        now=now,
        expires_in=EXPIRES_IN,
        content_type=content_type,
    )


def verify(client: Any, inputs: list[tuple[str, str]], sample: int) -> None:
    now = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
    step = max(1, len(inputs) // sample)
    with unittest.mock.patch.object(
        botocore.auth, "get_current_datetime", return_value=now.replace(tzinfo=None)
    ):
        for key, content_type in inputs[::step]:
            theirs = boto_url(client, key, content_type)
            ours = fast_url(key, content_type, now)
            if ours != theirs or "X-Amz-Date=20250314T150926Z" not in theirs:
                sys.exit(f"MISMATCH for {key!r}:\n  botocore: {theirs}\n  sigv4:    {ours}")
    print(f"verified byte-identical on {len(inputs[::step])} of {len(inputs)} inputs")


def best_rate(run: Callable[[], None], count: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--urls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sample", type=int, default=200, help="URLs compared byte for byte")
    args = parser.parse_args()

    inputs = make_inputs(args.urls)
    client = make_client()  # created once, outside the timing
    verify(client, inputs, args.sample)

    def run_boto() -> None:
        for key, content_type in inputs:
            boto_url(client, key, content_type)

    def run_fast() -> None:
        for key, content_type in inputs:
            fast_url(key, content_type, datetime.now(UTC))

    run_boto()  # warm both paths (botocore's endpoint-rule cache, our key cache)
    run_fast()
    boto_rate = best_rate(run_boto, len(inputs), args.repeats)
    fast_rate = best_rate(run_fast, len(inputs), args.repeats)
    print(
        f"python {sys.version.split()[0]}, boto3 {boto3.__version__}, "
        f"botocore {botocore.__version__}; {len(inputs)} PUT URLs, best of {args.repeats}"
    )
    print(f"botocore generate_presigned_url: {boto_rate:10,.0f} URLs/s "
          f"({1e6 / boto_rate:6.1f} us/URL)")
    print(f"sigv4.presign_url:               {fast_rate:10,.0f} URLs/s "
          f"({1e6 / fast_rate:6.1f} us/URL)")
    print(f"signing-key cache: {signing_key.cache_info()}")
    print(f"speedup: {fast_rate / boto_rate:.1f}x")


if __name__ == "__main__":
    main()
