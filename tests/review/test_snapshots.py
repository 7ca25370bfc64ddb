"""plans/<stack>.json must match what the code plans now, so every infra change is a PR diff.

When this fails, re-run the command it prints and commit plans/ with the change.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

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
    current = _current(stack)
    assert path.read_text(encoding="utf-8") == current, f"plans/{stack}.json is stale; {fix}"


@functools.cache
def _current(stack: str) -> str:
    return render_json(plan_stack(stack))


def _git(*args: str) -> str | None:
    result = subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30
    )
    return result.stdout if result.returncode == 0 else None


def _baseline(stack: str) -> tuple[str, dict[str, Any]] | None:
    """plans/<stack>.json where this branch left main (what is deployed, or about to be);
    else the committed one at HEAD."""
    for ref in ("origin/main", "main"):
        fork = _git("merge-base", "HEAD", ref)
        text = fork and _git("show", f"{fork.strip()}:plans/{stack}.json")
        if text:
            return f"{ref} at {fork.strip()[:12]}", json.loads(text)
    text = _git("show", f"HEAD:plans/{stack}.json")
    return ("HEAD", json.loads(text)) if text else None


def urns_lost(baseline: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """URNs of ``baseline`` that ``current`` neither has nor names in an ``aliases`` entry:
    `pulumi up` would delete those resources and create new ones."""
    kept = {r["urn"] for r in current["resources"]}
    kept |= {alias for r in current["resources"] for alias in r.get("aliases", [])}
    return sorted(r["urn"] for r in baseline["resources"] if r["urn"] not in kept)


def test_urns_lost_finds_a_rename_without_an_alias_and_accepts_one_with():
    old = {"resources": [{"urn": "urn:pulumi:s::p::t::old"}]}
    renamed = {"resources": [{"urn": "urn:pulumi:s::p::t::new"}]}
    aliased = {
        "resources": [{"urn": "urn:pulumi:s::p::t::new", "aliases": ["urn:pulumi:s::p::t::old"]}]
    }
    assert urns_lost(old, renamed) == ["urn:pulumi:s::p::t::old"]
    assert urns_lost(old, aliased) == []


@pytest.mark.parametrize("stack", STACKS)
def test_no_committed_urn_disappears_without_an_alias(stack):
    found = _baseline(stack)
    if found is None:
        pytest.skip(f"plans/{stack}.json is new: no URN to keep")
    where, baseline = found
    lost = urns_lost(baseline, json.loads(_current(stack)))
    assert not lost, (
        f"these URNs of plans/{stack}.json ({where}) are gone from the plan, so `pulumi up` would"
        " delete and re-create them; keep each with"
        " opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name=..., parent=...)]) naming the"
        f" old name or parent: {lost}"
    )
