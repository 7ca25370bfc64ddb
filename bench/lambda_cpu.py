"""CPU per single-URL request on the production path: the Lambda handler, in process.

Run: .venv/bin/python bench/lambda_cpu.py [--requests 2000] [--rounds 9]

On Lambda there is no HTTP server in the function: the runtime hands each request to
``coordinator.lambda_handler.handler`` as a Function URL event (payload 2.0), and the function
is billed for the time that call takes. This bench calls the handler exactly so, in this process,
with the access line written to a log file (as Lambda writes it to its log), and compares it
with the framework's floor measured the same way: a Starlette app with one POST route answering
a small JSON body, under the same Mangum adapter.

The coordinator request is ``POST /v1/jobs/{id}/outputs`` with one file (one presigned PUT, no
store call: presigning is local). In interleaved rounds (coordinator, hello, coordinator, ...)
each contender serves ``--requests`` events; a round reads this process's CPU time (user +
system) before and after. Prints the median and spread (min..max) per contender, and the ratio
of the medians. Prints figures; asserts no timing. ``bench/server_cpu.py`` measures the same
request under ``python -m coordinator serve`` (uvicorn), where the HTTP server adds its own cost.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HELLO_BODY = b'{"hello":"world"}'
FILES = {"files": [{"path": "hls/720p/seg000.ts", "content_type": "video/mp2t"}]}


def _event(path: str, token: str) -> dict[str, Any]:
    from tests.coordinator.lambda_events import function_url_event

    return function_url_event("POST", path, body=FILES, token=token)


def contenders(log_file: Path) -> dict[str, Callable[[], dict[str, Any]]]:
    """name -> one call of that contender's handler with its event (checked once here)."""
    from mangum import Mangum
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from coordinator import lambda_handler
    from coordinator.tokens import JobScope, TokenCodec

    handler = logging.FileHandler(log_file)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)  # Lambda's default application log level
    token_key = secrets.token_urlsafe(32)
    os.environ.update(
        {  # what the stack gives the function (infra/components/coordinator_service.py)
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
    )
    for name in ("COORDINATOR_SECRET_ARN", "COORDINATOR_STACK_OUTPUTS"):
        os.environ.pop(name, None)
    now = datetime.now(UTC).replace(microsecond=0)
    scope = JobScope("job-1", ("masters/a.mov",), "cpu/", now, now + timedelta(hours=2))
    token = TokenCodec({"k-bench": token_key}, signing_kid="k-bench").issue(scope)

    async def hello(request: Request) -> Response:
        await request.body()
        return Response(HELLO_BODY, media_type="application/json")

    floor = Mangum(Starlette(routes=[Route("/hello", hello, methods=["POST"])]), lifespan="off")
    coordinator_event = _event("/v1/jobs/job-1/outputs", token)
    hello_event = _event("/hello", token)
    calls = {
        "coordinator": lambda: lambda_handler.handler(coordinator_event, None),
        "hello": lambda: floor(hello_event, None),  # type: ignore[arg-type]
    }
    for name, call in calls.items():
        answer = call()
        if answer["statusCode"] != 200:
            sys.exit(f"{name}: {answer['statusCode']} {answer['body'][:300]}")
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="r2video-lambda-cpu-") as tmp:
        calls = contenders(Path(tmp) / "function.log")
        per_request: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.rounds):
            for name, call in calls.items():
                start = time.process_time()
                for _ in range(args.requests):
                    call()
                elapsed = time.process_time() - start
                per_request[name].append(elapsed / args.requests * 1000)
        lines = (Path(tmp) / "function.log").read_text().count("\n")
    print(f"Lambda handler in process, {args.requests} requests x {args.rounds} rounds"
          f" (CPU ms per request; {lines} log lines written)")  # fmt: skip
    for name, values in per_request.items():
        what = (
            "POST /hello (Starlette + Mangum floor)"
            if name == "hello"
            else ("POST /v1/jobs/{id}/outputs, 1 file")
        )
        print(f"  {name:12} median {statistics.median(values):.3f}"
              f"  ({min(values):.3f}..{max(values):.3f})  {what}")  # fmt: skip
    ratio = statistics.median(per_request["coordinator"]) / statistics.median(per_request["hello"])
    print(f"  coordinator / hello: {ratio:.2f}x")


if __name__ == "__main__":
    main()
