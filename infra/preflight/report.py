"""One preflight check: a line that passes or fails, and the fix when it fails."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Check", "Status", "exit_code", "render"]


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 (a check's outcome, not a password)
    WARN = "warn"
    """Could not be settled with what the credentials may read; does not fail the run."""
    FAIL = "fail"


@dataclass(frozen=True, kw_only=True, slots=True)
class Check:
    """The outcome of one check against the real accounts."""

    name: str
    """What was checked, e.g. ``cloudflare zone``."""
    status: Status
    detail: str
    """What was found."""
    fix: str | None = None
    """What to do about a failure or a warning (a command where there is one)."""

    def __post_init__(self) -> None:
        if self.status is not Status.PASS and not self.fix:
            raise ValueError(f"check {self.name!r}: a {self.status.value} needs a fix")


def render(checks: Iterable[Check]) -> str:
    """One line per check, ``fix:`` under each that did not pass."""
    lines = []
    for check in checks:
        lines.append(f"{check.status.value.upper():4}  {check.name}: {check.detail}")
        if check.fix:
            lines.append(f"      fix: {check.fix}")
    return "\n".join(lines) + "\n"


def exit_code(checks: Sequence[Check]) -> int:
    """0 when nothing failed, 1 otherwise (2, bad input, is the CLI's)."""
    return 1 if any(c.status is Status.FAIL for c in checks) else 0
