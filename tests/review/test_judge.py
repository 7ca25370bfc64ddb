"""The trusted judge (`python -m infra.cli review`): it reads the untrusted artifact as data,
checks its shape first, and asks for approval when the PR touches what the review relies on.
Fast cases over the committed plans; the end-to-end run is test_review_end_to_end.py."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from infra.cli import main
from infra.review.judge import codeowners_patterns, protected

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted(
    p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml")
)


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    """What .ci/review-plan uploads for an unchanged head: the committed plans, exit 0."""
    out = tmp_path / "artifact"
    (out / "head").mkdir(parents=True)
    (out / "pr-number").write_text("12\n", encoding="utf-8")
    (out / "head-sha").write_text("0123456789abcdef0123456789abcdef01234567\n", "utf-8")
    for stack in STACKS:
        shutil.copy(ROOT / "plans" / f"{stack}.json", out / "head" / f"{stack}.json")
        (out / "head" / f"{stack}.exit").write_text("0\n", encoding="utf-8")
        (out / "head" / f"{stack}.log").write_text("Policy: ...\n", encoding="utf-8")
    return out


def _review(artifact: Path, tmp_path: Path, capsys, *extra: str) -> tuple[int, dict, str]:
    verdict = tmp_path / "verdict.json"
    comment = tmp_path / "comment.md"
    args = ["review", str(artifact), "--base-dir", str(ROOT), "--verdict", str(verdict)]
    status = main([*args, "--output", str(comment), *extra])
    capsys.readouterr()
    return status, json.loads(verdict.read_text()), comment.read_text()


def test_an_unchanged_head_passes_with_the_policy_results(artifact, tmp_path, capsys):
    status, verdict, comment = _review(artifact, tmp_path, capsys)
    assert (status, verdict["state"]) == (0, "pass"), verdict
    for stack in STACKS:
        assert f"Policy rules for `{stack}` (base branch rules)" in comment


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda a: (a / "extra.sh").write_text("x"), "extra.sh: unexpected file"),
        (lambda a: (a / "head" / "dev.sh").write_text("x"), "head/dev.sh: unexpected file"),
        (lambda a: (a / "pr-number").write_text("12; rm -rf /"), "pr-number: missing or malformed"),
        (lambda a: os.symlink("/etc/passwd", a / "head" / "x.log"), "a symbolic link"),
    ],
)
def test_a_malformed_artifact_fails(artifact, tmp_path, capsys, tamper, reason):
    tamper(artifact)
    status, verdict, _ = _review(artifact, tmp_path, capsys)
    assert status == 2
    assert reason in verdict["reasons"][0]


def _edit_plan(artifact: Path, stack: str, edit) -> None:
    path = artifact / "head" / f"{stack}.json"
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda d: d.update(stack="prod"), "stack is 'prod'"),
        (lambda d: d.update(extra=1), "unknown fields ['extra']"),
        (lambda d: d["resources"][0].update(name="`x` @team"), "characters a plan never has"),
        (lambda d: d["resources"][0].update(protect="yes"), "protect has the wrong type"),
        (lambda d: d["resources"][0].pop("inputs"), "inputs is missing"),
        (
            lambda d: d["resources"][0].update(urn="urn:pulumi:other::r2-video::t::n"),
            "not of this stack",
        ),
    ],
)
def test_a_plan_without_the_plans_shape_fails(artifact, tmp_path, capsys, edit, problem):
    _edit_plan(artifact, "dev", edit)
    status, verdict, comment = _review(artifact, tmp_path, capsys)
    assert status == 2, verdict
    assert "`dev`: the plan does not have the plan's shape" in verdict["reasons"]
    assert problem in comment


def test_a_failed_plan_fails(artifact, tmp_path, capsys):
    (artifact / "head" / "dev.exit").write_text("2\n")
    status, verdict, _ = _review(artifact, tmp_path, capsys)
    assert status == 2 and "`dev`: the offline plan failed (exit 2)" in verdict["reasons"]


def test_a_stack_the_base_does_not_have_needs_approval(artifact, tmp_path, capsys):
    shutil.copy(artifact / "head" / "dev.json", artifact / "head" / "staging.json")
    (artifact / "head" / "staging.exit").write_text("0\n")
    status, verdict, _ = _review(artifact, tmp_path, capsys)
    assert status == 1
    assert verdict["reasons"] == ["`staging`: a new stack (no stack file on the default branch)"]


def test_a_stale_snapshot_fails(artifact, tmp_path, capsys):
    committed = tmp_path / "committed"
    committed.mkdir()
    (committed / "dev.json").write_text("{}\n")
    status, verdict, _ = _review(artifact, tmp_path, capsys, "--head-committed", str(committed))
    assert status == 2 and "`dev`: plans/dev.json is stale" in verdict["reasons"]


def test_changing_a_protected_path_needs_approval(artifact, tmp_path, capsys):
    changed = tmp_path / "changed.txt"
    changed.write_text("infra/components/edge.py\ninfra/review/risk.py\n")
    status, verdict, _ = _review(artifact, tmp_path, capsys, "--changed-files", str(changed))
    assert status == 1
    assert verdict["reasons"] == [
        "the PR changes what the review relies on: `infra/review/risk.py`"
    ]


@pytest.mark.parametrize(
    ("path", "covered"),
    [
        (".github/workflows/infra-review.yml", True),
        (".github/CODEOWNERS", True),
        ("infra/review/policy/rules.py", True),
        ("requirements-dev.txt", True),
        ("Pulumi.new-stack.yaml", True),
        ("Pulumi.yaml", True),
        ("plans/dev.json", True),
        (".ci/review-plan", True),
        ("run", True),
        ("infra/settings.py", False),
        ("docs/Pulumi.eu.yaml", False),
        ("runbook.md", False),
    ],
)
def test_codeowners_covers_the_review_and_its_inputs(path, covered):
    # The list: .github/, the review tools, requirements*.txt, plans/, Pulumi.*.yaml;
    # the brief adds .ci/ and run. GitHub CODEOWNERS syntax: docs.github.com "About code owners".
    assert bool(protected([path], codeowners_patterns(ROOT))) is covered


def _restack(document: dict, stack: str) -> dict:
    """A plan of another stack with the same program and config (URNs name their stack)."""
    old = f"urn:pulumi:{document['stack']}::"
    moved = json.loads(json.dumps(document).replace(old, f"urn:pulumi:{stack}::"))
    moved["stack"] = stack
    return moved


def test_an_honest_jurisdiction_move_is_judged_in_its_new_context_and_needs_approval(
    artifact, tmp_path, capsys
):
    # us-prod's stack file made an eu stack (eu-prod's settings): a real move across a border.
    eu_plan = json.loads((ROOT / "plans" / "eu-prod.json").read_text())
    (artifact / "head" / "us-prod.json").write_text(json.dumps(_restack(eu_plan, "us-prod")))
    status, verdict, comment = _review(artifact, tmp_path, capsys)
    assert status == 1, verdict  # approval, not a failure of the residency rules
    assert "`us-prod`: the stack's jurisdiction changes from `us` to `eu`" in verdict["reasons"]
    assert "a mandatory policy rule fails" not in comment
    assert any("BORDER" in reason and "us-prod" in reason for reason in verdict["reasons"])


def test_a_plan_that_declares_a_context_its_resources_break_still_fails_policy(
    artifact, tmp_path, capsys
):
    # A plan that only relabels itself (outputs say eu, resources stay in us) chooses nothing:
    # the new context needs an approval, and the rules judge the resources in it.
    def relabel(document: dict) -> None:
        document["outputs"]["jurisdiction"] = "eu"

    _edit_plan(artifact, "us-prod", relabel)
    status, verdict, _ = _review(artifact, tmp_path, capsys)
    assert status == 2, verdict
    assert "`us-prod`: a mandatory policy rule fails" in verdict["reasons"]
    assert "`us-prod`: the stack's jurisdiction changes from `us` to `eu`" in verdict["reasons"]


@pytest.mark.parametrize("value", ["mars", "", None, 3])
def test_an_invalid_declared_context_is_ignored_for_the_base_one(artifact, tmp_path, capsys, value):
    _edit_plan(artifact, "eu-prod", lambda d: d["outputs"].update(jurisdiction=value))
    _, verdict, _ = _review(artifact, tmp_path, capsys)
    assert not any("jurisdiction changes" in reason for reason in verdict["reasons"]), verdict


def test_a_prod_stack_that_declares_itself_dev_needs_approval(artifact, tmp_path, capsys):
    _edit_plan(artifact, "eu-prod", lambda d: d["outputs"].update(environment="dev"))
    status, verdict, _ = _review(artifact, tmp_path, capsys)
    assert status >= 1
    assert "`eu-prod`: the stack's environment changes from `prod` to `dev`" in verdict["reasons"]


def test_the_comment_shows_the_fleet_rows_the_change_touches_before_and_after(
    artifact, tmp_path, capsys
):
    eu_plan = json.loads((ROOT / "plans" / "eu-prod.json").read_text())
    (artifact / "head" / "us-prod.json").write_text(json.dumps(_restack(eu_plan, "us-prod")))
    _, _, comment = _review(artifact, tmp_path, capsys)
    fleet = comment.split("### Fleet rows this change touches", 1)[1].split("### Stack", 1)[0]
    rows = [line for line in fleet.splitlines() if line.startswith("| `")]
    assert len(rows) == 2, fleet  # us-prod before and after; the untouched stacks are not shown
    before, after = rows
    assert before.startswith("| `us-prod` (before) | prod | us |") and "aws us-east-2" in before
    assert after.startswith("| `us-prod` (after) | prod | eu |") and "aws eu-central-1" in after


def test_an_unchanged_head_shows_no_fleet_rows(artifact, tmp_path, capsys):
    _, _, comment = _review(artifact, tmp_path, capsys)
    assert "Fleet rows" not in comment


def test_a_plan_whose_values_the_row_cannot_read_gets_a_row_saying_so(artifact, tmp_path, capsys):
    def break_sippy(document: dict) -> None:
        # Schema-valid, but the Sippy source is a string where the statement reads a mapping.
        document["resources"].append(
            {
                **document["resources"][0],
                "urn": document["resources"][0]["urn"] + "x",
                "type": "cloudflare:index/r2BucketSippy:R2BucketSippy",
                "inputs": {"source": "not-a-mapping"},
            }
        )

    _edit_plan(artifact, "eu-prod", break_sippy)
    _, _, comment = _review(artifact, tmp_path, capsys)  # the judge itself does not crash
    assert "| `eu-prod` (after) |" in comment
    assert "the plan's values cannot be shown (AttributeError)" in comment


def test_the_comment_draws_where_a_touched_stacks_data_lives_flags_in_orange(
    artifact, tmp_path, capsys
):
    from tests.mermaid.check import mermaid_blocks, parse

    eu_plan = json.loads((ROOT / "plans" / "eu-prod.json").read_text())
    (artifact / "head" / "us-prod.json").write_text(json.dumps(_restack(eu_plan, "us-prod")))
    _, _, comment = _review(artifact, tmp_path, capsys)
    (picture,) = mermaid_blocks(comment)  # only the touched stack is drawn
    assert "R2 jurisdiction eu" in picture
    assert " flagged" in picture.split("classDef flagged", 1)[1]  # the BORDER flags, coloured
    assert parse([picture])[0]["ok"]
