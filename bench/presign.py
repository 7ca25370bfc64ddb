"""Per-URL cost: botocore's generate_presigned_url vs coordinator.sigv4.presign_url vs a floor.

Run: .venv/bin/python bench/presign.py [--urls 2000] [--rounds 15]

The floor is the least work one URL needs, written straight through with hashlib and hmac for
these exact inputs (no checks, no generality, the signing key and the constant pieces computed
once outside): encode the key, format the date, build the canonical request, hash it, HMAC the
string to sign, join the URL. It is what a hand-specialised signer cannot beat by much.

First checks, with botocore's clock frozen, that all three produce byte-identical URLs on a
sample of the inputs (and stops if not), for two kinds of URL:

* PUT: distinct keys, a signed Content-Type, as the outputs route hands out;
* part: UploadPart URLs of one upload (uploadId + partNumber in the query), as multipart does.

Then times them in interleaved rounds (boto3, sigv4, floor, boto3, sigv4, floor, ...), each
contender signing all the inputs of a kind per round and reading the real clock per URL, and
prints per contender the median and the spread (min..max) of the per-URL CPU time (the thread's,
so that other work on a shared machine counts less) over the rounds,
with the ratios of the medians (boto3/sigv4: the speedup; sigv4/floor: the distance to the
floor) and the median of the per-round ratios. Prints figures; asserts no timing.
"""

import argparse
import hashlib
import hmac
import statistics
import sys
import time
import unittest.mock
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
import botocore
import botocore.auth

from coordinator import s3client
from coordinator.sigv4 import Credentials, presign_url

ENDPOINT = "https://0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com"
HOST = "0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com"
BUCKET = "delivery-eu"
REGION = "auto"
EXPIRES_IN = 900
CREDENTIALS = Credentials(
    access_key="0123456789abcdef0123456789abcdef",
    secret_key="f" * 64,
    session_token="IQoJb3JpZ2luX2VjEXAMPLE+session/token==",  # noqa: S106 (a dummy)
)
PART_KEY = "jobs/7f3c9a/out/1080p/master file.mp4"
UPLOAD_ID = "2~Xq8bN0kY5cWzT1vLrEoAhUgFjPmSdIi3"

Signer = Callable[[str, str, datetime], str]  # (key or part number, content type, now) -> URL


def make_put_inputs(count: int) -> list[tuple[str, str]]:
    """(key, content type) pairs: distinct keys, as a packager would write them."""
    types = ["video/iso.segment", "video/mp4", "application/vnd.apple.mpegurl"]
    return [
        (f"jobs/7f3c9a/out/1080p/seg {i:05d}+v2.m4s", types[i % len(types)]) for i in range(count)
    ]


def make_part_inputs(count: int) -> list[tuple[str, str]]:
    """(part number, unused) pairs: the parts of one upload."""
    return [(str(n), "") for n in range(1, count + 1)]


def make_client() -> Any:
    # The coordinator's own boto3 client (SigV4, checksums "when_required"): the fair opponent.
    return s3client.make_client(endpoint=ENDPOINT, region=REGION, credentials=CREDENTIALS)


# --- boto3 ------------------------------------------------------------------------------------


def boto_put(client: Any) -> Signer:
    def sign(key: str, content_type: str, now: datetime) -> str:
        return client.generate_presigned_url(
            "put_object",
            Params={"Bucket": BUCKET, "Key": key, "ContentType": content_type},
            ExpiresIn=EXPIRES_IN,
        )

    return sign


def boto_part(client: Any) -> Signer:
    def sign(part: str, _: str, now: datetime) -> str:
        return client.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": BUCKET,
                "Key": PART_KEY,
                "UploadId": UPLOAD_ID,
                "PartNumber": int(part),
            },
            ExpiresIn=EXPIRES_IN,
        )

    return sign


# --- coordinator.sigv4 --------------------------------------------------------------------------


def sigv4_put(key: str, content_type: str, now: datetime) -> str:
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


def sigv4_part(part: str, _: str, now: datetime) -> str:
    return presign_url(
        "PUT",
        endpoint=ENDPOINT,
        bucket=BUCKET,
        key=PART_KEY,
        credentials=CREDENTIALS,
        region=REGION,
        now=now,
        expires_in=EXPIRES_IN,
        query={"uploadId": UPLOAD_ID, "partNumber": part},
    )


# --- the floor ----------------------------------------------------------------------------------


def floor_signers(day: str) -> tuple[Signer, Signer]:
    """Straight-line PUT and part signers for ``day`` (yyyymmdd), everything constant hoisted."""
    secret = CREDENTIALS.secret_key
    key = hmac.digest(f"AWS4{secret}".encode(), day.encode(), "sha256")
    for step in (REGION, "s3", "aws4_request"):
        key = hmac.digest(key, step.encode(), "sha256")
    scope = f"{day}/{REGION}/s3/aws4_request"
    credential = quote(f"{CREDENTIALS.access_key}/{scope}", safe="-_.~")
    token = quote(CREDENTIALS.session_token or "", safe="-_.~")
    head = f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}&X-Amz-Date="
    sts_head = "AWS4-HMAC-SHA256\n"
    sha256 = hashlib.sha256
    digest = hmac.digest
    part_path = f"/{BUCKET}/{quote(PART_KEY, safe='/~')}"
    upload_id = quote(UPLOAD_ID, safe="-_.~")

    def put(object_key: str, content_type: str, now: datetime) -> str:
        amz_date = "%04d%02d%02dT%02d%02d%02dZ" % (  # noqa: UP031
            now.year,
            now.month,
            now.day,
            now.hour,
            now.minute,
            now.second,
        )
        path = f"/{BUCKET}/{quote(object_key, safe='/~')}"
        tail = f"{head}{amz_date}&X-Amz-Expires={EXPIRES_IN}&"
        request = (
            f"PUT\n{path}\n{tail}X-Amz-Security-Token={token}"
            f"&X-Amz-SignedHeaders=content-type%3Bhost\n"
            f"content-type:{content_type}\nhost:{HOST}\n\ncontent-type;host\nUNSIGNED-PAYLOAD"
        )
        sts = f"{sts_head}{amz_date}\n{scope}\n{sha256(request.encode()).hexdigest()}"
        sig = digest(key, sts.encode(), "sha256").hex()
        return (
            f"https://{HOST}{path}?{tail}X-Amz-SignedHeaders=content-type%3Bhost"
            f"&X-Amz-Security-Token={token}&X-Amz-Signature={sig}"
        )

    def part(number: str, _: str, now: datetime) -> str:
        amz_date = "%04d%02d%02dT%02d%02d%02dZ" % (  # noqa: UP031
            now.year,
            now.month,
            now.day,
            now.hour,
            now.minute,
            now.second,
        )
        tail = f"{head}{amz_date}&X-Amz-Expires={EXPIRES_IN}&"
        request = (
            f"PUT\n{part_path}\n{tail}X-Amz-Security-Token={token}&X-Amz-SignedHeaders=host"
            f"&partNumber={number}&uploadId={upload_id}\n"
            f"host:{HOST}\n\nhost\nUNSIGNED-PAYLOAD"
        )
        sts = f"{sts_head}{amz_date}\n{scope}\n{sha256(request.encode()).hexdigest()}"
        sig = digest(key, sts.encode(), "sha256").hex()
        return (
            f"https://{HOST}{part_path}?uploadId={upload_id}&partNumber={number}&{tail}"
            f"X-Amz-SignedHeaders=host&X-Amz-Security-Token={token}&X-Amz-Signature={sig}"
        )

    return put, part


# --- checks and timing ----------------------------------------------------------------------


def verify(
    kind: str, signers: dict[str, Signer], inputs: list[tuple[str, str]], sample: int
) -> None:
    now = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
    step = max(1, len(inputs) // sample)
    with unittest.mock.patch.object(
        botocore.auth, "get_current_datetime", return_value=now.replace(tzinfo=None)
    ):
        for a, b in inputs[::step]:
            urls = {name: sign(a, b, now) for name, sign in signers.items()}
            if len(set(urls.values())) != 1 or "X-Amz-Date=20250314T150926Z" not in urls["boto3"]:
                lines = "\n".join(f"  {name}: {url}" for name, url in urls.items())
                sys.exit(f"MISMATCH ({kind}) for {a!r}:\n{lines}")
    print(f"{kind}: byte-identical on {len(inputs[::step])} of {len(inputs)} inputs")


def one_round(sign: Signer, inputs: list[tuple[str, str]]) -> float:
    """CPU seconds per URL (this thread's: the machine is shared), the clock read per URL."""
    now = datetime.now
    start = time.thread_time()
    for a, b in inputs:
        sign(a, b, now(UTC))
    return (time.thread_time() - start) / len(inputs)


def run(kind: str, signers: dict[str, Signer], inputs: list[tuple[str, str]], rounds: int) -> None:
    for sign in signers.values():  # warm every path (endpoint-rule and key caches)
        one_round(sign, inputs[:200])
    times: dict[str, list[float]] = {name: [] for name in signers}
    for _ in range(rounds):
        for name, sign in signers.items():  # interleaved: A, B, C, A, B, C, ...
            times[name].append(one_round(sign, inputs))
    print(f"\n{kind} URLs: {len(inputs)} per contender per round, {rounds} interleaved rounds")
    for name, values in times.items():
        print(
            f"  {name:7s} median {statistics.median(values) * 1e6:7.2f} us/URL"
            f"  (min {min(values) * 1e6:7.2f}, max {max(values) * 1e6:7.2f})"
        )
    med = {name: statistics.median(values) for name, values in times.items()}
    paired_boto = statistics.median(
        b / s for b, s in zip(times["boto3"], times["sigv4"], strict=True)
    )
    paired_floor = statistics.median(
        s / f for s, f in zip(times["sigv4"], times["floor"], strict=True)
    )
    print(
        f"  boto3/sigv4 {med['boto3'] / med['sigv4']:5.1f}x (per-round median {paired_boto:5.1f}x)"
        f"   sigv4/floor {med['sigv4'] / med['floor']:4.2f}x"
        f" (per-round median {paired_floor:4.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--urls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--sample", type=int, default=200, help="URLs compared byte for byte")
    args = parser.parse_args()

    client = make_client()  # created once, outside the timing
    put_inputs, part_inputs = make_put_inputs(args.urls), make_part_inputs(args.urls)
    # The floor hoists the signing key for today, as sigv4 caches it; the check runs on its day.
    verify_put, verify_part = floor_signers("20250314")
    verify(
        "PUT",
        {"boto3": boto_put(client), "sigv4": sigv4_put, "floor": verify_put},
        put_inputs,
        args.sample,
    )
    verify(
        "part",
        {"boto3": boto_part(client), "sigv4": sigv4_part, "floor": verify_part},
        part_inputs,
        args.sample,
    )

    print(
        f"python {sys.version.split()[0]}, boto3 {boto3.__version__}, "
        f"botocore {botocore.__version__}"
    )
    floor_put, floor_part = floor_signers(datetime.now(UTC).strftime("%Y%m%d"))
    run(
        "PUT",
        {"boto3": boto_put(client), "sigv4": sigv4_put, "floor": floor_put},
        put_inputs,
        args.rounds,
    )
    run(
        "part",
        {"boto3": boto_part(client), "sigv4": sigv4_part, "floor": floor_part},
        part_inputs,
        args.rounds,
    )


if __name__ == "__main__":
    main()
