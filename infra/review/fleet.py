"""Every stack of the project in one process: ``plan --all``, ``residency --all``, ``cost --all``.

Importing the provider SDKs is most of what one offline plan costs (``bench/fleet.py``), so the
fleet commands import them once and run one stack after another. Each stack still gets what a
``plan --stack S`` process of its own would have given: ``synthesize`` resets Pulumi's runtime
settings, config and root resource for every run, the program is executed afresh (``runpy``),
and the only process-wide cache the program reads is the Lambda package, which depends on the
checkout, not the stack (``tests/review/test_fleet.py`` plans every ordered pair of stacks and
compares the bytes with plans made alone).

One stack's failure never hides another's: every stack runs, its exit status is kept, and the
fleet's status is the worst of them in the order ``SEVERITY`` states. Problems of the fleet itself
(no stacks, a file name that is no stack name, names that differ only in case, too many stacks)
are found before anything is planned.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

__all__ = [
    "EXIT_CRASH",
    "EXIT_INPUT",
    "EXIT_OK",
    "EXIT_RULE",
    "MAX_STACKS",
    "SEVERITY",
    "Fleet",
    "StackResult",
    "discover",
    "progress_stream",
    "run_fleet",
    "summary",
    "worst",
]

EXIT_OK = 0
EXIT_RULE = 1
"""A rule failed (a mandatory policy rule, data outside the jurisdiction): the stack was planned."""
EXIT_INPUT = 2
"""Bad input: the stack file or its settings were refused; nothing was planned."""
EXIT_CRASH = 3
"""The program or a tool raised: a bug, reported with its traceback in the stack's log."""
SEVERITY = (EXIT_OK, EXIT_RULE, EXIT_INPUT, EXIT_CRASH)
"""Least to most severe: the fleet's exit status is the most severe of its stacks'."""
# The review's artifact carries three files a stack (infra/review/judge.py MAX_FILES follows):
# more stacks than this are refused before anything is planned, rather than judged half.
MAX_STACKS = 500
# infra/stack_config.py's rule for names that become file names.
_STACK_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass(frozen=True, slots=True)
class Fleet:
    """The stacks to run, and what keeps the others from running at all."""

    stacks: tuple[str, ...]
    refused: dict[str, str]
    """Stack -> why it is not run (names that differ only in case): exit 2 each."""
    problems: tuple[str, ...]
    """Problems of the whole fleet (no stacks, too many, unusable file names): nothing runs."""


def discover(project_dir: Path) -> Fleet:
    """The stacks of ``project_dir`` (one per ``Pulumi.<stack>.yaml``), sorted, checked as a set."""
    names, problems = [], []
    for path in sorted(project_dir.glob("Pulumi.*.yaml")):
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        if not _STACK_NAME.fullmatch(stack) or ".." in stack:
            problems.append(f"{path.name}: {stack!r} is not a stack name (letters, digits, -_.)")
        else:
            names.append(stack)
    if not names and not problems:
        problems.append(f"no stacks: {project_dir} has no Pulumi.<stack>.yaml")
    if len(names) > MAX_STACKS:
        problems.append(
            f"{len(names)} stacks: more than {MAX_STACKS}, the most one review artifact carries;"
            " split the project"
        )
    # Stack files named alike but for case collide on case-insensitive file systems (macOS,
    # Windows) and in the review artifact: neither is planned, both are named.
    by_folded: dict[str, list[str]] = {}
    for name in names:
        by_folded.setdefault(name.casefold(), []).append(name)
    refused = {}
    for group in by_folded.values():
        if len(group) > 1:
            for name in group:
                others = ", ".join(f"Pulumi.{o}.yaml" for o in group if o != name)
                refused[name] = (
                    f"error: Pulumi.{name}.yaml and {others} name stacks that differ only in"
                    " case: they collide on case-insensitive file systems; rename one"
                )
    return Fleet(stacks=tuple(names), refused=refused, problems=tuple(problems))


@dataclass(frozen=True, slots=True)
class StackResult:
    stack: str
    exit: int
    seconds: float
    reason: str
    """One line: why the stack did not pass (empty when it did)."""


def worst(statuses: list[int]) -> int:
    """The most severe status by ``SEVERITY`` (an unknown one counts as a crash)."""
    rank = {status: i for i, status in enumerate(SEVERITY)}
    return max(statuses, key=lambda s: rank.get(s, len(SEVERITY)), default=EXIT_OK)


def progress_stream() -> TextIO | None:
    """stderr when a person watches it; None in CI (``CI=true``) or when it is not a terminal."""
    if os.environ.get("CI", "").lower() == "true" or not sys.stderr.isatty():
        return None
    return sys.stderr


class _Tee(io.StringIO):
    """Captures a stack's report while passing it on (the log of one stack, as its own
    process would have written it)."""

    def __init__(self, passthrough: TextIO | None) -> None:
        super().__init__()
        self._passthrough = passthrough

    def write(self, s: str) -> int:
        if self._passthrough is not None:
            self._passthrough.write(s)
        return super().write(s)


@contextlib.contextmanager
def _captured(log: Path | None) -> Iterator[io.StringIO]:
    """Route what a stack prints: into its log file alone (``log``), as ``> log 2>&1`` would,
    or through to this process's stdout and stderr, remembering stderr for the summary."""
    if log is not None:
        both = io.StringIO()
        with contextlib.redirect_stdout(both), contextlib.redirect_stderr(both):
            try:
                yield both
            finally:
                log.write_text(both.getvalue(), encoding="utf-8")
    else:
        err = _Tee(sys.stderr)
        with contextlib.redirect_stderr(err):
            yield err


def _reason(status: int, text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if status == EXIT_CRASH:
        return lines[-1] if lines else "crashed"
    errors = [line for line in lines if line.startswith("error:") or "problem" in line]
    if errors:
        return errors[0]
    if status == EXIT_RULE:
        return "a rule fails (see its report)"
    return lines[0] if lines else f"exit {status}"


def run_fleet(
    fleet: Fleet,
    run_one: Callable[[str], int],
    *,
    logs: Path | None = None,
    progress: TextIO | None = None,
    verb: str = "plan",
) -> list[StackResult]:
    """Run ``run_one(stack)`` for every stack, one after another, keeping each status.

    With ``logs``, each stack's output goes to ``logs/<stack>.log`` and its status to
    ``logs/<stack>.exit`` (what ``.ci/review-plan`` uploads); otherwise to this process's
    streams. A stack that raises is reported with its traceback (``EXIT_CRASH``) and the next
    one runs; KeyboardInterrupt still stops the fleet.
    """
    results = []
    total = len(fleet.stacks)
    for index, stack in enumerate(fleet.stacks, 1):
        start = time.perf_counter()
        log = logs / f"{stack}.log" if logs is not None else None
        with _captured(log) as seen:
            if stack in fleet.refused:
                print(fleet.refused[stack], file=sys.stderr)
                status = EXIT_INPUT
            else:
                try:
                    status = run_one(stack)
                except Exception:  # one stack's bug must not hide the others
                    print(f"error: {verb} of stack {stack!r} raised:", file=sys.stderr)
                    traceback.print_exc(file=sys.stderr)
                    status = EXIT_CRASH
        if logs is not None:
            (logs / f"{stack}.exit").write_text(f"{status}\n", encoding="utf-8")
        seconds = time.perf_counter() - start
        reason = "" if status == EXIT_OK else _reason(status, seen.getvalue())
        results.append(StackResult(stack, status, seconds, reason))
        if progress is not None:
            shown = "ok" if status == EXIT_OK else f"exit {status}: {reason}"
            print(f"{verb} [{index}/{total}] {stack}: {shown} ({seconds:.1f} s)", file=progress)
    return results


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary(results: list[StackResult], *, verb: str = "plan") -> str:
    """Every stack that did not pass, one line each (empty when all did)."""
    failed = [r for r in results if r.exit != EXIT_OK]
    if not failed:
        return ""
    lines = [f"{verb} --all: {len(failed)} of {len(results)} stacks did not pass:"]
    lines += [f"  - {r.stack}: exit {r.exit}: {_clip(r.reason)}" for r in failed]
    return "\n".join(lines) + "\n"
