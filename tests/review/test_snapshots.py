"""plans/<stack>.json must match what the code plans now, so every infra change is a PR diff.

When this fails, re-run the command it prints and commit plans/ with the change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.review.plan import plan_stack, render_json

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))


def refresh_command(stack: str) -> str:
    return f"python -m infra.cli plan --stack {stack} --format json --output plans/{stack}.json"


def test_every_example_stack_has_a_snapshot():
    assert {"dev", "eu-prod", "fedramp"} <= set(STACKS)
    orphans = sorted(p.name for p in (ROOT / "plans").glob("*.json") if p.stem not in STACKS)
    assert not orphans, f"snapshots without a Pulumi.<stack>.yaml: {orphans}; delete them"


@pytest.mark.parametrize("stack", STACKS)
def test_snapshot_is_fresh(stack):
    path = ROOT / "plans" / f"{stack}.json"
    fix = f"refresh it with: {refresh_command(stack)}  (then commit plans/{stack}.json)"
    assert path.exists(), f"plans/{stack}.json is missing; {fix}"
    current = render_json(plan_stack(stack))
    assert path.read_text(encoding="utf-8") == current, f"plans/{stack}.json is stale; {fix}"
