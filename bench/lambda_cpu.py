"""CPU per single-URL request on the production path: the Lambda handler, in process.

Run: .venv/bin/python bench/lambda_cpu.py [--requests 3000] [--rounds 7] [--baseline DIR]

On Lambda there is no HTTP server in the function: the runtime hands each request to
``coordinator.lambda_handler.handler`` as a Function URL event (payload 2.0), and the function
is billed for the time that call takes. This bench calls handlers exactly so, each contender in
a fresh process of its own (so one's imports, an asyncio loop say, cannot slow another), with
log lines written to a file (as Lambda writes them to its log):

* ``coordinator``: the handler (the event straight to the framework-free core), serving
  ``POST /v1/jobs/{id}/outputs`` with one file (one presigned PUT, no store call);
* ``floor``: a hand-written handler that does the least any handler must for that request:
  parse the event's JSON body, check an HMAC, write one log line, answer a small JSON body;
* ``mangum-hello``: a Starlette app with one POST route answering a small JSON body, under
  Mangum (the floor of the old path);
* ``baseline`` (with ``--baseline DIR``): the coordinator of another checkout, e.g. the one
  before the core (Mangum over Starlette): ``git archive 8404baa | tar -x -C /tmp/baseline``.

In interleaved rounds (coordinator, floor, ..., coordinator, ...) each contender's process warms
up (300 events) and then serves ``--requests`` events, reading its own CPU time (user + system)
before and after. Prints the median and spread (min..max) per contender, and the ratios of the
medians. Prints figures; asserts no timing. ``bench/server_cpu.py`` measures the same request
under ``python -m coordinator serve`` (uvicorn), where the HTTP server adds its own cost.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FILES = {"files": [{"path": "hls/720p/seg000.ts", "content_type": "video/mp2t"}]}
HELLO_BODY = b'{"hello":"world"}'
WARM_UP = 300
CONTENDERS = ("coordinator", "floor", "mangum-hello")


def _environment(token_key: str) -> dict[str, str]:
    """What the stack gives the function (infra/components/coordinator_service.py)."""
    return {
        "COORDINATOR_ADMIN_KEY": secrets.token_urlsafe(32),
        "COORDINATOR_TOKEN_KEYS": json.dumps({"k-bench": token_key}),
        "COORDINATOR_TOKEN_SIGNING_KID": "k-bench",
        "MEZZANINE_BUCKET": "bench-mezzanine",
        "AWS_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "AKIDBENCHEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
        "R2_ACCOUNT_ID": "0123456789abcdef0123456789abcdef",
        "R2_JURISDICTION": "eu",
        "DELIVERY_BUCKET": "bench-delivery",
        "R2_ACCESS_KEY_ID": "r2benchkey",
        "R2_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
    }


# --- in a contender's process ---------------------------------------------------------------


def _coordinator(path: str) -> Callable[[], dict[str, Any]]:
    from datetime import UTC, datetime, timedelta

    from coordinator import lambda_handler
    from coordinator.tokens import JobScope, TokenCodec
    from tests.coordinator.lambda_events import function_url_event

    now = datetime.now(UTC).replace(microsecond=0)
    scope = JobScope("job-1", ("masters/a.mov",), "cpu/", now, now + timedelta(hours=2))
    keys = json.loads(os.environ["COORDINATOR_TOKEN_KEYS"])
    token = TokenCodec(keys, signing_kid="k-bench").issue(scope)
    event = function_url_event("POST", path, body=FILES, token=token)
    return lambda: lambda_handler.handler(event, None)


def _floor() -> Callable[[], dict[str, Any]]:
    """The least a handler can do for this request, written by hand for it alone."""
    from tests.coordinator.lambda_events import function_url_event

    key = os.environ["COORDINATOR_TOKEN_KEYS"].encode()
    token = hmac.new(key, b"job-1", hashlib.sha256).hexdigest()
    event = function_url_event("POST", "/floor", body=FILES, token=token)
    log = logging.getLogger("floor")

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        supplied = event["headers"]["authorization"].removeprefix("Bearer ")
        expected = hmac.new(key, b"job-1", hashlib.sha256).hexdigest()
        if not hmac.compare_digest(supplied, expected):
            return {"statusCode": 401, "body": ""}
        files = json.loads(event["body"])["files"]
        log.info("%s", json.dumps({"route": "/floor", "status": 200, "files": len(files)}))
        body = json.dumps({"files": [{"path": f["path"]} for f in files]})
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": body}

    return lambda: handle(event, None)


def _mangum_hello() -> Callable[[], dict[str, Any]]:
    from mangum import Mangum
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from tests.coordinator.lambda_events import function_url_event

    async def hello(request: Request) -> Response:
        await request.body()
        return Response(HELLO_BODY, media_type="application/json")

    app = Mangum(Starlette(routes=[Route("/hello", hello, methods=["POST"])]), lifespan="off")
    event = function_url_event("POST", "/hello", body=FILES)
    return lambda: app(event, None)  # type: ignore[arg-type]


def run_contender(name: str, requests: int, log_file: str) -> float:
    """CPU ms per request of ``name`` in this process, after a warm-up."""
    handler = logging.FileHandler(log_file)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)  # Lambda's default application log level
    if name in ("coordinator", "baseline"):
        call = _coordinator("/v1/jobs/job-1/outputs")
    elif name == "floor":
        call = _floor()
    else:
        call = _mangum_hello()
    answer = call()
    if answer["statusCode"] != 200:
        sys.exit(f"{name}: {answer['statusCode']} {answer.get('body', '')[:300]}")
    for _ in range(WARM_UP):
        call()
    start = time.process_time()
    for _ in range(requests):
        call()
    return (time.process_time() - start) / requests * 1000


# --- in this process --------------------------------------------------------------------------


def _measure(name: str, root: Path, requests: int, env: dict[str, str], log: Path) -> float:
    done = subprocess.run(
        [sys.executable, __file__, "--child", name, "--requests", str(requests),
         "--root", str(root), "--log", str(log)],
        env=env, capture_output=True, text=True, timeout=600, cwd=root,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"{name} failed:\n{done.stderr[-3000:]}{done.stdout[-500:]}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="another checkout's coordinator, too")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(args.root.resolve()))
        print(run_contender(args.child, args.requests, args.log))
        return

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "COORDINATOR_", "R2_"))}  # fmt: skip
    env |= _environment(secrets.token_urlsafe(32))
    roots = dict.fromkeys(CONTENDERS, ROOT)
    if args.baseline:
        roots["baseline"] = args.baseline.resolve()
    per_request: dict[str, list[float]] = {name: [] for name in roots}
    with tempfile.TemporaryDirectory(prefix="r2video-lambda-cpu-") as tmp:
        log = Path(tmp) / "function.log"
        for _ in range(args.rounds):
            for name, root in roots.items():  # interleaved
                per_request[name].append(_measure(name, root, args.requests, env, log))
        lines = log.read_text().count("\n")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; Lambda handlers in process, {args.requests} requests x "
          f"{args.rounds} rounds, each in a fresh process (CPU ms per request; {lines} log lines"
          " written)")  # fmt: skip
    what = {
        "coordinator": "POST /v1/jobs/{id}/outputs, 1 file (event -> core)",
        "floor": "hand-written handler: JSON body, HMAC check, log line, JSON answer",
        "mangum-hello": "POST /hello, Starlette + Mangum",
        "baseline": f"POST /v1/jobs/{{id}}/outputs, 1 file, {args.baseline}",
    }
    medians = {name: statistics.median(values) for name, values in per_request.items()}
    for name, values in per_request.items():
        print(f"  {name:12} median {medians[name]:.3f}  ({min(values):.3f}..{max(values):.3f})"
              f"  {what[name]}")  # fmt: skip
    for other in ("floor", "mangum-hello", "baseline"):
        if other in medians:
            ratio = medians["coordinator"] / medians[other]
            print(f"  coordinator / {other}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
