"""Server CPU per single-URL request: the coordinator vs a plain Starlette "hello" app.

Run: .venv/bin/python bench/server_cpu.py [--requests 2000] [--rounds 7] [--profile FILE]

Starts the embedded S3 store (coordinator/embedded_store.py), creates one job, then serves in
two processes of their own, each under uvicorn with the same limits:

* the coordinator exactly as ``python -m coordinator serve`` runs it (its JSON access line
  included, written to a log file);
* a Starlette app with one POST route answering a small JSON body (the framework's floor).

In interleaved rounds (coordinator, hello, coordinator, hello, ...) one keep-alive client
sends ``--requests`` requests to each: ``POST /v1/jobs/{id}/outputs`` with one file, and
``POST /hello``. Each round reads the *server process's* CPU time (user + system, all its
threads, from /proc/<pid>/stat) before and after, and divides by the requests: wall time would
measure the client, which is the bottleneck on a small machine. Prints the median and the spread
(min..max) per server and the ratio of the medians. ``--profile FILE`` also runs the
coordinator under cProfile and writes its stats to FILE on exit (the figures are then inflated).
``--baseline DIR`` adds a third contender, the coordinator of another checkout (before/after in
one run). Prints figures; asserts no timing. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

HELLO_BODY = b'{"hello":"world"}'


# --- in the server processes --------------------------------------------------------------


def serve_hello(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from coordinator.httpio import SERVER_LIMITS

    async def hello(request: Request) -> Response:
        await request.body()
        return Response(HELLO_BODY, media_type="application/json")

    app = Starlette(routes=[Route("/hello", hello, methods=["POST"])])
    uvicorn.run(
        app, host="127.0.0.1", port=port, server_header=False, access_log=False,
        log_level="warning", **SERVER_LIMITS,
    )  # fmt: skip


def serve_coordinator(port: int, profile: str | None) -> None:
    from coordinator.__main__ import main

    argv = ["serve", "--port", str(port)]
    if not profile:
        sys.exit(main(argv))
    import cProfile
    import signal

    # uvicorn re-raises the SIGTERM it caught once it has shut down: exit cleanly on it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        main(argv)  # returns when uvicorn handles SIGTERM
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


# --- in this process ------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """user + system CPU of a process (all its threads), from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server(
    args: list[str], env: dict[str, str], log: Path, *, baseline: Path | None = None
) -> Iterator[tuple[str, int]]:
    """``python bench/server_cpu.py --serve ...`` in its own process, or with ``baseline``
    ``python -m coordinator serve`` run from that checkout; yields (base URL, pid)."""
    port = _free_port()
    if baseline is None:
        command, cwd = [sys.executable, __file__, "--serve", *args], ROOT
    else:
        command, cwd = [sys.executable, "-m", "coordinator", "serve"], baseline
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{args[0]} would not start:\n{log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):  # uvicorn listens once the app is loaded
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            time.sleep(0.1)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per server per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profile", help="cProfile the coordinator, stats to this file")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also serve the coordinator of this checkout (e.g. `git worktree add /tmp/b main`)",
    )
    parser.add_argument("--serve", choices=["coordinator", "hello"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "hello":
        serve_hello(args.port)
        return
    if args.serve == "coordinator":
        serve_coordinator(args.port, args.profile)
        return

    import httpx
    from load import DELIVERY_BUCKET, MEZZANINE_BUCKET, MEZZANINE_KEY, MEZZANINE_REGION
    from timed_coordinator import coordinator_environment

    from coordinator.embedded_store import embedded_store
    from coordinator.s3client import make_client

    admin_key = os.urandom(24).hex()
    token_key = os.urandom(24).hex()
    with embedded_store() as store, tempfile.TemporaryDirectory() as tmp:
        s3 = make_client(endpoint=store.endpoint, region="auto", credentials=store.credentials)
        for bucket in (MEZZANINE_BUCKET, DELIVERY_BUCKET):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=MEZZANINE_BUCKET, Key=MEZZANINE_KEY, Body=b"mezzanine")
        settings = coordinator_environment(
            store,
            admin_key=admin_key,
            token_key=token_key,
            delivery_bucket=DELIVERY_BUCKET,
            mezzanine_bucket=MEZZANINE_BUCKET,
            region=MEZZANINE_REGION,
        )
        names = set(settings) | {
            "COORDINATOR_STACK_OUTPUTS", "COORDINATOR_SECRET_ARN", "AWS_SESSION_TOKEN",
        }  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k not in names}
        env.update(settings)
        coordinator_args = ["coordinator", *(["--profile", args.profile] if args.profile else [])]
        with (
            server(coordinator_args, env, Path(tmp) / "coordinator.log") as (base, pid),
            server(["hello"], env, Path(tmp) / "hello.log") as (hello_base, hello_pid),
            httpx.Client(timeout=30) as client,
            contextlib.ExitStack() as extra,
        ):
            old = None
            if args.baseline:
                old = extra.enter_context(
                    server(["baseline"], env, Path(tmp) / "baseline.log", baseline=args.baseline)
                )
            job = client.post(
                f"{base}/v1/jobs",
                headers={"Authorization": f"Bearer {admin_key}"},
                json={"mezzanine_key": MEZZANINE_KEY, "output_prefix": "cpu/", "ttl_seconds": 3600},
            )
            if job.status_code != 201:
                sys.exit(f"create job: {job.status_code} {job.text[:300]}")
            token, job_id = job.json()["worker_token"], job.json()["job_id"]
            outputs_url = f"{base}/v1/jobs/{job_id}/outputs"
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            body = json.dumps(
                {"files": [{"path": "hls/720p/seg000.ts", "content_type": "video/mp2t"}]}
            )

            def coordinator_request() -> None:
                answer = client.post(outputs_url, headers=headers, content=body)
                if answer.status_code != 200 or len(answer.json()["files"]) != 1:
                    sys.exit(f"outputs: {answer.status_code} {answer.text[:300]}")

            def hello_request() -> None:
                answer = client.post(f"{hello_base}/hello", headers=headers, content=body)
                if answer.status_code != 200 or answer.content != HELLO_BODY:
                    sys.exit(f"hello: {answer.status_code} {answer.text[:300]}")

            contenders = {
                "coordinator": (pid, coordinator_request),
                "hello": (hello_pid, hello_request),
            }
            if old is not None:
                old_url = f"{old[0]}/v1/jobs/{job_id}/outputs"  # same keys: the token works

                def baseline_request() -> None:
                    answer = client.post(old_url, headers=headers, content=body)
                    if answer.status_code != 200 or len(answer.json()["files"]) != 1:
                        sys.exit(f"baseline outputs: {answer.status_code} {answer.text[:300]}")

                contenders["baseline"] = (old[1], baseline_request)
            for _, send in contenders.values():  # warm: imports, caches, connections
                for _ in range(200):
                    send()
            per_request: dict[str, list[float]] = {name: [] for name in contenders}
            for _ in range(args.rounds):
                for name, (server_pid, send) in contenders.items():  # interleaved
                    before = cpu_seconds(server_pid)
                    for _ in range(args.requests):
                        send()
                    per_request[name].append((cpu_seconds(server_pid) - before) / args.requests)

    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}; {args.requests} requests per server per round, "
        f"{args.rounds} interleaved rounds, server process CPU (user + system) per request"
    )
    for name, values in per_request.items():
        what = "POST /hello" if name == "hello" else "POST /v1/jobs/{id}/outputs, 1 file"
        print(
            f"  {name:11s} median {statistics.median(values) * 1e3:6.3f} ms"
            f"  (min {min(values) * 1e3:6.3f}, max {max(values) * 1e3:6.3f})  {what}"
        )
    ratio = statistics.median(per_request["coordinator"]) / statistics.median(per_request["hello"])
    print(f"  coordinator/hello {ratio:.2f}x")
    if "baseline" in per_request:
        gain = statistics.median(per_request["baseline"]) / statistics.median(
            per_request["coordinator"]
        )
        paired = statistics.median(
            b / c for b, c in zip(per_request["baseline"], per_request["coordinator"], strict=True)
        )
        print(f"  baseline/coordinator {gain:.2f}x (per-round median {paired:.2f}x)")


if __name__ == "__main__":
    main()
