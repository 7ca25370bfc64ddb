"""The review end to end, with the commands the workflows run, in temporary checkouts
(issue 12, "Done when"). The heads are fixtures: tests/review/fixtures/hostile/README.md.

The untrusted half runs in the head copy exactly as infra-review.yml runs it
(`.ci/review-plan OUT`); the trusted half runs in a base copy made afterwards, as on the judge's
own runner, exactly as infra-review-judge.yml runs it (`python -m infra.cli review OUT
--base-dir . --changed-files CHANGED`). To keep the suite fast the copies hold one stack
(eu-prod). Exit status of the judge: 0 pass, 1 needs an approval, 2 fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADS = Path(__file__).parent / "fixtures" / "hostile"
STACK = "eu-prod"
PASS, APPROVAL = 0, 1


def _project_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    keep = []
    for path in listed:
        if path.startswith(("tests/", "bench/", "docs/")) or not (ROOT / path).is_file():
            continue
        if path.startswith("Pulumi.") and path not in ("Pulumi.yaml", f"Pulumi.{STACK}.yaml"):
            continue
        if path.startswith("plans/") and path != f"plans/{STACK}.json":
            continue
        keep.append(path)
    return keep


def _checkout(folder: Path) -> Path:
    for path in _project_files():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, target)
    return folder


def _apply(head: Path, name: str) -> None:
    edits = HEADS / name / "edits.json"
    for edit in json.loads(edits.read_text(encoding="utf-8")) if edits.exists() else []:
        path = head / edit["path"]
        text = path.read_text(encoding="utf-8")
        assert edit["old"] in text, f"{name}: {edit['path']} no longer has the text to edit"
        path.write_text(text.replace(edit["old"], edit["new"], 1), encoding="utf-8")
    overlay = HEADS / name / "overlay"
    if overlay.is_dir():
        shutil.copytree(overlay, head, dirs_exist_ok=True)


def _changed(base: Path, head: Path) -> list[str]:
    """What GitHub's pulls/{n}/files lists: every path added, removed or modified."""

    def files(root: Path) -> dict[str, bytes]:
        return {
            p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
        }

    old, new = files(base), files(head)
    return sorted(p for p in set(old) | set(new) if old.get(p) != new.get(p))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHON": sys.executable, "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.fixture(scope="module")
def reviews(tmp_path_factory) -> dict[str, tuple[int, str, dict, Path, Path]]:
    """Every head reviewed once: {name: (judge exit, comment, verdict, base, head)}."""
    names = sorted(p.name for p in HEADS.iterdir() if p.is_dir())
    pristine = _checkout(tmp_path_factory.mktemp("pristine"))
    runs = {}
    for name in names:
        head = tmp_path_factory.mktemp(f"head-{name}")
        shutil.copytree(pristine, head, dirs_exist_ok=True)
        _apply(head, name)
        out = tmp_path_factory.mktemp(f"artifact-{name}")
        (out / "pr-number").write_text("12\n", encoding="utf-8")
        (out / "head-sha").write_text("0123456789abcdef0123456789abcdef01234567\n", "utf-8")
        # The untrusted half, in the head checkout, as infra-review.yml runs it.
        process = subprocess.Popen(
            [str(head / ".ci" / "review-plan"), str(out)], cwd=head, env=_env()
        )
        runs[name] = (head, out, process)
    judges = {}
    for name, (head, out, process) in runs.items():
        assert process.wait(timeout=300) == 0, f"{name}: .ci/review-plan failed"
        # The trusted half, on a fresh copy of the base, as infra-review-judge.yml runs it.
        base = tmp_path_factory.mktemp(f"base-{name}")
        shutil.copytree(pristine, base, dirs_exist_ok=True)
        changed = base.parent / f"changed-{name}.txt"
        changed.write_text("\n".join(_changed(pristine, head)) + "\n", encoding="utf-8")
        comment, verdict = base.parent / f"comment-{name}.md", base.parent / f"verdict-{name}.json"
        judge = subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "review", str(out), "--base-dir", ".",
             "--changed-files", str(changed), "--output", str(comment), "--verdict", str(verdict)],
            cwd=base, env=_env(),
        )  # fmt: skip
        judges[name] = (judge, comment, verdict, base, head)
    results = {}
    for name, (judge, comment, verdict, base, head) in judges.items():
        status = judge.wait(timeout=300)
        assert status in (0, 1, 2), f"{name}: the judge crashed ({status})"
        results[name] = (
            status,
            comment.read_text(encoding="utf-8"),
            json.loads(verdict.read_text(encoding="utf-8")),
            base,
            head,
        )
    return results


def test_a_clean_change_passes(reviews):
    status, comment, verdict, _, _ = reviews["clean"]
    assert status == PASS, comment
    assert verdict == {"state": "pass", "reasons": []}
    assert "Policy rules for `eu-prod` (base branch rules)" in comment


def test_an_honest_risky_change_needs_approval(reviews):
    status, comment, verdict, _, _ = reviews["honest-risky"]
    assert status == APPROVAL, comment
    assert "| **BORDER** | `edge-regional-" in comment
    assert any("BORDER" in reason for reason in verdict["reasons"])


@pytest.mark.parametrize(
    ("name", "paths"),
    [
        (
            "hostile-tools",
            ["infra/review/diff.py", "infra/review/plan.py", "infra/review/policy/rules.py"],
        ),
        (
            "hostile-workflow",
            [".ci/review-plan", ".github/workflows/infra-review.yml", "requirements.txt"],
        ),
    ],
)
def test_a_head_that_rewrites_the_review_still_needs_approval(reviews, name, paths):
    status, comment, verdict, base, head = reviews[name]
    assert status == APPROVAL, comment
    (reason,) = [r for r in verdict["reasons"] if r.startswith("the PR changes what the review")]
    for path in paths:
        assert f"`{path}`" in reason
    # The judge ran the base's own tools: nothing of the head reached the base checkout.
    for path in paths:
        assert (base / path).read_bytes() != (head / path).read_bytes(), path


def test_a_lying_plan_shows_no_flag_but_cannot_pass(reviews):
    # hostile-tools' plan.py reports the committed snapshot: the diff has nothing to flag, so
    # the approval comes from the protected paths alone. The deploy's own preview judge
    # (judge-preview) is the last line: it reads the real state, not the PR's word.
    status, comment, _, _, _ = reviews["hostile-tools"]
    assert status == APPROVAL
    assert "| **BORDER**" not in comment
