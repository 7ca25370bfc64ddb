"""The broker's store calls with three clients, against the embedded store, in one run: boto3 as
the coordinator configured it (``s3client.make_client``), minio's Python SDK, and the
coordinator's own ``s3client.S3Client`` (sigv4 header signing over ``httppool``).

Run: .venv/bin/python bench/store_client.py [--calls 200] [--rounds 5]

The calls are the five the broker makes: HeadObject, CreateMultipartUpload, ListParts (a
3-part upload read in pages of 2: two calls a listing), CompleteMultipartUpload (of a 1-part
upload set up untimed) and AbortMultipartUpload. Each contender runs each operation ``--calls``
times per round, in interleaved rounds (boto3, minio, ours, boto3, ...), on a client built and
warmed beforehand. Printed per operation and contender: CPU per call (this process's CPU: the
store runs in its own) and wall per call, medians over the rounds, and the ratios boto3/ours and
minio/ours. Every answer is checked (the upload id, the ETag, the part numbers, the size), so a
contender that skips work is caught, not rewarded.

Then, each in a fresh interpreter (median of ``--imports`` runs): the import of each client's
module and of ``json, hmac, hashlib`` (the floor any Python pays), and, after ``import
coordinator.store`` (on the cold path anyway), the first HeadObject (client, lazy imports,
connection, call) against the second one (warm): what the first multipart request on a cold
instance pays extra. TLS (``import ssl`` and a default context,
which any https client needs) is measured on its own: the embedded store speaks http.

Prints figures; asserts no timing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coordinator.embedded_store import EmbeddedStore, embedded_store
from coordinator.s3client import S3Client, make_client

ROOT = Path(__file__).resolve().parent.parent

BUCKET = "bench-store-client"
KEY = "masters/head-me.mov"
BODY = b"x" * 4096
REGION = "auto"

Op = Callable[[int], None]  # runs the operation for call number n (its inputs prepared)


class Contender:
    """One client's five operations, boto3-shaped, over inputs the bench prepared."""

    name: str

    def head(self, key: str) -> tuple[str, int]:  # (etag, size)
        raise NotImplementedError

    def create(self, key: str) -> str:  # upload id
        raise NotImplementedError

    def list_page(self, key: str, upload_id: str, marker: int) -> tuple[list[int], bool, int]:
        raise NotImplementedError

    def complete(self, key: str, upload_id: str, etag: str) -> str:
        raise NotImplementedError

    def abort(self, key: str, upload_id: str) -> None:
        raise NotImplementedError


class Boto3(Contender):
    name = "boto3"

    def __init__(self, store: EmbeddedStore) -> None:
        self.client = make_client(
            endpoint=store.endpoint, region=REGION, credentials=store.credentials
        )

    def head(self, key: str) -> tuple[str, int]:
        answer = self.client.head_object(Bucket=BUCKET, Key=key)
        return answer["ETag"], answer["ContentLength"]

    def create(self, key: str) -> str:
        answer = self.client.create_multipart_upload(
            Bucket=BUCKET, Key=key, ContentType="video/mp4"
        )
        return answer["UploadId"]

    def list_page(self, key: str, upload_id: str, marker: int) -> tuple[list[int], bool, int]:
        page = self.client.list_parts(
            Bucket=BUCKET, Key=key, UploadId=upload_id, MaxParts=2, PartNumberMarker=marker
        )
        numbers = [p["PartNumber"] for p in page.get("Parts", [])]
        return numbers, page["IsTruncated"], page.get("NextPartNumberMarker", 0)

    def complete(self, key: str, upload_id: str, etag: str) -> str:
        parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
        answer = self.client.complete_multipart_upload(
            Bucket=BUCKET, Key=key, UploadId=upload_id, MultipartUpload=parts
        )
        return answer["ETag"]

    def abort(self, key: str, upload_id: str) -> None:
        self.client.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id)


class Ours(Boto3):
    """The same calls as boto3 (same names, same answer keys), through S3Client."""

    name = "ours"

    def __init__(self, store: EmbeddedStore) -> None:
        self.client = S3Client(
            endpoint=store.endpoint, region=REGION, credentials=store.credentials
        )


class Minio(Contender):
    name = "minio"

    def __init__(self, store: EmbeddedStore) -> None:
        from minio import Minio as Client

        self.client = Client(
            urlsplit(store.endpoint).netloc,
            access_key=store.access_key,
            secret_key=store.secret_key,
            secure=False,
            region=REGION,
        )

    def head(self, key: str) -> tuple[str, int]:
        stat = self.client.stat_object(BUCKET, key)
        return f'"{stat.etag}"', stat.size or 0

    def create(self, key: str) -> str:
        return self.client._create_multipart_upload(BUCKET, key, {"Content-Type": "video/mp4"})

    def list_page(self, key: str, upload_id: str, marker: int) -> tuple[list[int], bool, int]:
        page = self.client._list_parts(
            BUCKET, key, upload_id, max_parts=2, part_number_marker=str(marker)
        )
        numbers = [p.part_number for p in page.parts]
        return numbers, page.is_truncated, int(page.next_part_number_marker or 0)

    def complete(self, key: str, upload_id: str, etag: str) -> str:
        from minio.datatypes import Part

        answer = self.client._complete_multipart_upload(
            BUCKET, key, upload_id, [Part(1, etag.strip('"'))]
        )
        return f'"{answer.etag}"'

    def abort(self, key: str, upload_id: str) -> None:
        self.client._abort_multipart_upload(BUCKET, key, upload_id)


def _check(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"a contender's answer is wrong: {what}")


class Inputs:
    """Uploads prepared untimed with boto3 (the reference), for one contender's round."""

    def __init__(self, s3: Any, tag: str, calls: int) -> None:
        self.s3 = s3
        self.tag = tag
        self.calls = calls
        self.created: list[tuple[str, str]] = []
        listed = f"bench/{tag}/listed.bin"
        self.listed = (listed, self._upload(listed, parts=3))
        self.completable = []
        for n in range(calls):
            key = f"bench/{tag}/complete-{n}.bin"
            upload_id = self._upload(key, parts=1)
            etag = self.s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id)["Parts"][0]
            self.completable.append((key, upload_id, etag["ETag"]))

    def _upload(self, key: str, *, parts: int) -> str:
        upload_id = self.s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
        for number in range(1, parts + 1):
            self.s3.upload_part(
                Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=number, Body=BODY
            )
        return upload_id

    def cleanup(self) -> None:
        self.s3.abort_multipart_upload(Bucket=BUCKET, Key=self.listed[0], UploadId=self.listed[1])


def _operations(c: Contender, inputs: Inputs, head_etag: str) -> dict[str, Op]:
    created: list[tuple[str, str]] = []

    def head(n: int) -> None:
        etag, size = c.head(KEY)
        _check(etag == head_etag and size == len(BODY), f"{c.name} head")

    def create(n: int) -> None:
        key = f"bench/{inputs.tag}/created-{n}.bin"
        upload_id = c.create(key)
        _check(bool(upload_id), f"{c.name} create")
        created.append((key, upload_id))

    def list_parts(n: int) -> None:  # one listing: two pages, two calls
        key, upload_id = inputs.listed
        numbers, truncated, marker = c.list_page(key, upload_id, 0)
        _check(numbers == [1, 2] and truncated and marker == 2, f"{c.name} list page 1")
        numbers, truncated, _ = c.list_page(key, upload_id, marker)
        _check(numbers == [3] and not truncated, f"{c.name} list page 2")

    def complete(n: int) -> None:
        key, upload_id, etag = inputs.completable[n]
        _check(c.complete(key, upload_id, etag).endswith('-1"'), f"{c.name} complete")

    def abort(n: int) -> None:  # the uploads `create` made
        key, upload_id = created[n]
        c.abort(key, upload_id)

    return {
        "HeadObject": head,
        "CreateMultipartUpload": create,
        "ListParts (page)": list_parts,
        "CompleteMultipartUpload": complete,
        "AbortMultipartUpload": abort,
    }


CALLS_PER_RUN = {"ListParts (page)": 2}  # a listing is two page calls


def _run(op: Op, calls: int) -> tuple[float, float]:
    """(CPU s, wall s) of ``calls`` runs of ``op``."""
    cpu, wall = time.process_time(), time.perf_counter()
    for n in range(calls):
        op(n)
    return time.process_time() - cpu, time.perf_counter() - wall


def _fresh(code: str, repeats: int) -> list[float]:
    """Each float printed by ``code`` in a fresh interpreter, median over ``repeats`` runs."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout
        runs.append([float(x) for x in out.split()])
    return [statistics.median(column) for column in zip(*runs, strict=True)]


_IMPORTS = {
    "json, hmac, hashlib (floor)": "import json, hmac, hashlib",
    "coordinator.s3client (ours)": "import coordinator.s3client",
    "  of it after sigv4, store's deps": "",
    "minio": "import minio",
    "boto3": "import boto3",
}

# Before the clock: what the coordinator imports at cold start anyway (store.py maps the
# client's errors and imports s3client), so "extra" is what the first store call adds.
_COLD_CALL = """
import sys, time
import coordinator.store
t0 = time.perf_counter()
{make}
t1 = time.perf_counter()
{call}
t2 = time.perf_counter()
{call}
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""
_CLIENTS = {
    "ours": (
        "from coordinator.s3client import S3Client\nfrom coordinator.sigv4 import Credentials\n"
        "c = S3Client(endpoint={endpoint!r}, region='auto', "
        "credentials=Credentials({access!r}, {secret!r}))",
        "c.head_object(Bucket={bucket!r}, Key={key!r})",
    ),
    "minio": (
        "from minio import Minio\n"
        "c = Minio({netloc!r}, access_key={access!r}, secret_key={secret!r}, secure=False, "
        "region='auto')",
        "c.stat_object({bucket!r}, {key!r})",
    ),
    "boto3": (
        "from coordinator.s3client import make_client\nfrom coordinator.sigv4 import Credentials\n"
        "c = make_client(endpoint={endpoint!r}, region='auto', "
        "credentials=Credentials({access!r}, {secret!r}))",
        "c.head_object(Bucket={bucket!r}, Key={key!r})",
    ),
}


def cold_figures(store: EmbeddedStore, repeats: int) -> None:
    print(f"\nimport in a fresh interpreter, median of {repeats} runs (ms)")
    floor = 0.0
    for label, statement in _IMPORTS.items():
        code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
        if not statement:  # s3client and httppool alone, the rest of the cold path imported
            code = (
                "import time, email.utils, coordinator.sigv4, coordinator.errors, "
                "coordinator.multipart; t = time.perf_counter(); import coordinator.s3client; "
                "print(time.perf_counter() - t)"
            )
        (seconds,) = _fresh(code, repeats)
        floor = floor or seconds
        print(f"  {label:<30}{seconds * 1000:>8.1f}   x{seconds / floor:>6.1f} the floor")
    tls = "import time; t = time.perf_counter(); import ssl; ssl.create_default_context(); "
    (seconds,) = _fresh(tls + "print(time.perf_counter() - t)", repeats)
    print(f"  {'ssl + default context (TLS)':<30}{seconds * 1000:>8.1f}   (any https client)")

    values = {
        "endpoint": store.endpoint, "netloc": urlsplit(store.endpoint).netloc,
        "access": store.access_key, "secret": store.secret_key, "bucket": BUCKET, "key": KEY,
    }  # fmt: skip
    print(f"\nfirst HeadObject of a cold process vs the next one, median of {repeats} runs (ms)")
    print(f"  {'client':<8}{'import+client':>14}{'first call':>12}{'warm call':>11}{'extra':>9}")
    for name, (make, call) in _CLIENTS.items():
        code = _COLD_CALL.format(make=make.format(**values), call=call.format(**values))
        setup, first, warm = _fresh(code, repeats)
        extra = setup + first - warm
        print(
            f"  {name:<8}{setup * 1000:>14.1f}{first * 1000:>12.2f}{warm * 1000:>11.2f}"
            f"{extra * 1000:>9.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--imports", type=int, default=7)
    parser.add_argument("--cold-only", action="store_true", help="only the fresh-process figures")
    args = parser.parse_args()

    with embedded_store() as store:
        s3 = make_client(endpoint=store.endpoint, region=REGION, credentials=store.credentials)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=BODY)
        head_etag = s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"]
        if args.cold_only:
            cold_figures(store, args.imports)
            return
        contenders: list[Contender] = [Boto3(store), Minio(store), Ours(store)]
        for c in contenders:  # warm: imports done, connections open, caches filled
            warm = Inputs(s3, f"warm-{c.name}", 2)
            for op in _operations(c, warm, head_etag).values():
                _run(op, 2)
            warm.cleanup()

        samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for round_ in range(args.rounds):
            for c in contenders:
                inputs = Inputs(s3, f"r{round_}-{c.name}", args.calls)
                for name, op in _operations(c, inputs, head_etag).items():
                    cpu, wall = _run(op, args.calls)
                    per = args.calls * CALLS_PER_RUN.get(name, 1)
                    samples.setdefault((name, c.name), []).append((cpu / per, wall / per))
                inputs.cleanup()

        print(
            f"store calls against the embedded store (http on loopback): {args.calls} calls per "
            f"operation per contender per round, {args.rounds} interleaved rounds; medians, us"
        )
        names = [c.name for c in contenders]
        header = "".join(f"{n + ' cpu':>11}{n + ' wall':>12}" for n in names)
        print(f"{'operation':<26}{header}{'boto3/ours cpu':>16}{'minio/ours cpu':>16}")
        totals = dict.fromkeys(names, 0.0)
        for operation in _operations(contenders[0], warm, head_etag):
            row, cpu = "", {}
            for n in names:
                values = samples[(operation, n)]
                cpu[n] = statistics.median(v[0] for v in values)
                wall = statistics.median(v[1] for v in values)
                totals[n] += cpu[n]
                row += f"{cpu[n] * 1e6:>11.0f}{wall * 1e6:>12.0f}"
            print(
                f"{operation:<26}{row}{cpu['boto3'] / cpu['ours']:>15.1f}x"
                f"{cpu['minio'] / cpu['ours']:>15.1f}x"
            )
        print(
            f"{'all five, CPU':<26}"
            + "".join(f"{totals[n] * 1e6:>11.0f}{'':>12}" for n in names)
            + f"{totals['boto3'] / totals['ours']:>15.1f}x"
            + f"{totals['minio'] / totals['ours']:>15.1f}x"
        )
        cold_figures(store, args.imports)


if __name__ == "__main__":
    main()
