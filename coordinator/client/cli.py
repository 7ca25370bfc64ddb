"""``python -m coordinator publish --coordinator URL --job ID DIR``: publish a ladder.

The worker token comes from the environment (``COORDINATOR_WORKER_TOKEN``, or the variable
``--token-env`` names), never from a flag: command lines are visible to every user of the
machine (``ps``) and end up in shell history and CI logs.

Exit status: 0 published and verified; 1 the coordinator or the store refused, or kept failing
(run again to resume); 2 bad usage, no token, or a directory that is not a safe ladder.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..delivery_rules import DEFAULT_MANIFEST_TTL, ONE_YEAR
from .journal import DEFAULT_NAME

__all__ = ["TOKEN_ENV", "add_arguments", "run"]

TOKEN_ENV = "COORDINATOR_WORKER_TOKEN"  # noqa: S105 - the variable's name, not a token


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, help="the packaged ladder (HLS and/or DASH)")
    parser.add_argument("--coordinator", required=True, help="the coordinator's base URL")
    parser.add_argument("--job", required=True, help="the job id (its token: environment)")
    parser.add_argument(
        "--token-env", default=TOKEN_ENV, help=f"variable holding the token ({TOKEN_ENV})"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    parser.add_argument("--concurrency", type=int, default=8, help="transfers in flight (8)")
    parser.add_argument(
        "--multipart-threshold-mib", type=int, default=8, help="multipart from this size (8)"
    )
    parser.add_argument(
        "--manifest-max-age",
        type=int,
        default=DEFAULT_MANIFEST_TTL,
        help=f"Cache-Control max-age of manifests, s ({DEFAULT_MANIFEST_TTL}; live: 1)",
    )
    parser.add_argument(
        "--media-max-age", type=int, default=ONE_YEAR, help=f"of media files, s ({ONE_YEAR})"
    )
    parser.add_argument(
        "--state", type=Path, help=f"the resume journal (default: DIR/{DEFAULT_NAME})"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


class _Progress:
    """A tqdm bar of bytes on stderr, made once the total is known (a worker at a terminal)."""

    def __init__(self) -> None:
        self.bar: Any = None

    def start(self, total: int, done: int) -> None:
        from tqdm import tqdm  # only a worker at a terminal pays for it

        self.bar = tqdm(
            total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr
        )

    def advance(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(count)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args: argparse.Namespace) -> int:
    from .api import CoordinatorApi, CoordinatorRefused, CoordinatorUnavailable
    from .journal import Journal
    from .ladder import LadderError
    from .publisher import Publisher, PublishError, PublishOptions
    from .transfer import StoreRefusedUpload, Transfer

    token = os.environ.get(args.token_env, "").strip()
    if not token:
        print(f"publish: set the worker token in ${args.token_env}", file=sys.stderr)
        return 2
    try:
        options = PublishOptions(
            concurrency=args.concurrency,
            multipart_threshold=args.multipart_threshold_mib * 1024 * 1024,
            manifest_max_age=args.manifest_max_age,
            media_max_age=args.media_max_age,
        )
    except ValueError as exc:
        print(f"publish: {exc}", file=sys.stderr)
        return 2
    root: Path = args.directory
    shown = sys.stdout.isatty() and not args.no_progress and not args.json
    progress = _Progress() if shown else None
    transfer = Transfer(on_bytes=progress.advance if progress is not None else None)
    try:
        journal = Journal(args.state or root / DEFAULT_NAME, job_id=args.job)
        with CoordinatorApi(args.coordinator, job_id=args.job, token=token) as api:
            publisher = Publisher(api=api, transfer=transfer, options=options)
            summary = publisher.publish(
                root, journal=journal, on_start=progress.start if progress is not None else None
            )
    except LadderError as exc:
        print(f"publish: not a publishable ladder: {exc}", file=sys.stderr)
        return 2
    except (
        CoordinatorRefused,
        CoordinatorUnavailable,
        StoreRefusedUpload,
        PublishError,
        OSError,
    ) as exc:
        print(f"publish: {exc}; run the same command again to resume", file=sys.stderr)
        return 1
    finally:
        transfer.close()
        if progress is not None:
            progress.close()
    if args.json:
        print(json.dumps(summary.as_json(), sort_keys=True))
    else:
        data = summary.as_json()
        print(
            f"published {summary.files} files ({summary.bytes:,} bytes) for job {summary.job_id}: "
            f"{summary.uploaded_files} uploaded ({summary.puts} PUTs, {summary.parts} parts), "
            f"{summary.skipped_files} already stored, {summary.verified} verified, "
            f"{data['throughput_mib_s']} MiB/s"
        )
    return 0
