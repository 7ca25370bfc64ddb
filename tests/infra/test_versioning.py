"""The release policy (docs/versioning.md), enforced: the example stacks' plans at the last
release (tests/infra/release_baseline/, its VERSION) against now (plans/, which
tests/review's snapshot test keeps equal to the program's output), judged by the project's own
diff (infra/review/diff.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.version import Version

from infra.review.diff import BORDER, DATA_LOSS, REPLACE, compare, load_plan
from tests.infra.conftest import EXAMPLE_STACKS

ROOT = Path(__file__).resolve().parents[2]
BASELINE = Path(__file__).with_name("release_baseline")


def _version() -> Version:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return Version(pyproject["project"]["version"])


def _released() -> Version:
    return Version((BASELINE / "VERSION").read_text(encoding="utf-8").strip())


def _bump() -> str:
    now, then = _version(), _released()
    assert now >= then, f"version {now} is older than the last release {then}"
    if now.major != then.major:
        return "major"
    return "minor" if now.minor != then.minor else "patch"


# What each kind of release may not do (docs/versioning.md). A major release may do anything
# its CHANGELOG entry explains, with the migration steps.
FORBIDDEN = {"patch": {REPLACE, DATA_LOSS, BORDER}, "minor": {DATA_LOSS, BORDER}, "major": set()}


def test_the_changelog_has_an_entry_for_this_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {_version()}" in changelog, f"CHANGELOG.md has no '## {_version()}' entry"


def test_every_example_stack_has_a_release_baseline() -> None:
    assert sorted(p.stem for p in BASELINE.glob("*.json")) == sorted(EXAMPLE_STACKS)


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_a_release_changes_no_urn_and_nothing_its_kind_forbids(stack: str) -> None:
    bump = _bump()
    diff = compare(
        load_plan(BASELINE / f"{stack}.json"), load_plan(ROOT / "plans" / f"{stack}.json")
    )
    if bump != "major":
        # No URN of the last release may go away (a rename needs `aliases`, which keep it).
        aliased = {old["urn"] for old, _ in diff.aliased}
        gone = [r["urn"] for r in diff.removed if r["urn"] not in aliased]
        assert not gone, f"{stack}: a {bump} release removes {gone}"
    bad = [f for f in diff.flags if f.kind in FORBIDDEN[bump]]
    assert not bad, f"{stack}: a {bump} release may not: " + "; ".join(
        f"{f.kind.upper()} {f.label}: {f.message}" for f in bad
    )


def test_the_judge_sees_a_forbidden_change(tmp_path: Path) -> None:
    """The check can fail: a plan whose delivery bucket moved jurisdiction is a DATA LOSS and a
    BORDER change to the diff, which a patch and a minor release refuse."""
    import json

    plan = json.loads((BASELINE / "eu-prod.json").read_text(encoding="utf-8"))
    for resource in plan["resources"]:
        if resource["type"] == "cloudflare:index/r2Bucket:R2Bucket":
            resource["inputs"]["jurisdiction"] = "default"
    head = BASELINE.parent / ".moved.json"
    try:
        head.write_text(json.dumps(plan), encoding="utf-8")
        kinds = {
            f.kind for f in compare(load_plan(BASELINE / "eu-prod.json"), load_plan(head)).flags
        }
    finally:
        head.unlink(missing_ok=True)
    assert kinds & FORBIDDEN["minor"], kinds
