"""The Lambda handler's cold import as deployed: the zip with its bytecode vs the same zip without.

Run: .venv/bin/python bench/cold_start.py [--rounds 15]

Builds the package (infra/components/package.py, reused when up to date), unpacks it twice into
temporary directories, once as built and once with every ``__pycache__`` removed, and imports
``coordinator.lambda_handler`` from each in a fresh process of the runtime's Python (python3.13,
as ``package.lambda_python`` finds it), its import path only that directory (``-S``), writing
no bytecode (``/var/task`` is read-only on Lambda). Interleaved rounds (with, without, with,
...), plus a third contender, the floor the issue sets (issue 23): a process that imports
only ``json, hmac, hashlib`` (what any handler that checks a signed token needs). Per variant
the median and spread (min..max) of the whole process's wall time, of its CPU time (user +
system, from getrusage: steadier than wall time on a shared machine) and of the handler's
cumulative import time as ``-X importtime`` reports it, then the ratios of the medians.

Then the first multipart request on a cold instance: a fresh process imports the handler,
serves a presigning request (``/outputs``), then a ``POST .../multipart`` (its store is a closed
port: the store call fails fast, after its imports) under ``-X importtime``; what that request
imported is summed by top-level package, the boto3 family apart from the rest.
Prints figures; asserts no timing.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.components.package import build_package, lambda_python

MODULE = "coordinator.lambda_handler"
FLOOR = "stdlib_floor"
FLOOR_IMPORTS = "import json, hmac, hashlib\n"
# What boto3 brings (the s3 helper's side of issue 23), told apart from the rest.
BOTO_FAMILY = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
MARK = "--- first multipart request ---"
_FIRST_MULTIPART = r"""
import json, os, sys
from datetime import UTC, datetime, timedelta
from coordinator import lambda_handler
from coordinator.tokens import JobScope, TokenCodec
now = datetime.now(UTC).replace(microsecond=0)
scope = JobScope("job-1", ("masters/a.mov",), "cold/", now, now + timedelta(hours=1))
keys = json.loads(os.environ["COORDINATOR_TOKEN_KEYS"])
token = TokenCodec(keys, signing_kid="k-bench").issue(scope)
def event(path, body):
    return {"version": "2.0", "rawPath": path, "rawQueryString": "",
            "headers": {"content-type": "application/json", "authorization": "Bearer " + token},
            "requestContext": {"http": {"method": "POST", "path": path}},
            "body": json.dumps(body), "isBase64Encoded": False}
files = {"files": [{"path": "a.ts", "content_type": "video/mp2t"}]}
assert lambda_handler.handler(event("/v1/jobs/job-1/outputs", files), None)["statusCode"] == 200
print(sys.argv[1], file=sys.stderr, flush=True)
part = {"path": "big.mp4", "size": 10_000_000, "content_type": "video/mp4"}
status = lambda_handler.handler(event("/v1/jobs/job-1/multipart", part), None)["statusCode"]
assert status == 503, status
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_import(python: str, root: Path, module: str = MODULE) -> tuple[float, float, float]:
    """(``module``'s cumulative import seconds, the process's CPU seconds, its wall seconds),
    one fresh run."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(root),
           "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
    start, wall = _children_cpu(), time.perf_counter()
    done = subprocess.run(
        [python, "-S", "-X", "importtime", "-c", f"import {module}"],
        capture_output=True, text=True, env=env, cwd=root, timeout=120,
    )  # fmt: skip
    cpu = _children_cpu() - start  # user + system of the child: the machine is shared
    wall = time.perf_counter() - wall
    if done.returncode != 0:
        sys.exit(f"import failed in {root}:\n{done.stderr[-3000:]}")
    for line in done.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"
        fields = [part.strip() for part in line.removeprefix("import time:").split("|")]
        if len(fields) == 3 and fields[2] == module:
            return int(fields[1]) / 1e6, cpu, wall
    sys.exit(f"no import time line for {module}:\n{done.stderr[-2000:]}")


def _environment() -> dict[str, str]:
    """The function's settings, both stores on a closed port (127.0.0.1:9, discard)."""
    import json
    import secrets

    return {
        "COORDINATOR_ADMIN_KEY": secrets.token_urlsafe(32),
        "COORDINATOR_TOKEN_KEYS": json.dumps({"k-bench": secrets.token_urlsafe(32)}),
        "COORDINATOR_TOKEN_SIGNING_KID": "k-bench",
        "MEZZANINE_BUCKET": "bench-mezzanine", "S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": "AKIDBENCHEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
        "R2_ENDPOINT_URL": "http://127.0.0.1:9", "DELIVERY_BUCKET": "bench-delivery",
        "R2_ACCESS_KEY_ID": "r2benchkey", "R2_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
    }  # fmt: skip


def first_multipart(python: str, root: Path) -> dict[str, float]:
    """Milliseconds of import the first multipart request pays, by top-level package."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(root),
           "PYTHONDONTWRITEBYTECODE": "1", **_environment()}  # fmt: skip
    done = subprocess.run(
        [python, "-S", "-X", "importtime", "-c", _FIRST_MULTIPART, MARK],
        capture_output=True, text=True, env=env, cwd=root, timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"first multipart failed:\n{done.stderr[-3000:]}")
    entries = []
    for line in done.stderr.split(MARK, 1)[1].splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3 and fields[1].strip().isdigit():
            name = fields[2]
            entries.append((len(name) - len(name.lstrip()), name.strip(), int(fields[1])))
    shares: dict[str, float] = {}
    top_level = min((indent for indent, _, _ in entries), default=0)
    for indent, name, cumulative in entries:
        if indent == top_level:  # its cumulative time holds everything it imported
            top = name.split(".")[0]
            shares[top] = shares.get(top, 0.0) + cumulative / 1e3
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also import the handler from this directory: another version's unpacked package,"
        " its bytecode compiled by the same python (python3.13 -m compileall DIR)",
    )
    args = parser.parse_args()

    found = lambda_python()
    if found is None:
        sys.exit("no python3.13: the package ships no bytecode here, nothing to compare")
    python, version = found
    package = build_package()
    with tempfile.TemporaryDirectory() as tmp:
        compiled, source = Path(tmp, "compiled"), Path(tmp, "source")
        with zipfile.ZipFile(package.path) as archive:
            archive.extractall(compiled)
            archive.extractall(source)
        pycs = [p for p in compiled.rglob("*.pyc")]
        for cache in list(source.rglob("__pycache__")):
            shutil.rmtree(cache)
        # The floor the issue sets: a process that imports json, hmac and hashlib.
        (compiled / f"{FLOOR}.py").write_text(FLOOR_IMPORTS, encoding="utf-8")
        variants = {
            "with bytecode": (compiled, MODULE),
            "source only": (source, MODULE),
            "stdlib floor": (compiled, FLOOR),
        }
        if args.baseline:
            variants["baseline"] = (args.baseline.resolve(), MODULE)
        for root, module in variants.values():  # warm the page cache and the stdlib's pycs
            cold_import(python, root, module)
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, (root, module) in variants.items():  # interleaved
                runs[name].append(cold_import(python, root, module))
        multipart = [first_multipart(python, compiled) for _ in range(5)]

    print(
        f"python {version} ({python}); {package.path.name}: {package.files} files, "
        f"{len(pycs)} pycs, {package.size:,} bytes; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}; {args.rounds} interleaved rounds of fresh processes"
    )
    medians: dict[str, tuple[float, float, float]] = {}
    for name, values in runs.items():
        columns = [[v[i] * 1e3 for v in values] for i in range(3)]
        medians[name] = tuple(statistics.median(c) for c in columns)  # type: ignore[assignment]
        imports, cpus, walls = columns
        print(
            f"  {name:13s} import {variants[name][1]}: median {medians[name][0]:6.1f} ms "
            f"(min {min(imports):6.1f}, max {max(imports):6.1f}); whole process: wall median "
            f"{medians[name][2]:6.1f} ms (min {min(walls):6.1f}, max {max(walls):6.1f}), CPU "
            f"median {medians[name][1]:6.1f} ms (min {min(cpus):6.1f}, max {max(cpus):6.1f})"
        )
    ratio = medians["source only"][0] / medians["with bytecode"][0]
    print(f"  source only / with bytecode: import {ratio:.2f}x")
    handler, floor = medians["with bytecode"], medians["stdlib floor"]
    print(
        f"  with bytecode / stdlib floor (whole process): wall {handler[2] / floor[2]:.2f}x, "
        f"CPU {handler[1] / floor[1]:.2f}x; the handler's own import {handler[0]:.1f} ms"
    )
    if "baseline" in medians:
        old = medians["baseline"]
        print(f"  baseline / with bytecode: import {old[0] / handler[0]:.2f}x, whole process "
              f"wall {old[2] / handler[2]:.2f}x, CPU {old[1] / handler[1]:.2f}x")  # fmt: skip
    names = sorted({name for shares in multipart for name in shares})
    per_name = {n: statistics.median(shares.get(n, 0.0) for shares in multipart) for n in names}
    boto = sum(v for n, v in per_name.items() if n in BOTO_FAMILY)
    rest = {n: v for n, v in per_name.items() if n not in BOTO_FAMILY}
    shown = ", ".join(f"{n} {v:.1f}" for n, v in sorted(rest.items(), key=lambda i: -i[1]))
    print(
        f"  first multipart request on a cold instance, extra import (median of 5, ms): "
        f"boto3 family {boto:.1f}; everything else {sum(rest.values()):.1f} ({shown or 'none'})"
    )


if __name__ == "__main__":
    main()
