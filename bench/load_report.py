"""The report ``bench/load.py`` prints: per endpoint latency as workers saw it and as the app
spent it, transfers, CPU per process, errors, verification and the batch figure."""

from __future__ import annotations

import statistics
from typing import Any

MiB = 2**20


def percentiles(values: list[float], *points: int) -> list[float]:
    if len(values) < 2:
        return [values[0] if values else float("nan")] * len(points)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return [cuts[p - 1] for p in points]


def report(result: dict[str, Any]) -> str:
    lines = []
    run = result["run"]
    lines.append(
        f"load: {run['workers']} workers, {run['seconds']:.1f} s of load ({run['elapsed']:.1f} s "
        f"with the last jobs draining), {run['jobs']} jobs; python {run['python']}, "
        f"{run['cpus']} CPUs"
    )
    lines.append(
        f"coordinator: {run['requests']} requests, {run['rps']:.0f} req/s; "
        f"errors: {sum(result['errors'].values())}"
    )
    lines.append("")
    lines.append(
        f"{'endpoint':<20}{'count':>7}  {'worker p50/p95/p99 ms':>24}  "
        f"{'app p50/p95/p99 ms':>22}  {'of it store p50/p95':>19}"
    )
    for name, row in result["endpoints"].items():
        w, a, st = row["worker_ms"], row["app_ms"], row["store_ms"]
        lines.append(
            f"{name:<20}{row['count']:>7}  {w[0]:>7.1f} {w[1]:>7.1f} {w[2]:>8.1f}  "
            f"{a[0]:>6.2f} {a[1]:>6.2f} {a[2]:>7.2f}  {st[0]:>9.2f} {st[1]:>9.2f}"
        )
    lines.append("")
    lines.append(f"{'store transfer':<20}{'count':>7}  {'p50/p95/p99 ms':>24}  {'MiB':>10}")
    for name, row in result["transfers"].items():
        t = row["ms"]
        lines.append(
            f"{name:<20}{row['count']:>7}  {t[0]:>7.1f} {t[1]:>7.1f} {t[2]:>8.1f}  "
            f"{row['mib']:>10.1f}"
        )
    cpu = result["cpu_s"]
    lines.append("")
    lines.append(
        f"CPU seconds during the load: coordinator {cpu['coordinator']:.1f}, store "
        f"{cpu['store']:.1f}, workers (this process) {cpu['workers']:.1f} "
        f"(of {run['elapsed'] * run['cpus']:.0f} available)"
    )
    per_request = cpu["coordinator"] / run["requests"] * 1000
    lines.append(
        f"coordinator CPU per request {per_request:.2f} ms: one core would serve about "
        f"{1000 / per_request:,.0f} req/s of this mix"
    )
    v = result["verify"]
    lines.append(
        f"objects: {v['verified']}/{v['expected']} verified by SHA-256, size and content type "
        f"({v['bytes'] / MiB:,.0f} MiB); bad {v['bad']}, missing {v['missing']}, unexpected "
        f"{v['unexpected']}, multipart uploads left open {v['open_uploads']}"
    )
    for problem in v["problems"]:
        lines.append(f"  {problem}")
    for what, count in result["errors"].items():
        lines.append(f"  error {what}: {count}")
    for sample in result["error_samples"]:
        lines.append(f"    {sample}")
    b = result["batch"]
    if b:
        lines.append("")
        lines.append(
            f"batch: POST /multipart for {b['parts']:,} parts answers {b['urls']:,} part URLs "
            f"({b['answer_bytes'] / 1024:,.0f} KiB), median of {b['repeats']}:"
        )
        lines.append(
            f"  server (app) time {b['app_ms']:.1f} ms, of which the store's "
            f"CreateMultipartUpload {b['store_ms']:.1f} ms; worker-seen {b['wall_ms']:.1f} ms"
        )
        lines.append(
            f"  signing the {b['urls']:,} URLs: coordinator.sigv4 {b['sign_ms']:.1f} ms, boto3 "
            f"generate_presigned_url {b['boto3_ms']:.1f} ms: {b['boto3_ms'] / b['sign_ms']:.1f}x"
        )
        with_boto = b["app_ms"] - b["sign_ms"] + b["boto3_ms"]
        lines.append(
            f"  the same request signed by boto3 would take ~{with_boto:.0f} ms of server time: "
            f"{with_boto / b['app_ms']:.1f}x; boto3 alone for the URLs is "
            f"{b['boto3_ms'] / b['app_ms']:.1f}x this whole request"
        )
    return "\n".join(lines)


