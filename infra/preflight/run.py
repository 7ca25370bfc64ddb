"""Runs every preflight check and collects the lines."""

from __future__ import annotations

from typing import Any

from infra.preflight.aws_checks import aws_checks
from infra.preflight.cloudflare_api import DEFAULT_API, CloudflareApi, CloudflareUnreachable
from infra.preflight.cloudflare_checks import cloudflare_checks
from infra.preflight.report import Check, Status, exit_code, render
from infra.settings import StackSettings

__all__ = [
    "DEFAULT_API",
    "Check",
    "CloudflareApi",
    "Status",
    "exit_code",
    "render",
    "run_preflight",
]


def run_preflight(
    settings: StackSettings, *, cloudflare: CloudflareApi, aws_session: Any
) -> list[Check]:
    """Every check, Cloudflare first; an unreachable API is one failed line, not a traceback."""
    checks: list[Check] = []
    try:
        for check in cloudflare_checks(cloudflare, settings):
            checks.append(check)
    except CloudflareUnreachable as error:
        checks.append(
            Check(
                name="cloudflare api",
                status=Status.FAIL,
                detail=f"unreachable: {error}",
                fix="check the network (or --cloudflare-api)",
            )
        )
    checks.extend(aws_checks(aws_session, settings))
    return checks
