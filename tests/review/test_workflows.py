"""The workflows keep the PR's code away from the judgement and from secrets (issue 12, item 1),
and derive their stacks from the Pulumi.*.yaml files (item 7). Read as YAML, so a later edit
that checks out the PR in the judge, or hands the plan job a secret, fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from infra.cli import main

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
# The commit status branch protection requires, exactly as the README's setup names it.
STATUS = "Infra review verdict"


def _load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def _on(workflow: dict) -> dict:
    return workflow.get("on") or workflow.get(True)  # YAML 1.1 reads `on` as True


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def test_the_judge_runs_on_workflow_run_and_checks_out_only_the_default_branch():
    judge = _load("infra-review-judge.yml")
    assert set(_on(judge)) == {"workflow_run"}
    assert _on(judge)["workflow_run"]["workflows"] == [_load("infra-review.yml")["name"]]
    for job in judge["jobs"].values():
        for step in _steps(job):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert set(step.get("with", {})) == {"persist-credentials"}, step
                assert step["with"]["persist-credentials"] is False
            # The artifact is only read: by `head -c` (its PR number) and by the base's judge.
            for line in step.get("run", "").splitlines():
                if "RUNNER_TEMP/artifact" in line:
                    assert re.search(r"head -c 20 \"\$RUNNER_TEMP/artifact/pr-number\"", line) or (
                        "python -m infra.cli review" in line
                    ), line
    runs = "\n".join(s.get("run", "") for j in judge["jobs"].values() for s in _steps(j))
    assert "python -m infra.cli review" in runs
    assert judge["env"]["STATUS_CONTEXT"] == STATUS


def test_the_untrusted_plan_job_has_no_secret_and_no_write_permission():
    review = _load("infra-review.yml")
    assert set(_on(review)) == {"pull_request"}
    plan = review["jobs"]["plan"]
    assert plan["permissions"] == {"contents": "read"}
    assert "secrets." not in json.dumps(plan)
    assert "environment" not in plan
    assert ".ci/review-plan" in "\n".join(s.get("run", "") for s in _steps(plan))
    # No job of the PR's workflow judges or sets a status.
    assert "statuses" not in json.dumps(review)
    assert "infra.cli review" not in json.dumps(review)


def test_the_preview_that_decrypts_state_waits_for_an_environment_per_stack():
    preview = _load("infra-review.yml")["jobs"]["preview"]
    assert preview["environment"] == "preview-${{ matrix.stack }}"
    assert preview["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"


def test_the_deploy_judges_the_preview_before_pulumi_up():
    deploy = _load("infra-deploy.yml")
    up = deploy["jobs"]["up"]
    assert up["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    runs = [s.get("run", "") for s in _steps(up)]
    judged = next(i for i, r in enumerate(runs) if "infra.cli judge-preview" in r)
    applied = next(i for i, r in enumerate(runs) if re.search(r"^\s*pulumi up\b", r, re.MULTILINE))
    assert judged < applied
    assert "pulumi preview --stack" in runs[judged] and "--json" in runs[judged]
    assert "deploy-{0}-risk" in up["environment"]


def test_no_workflow_names_the_stacks_by_hand():
    for path in WORKFLOWS.glob("*.yml"):
        assert "[dev, eu-prod, fedramp]" not in path.read_text(encoding="utf-8"), path.name
    assert "for stack in dev eu-prod fedramp" not in (ROOT / "run").read_text(encoding="utf-8")


def test_the_readme_names_the_required_status_and_environments_exactly():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"`{STATUS}`" in readme
    for name in ("infra-risk-approval", "preview-<stack>", "deploy-<stack>", "deploy-<stack>-risk"):
        assert f"`{name}`" in readme, name
    assert "Require review from Code Owners" in readme


def test_stacks_are_listed_from_the_files(tmp_path, capsys):
    for name in ("Pulumi.yaml", "Pulumi.eu-prod.yaml", "Pulumi.new-region.yaml"):
        (tmp_path / name).write_text("config: {}\n", encoding="utf-8")
    assert main(["stacks", "--project-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == ["eu-prod", "new-region"]
    (tmp_path / "Pulumi.bad name.yaml").write_text("config: {}\n", encoding="utf-8")
    assert main(["stacks", "--project-dir", str(tmp_path)]) == 2
    assert "'bad name' is not a valid stack name" in capsys.readouterr().err


def test_pulumi_up_applies_only_the_update_plan_of_the_judged_preview():
    up = _load("infra-deploy.yml")["jobs"]["up"]
    steps = _steps(up)
    preview = next(s for s in steps if "infra.cli judge-preview" in s.get("run", ""))
    apply = next(s for s in steps if re.search(r"^\s*pulumi up\b", s.get("run", ""), re.M))
    saved = re.search(r"--save-plan \"([^\"]+)\"", preview["run"])
    assert saved, "the judged preview saves no update plan"
    plan = saved.group(1)
    assert f'--plan "{plan}"' in preview["run"]  # the judge checks the plan against the preview
    assert f'--plan "{plan}"' in apply["run"]  # and `up` applies only that plan
    for step in (preview, apply):
        assert step["env"]["PULUMI_EXPERIMENTAL"] == "true", step["name"]
    # The CLI is the pinned SDK's version, so the flags mean what was read for it.
    (install,) = [s for s in steps if str(s.get("uses", "")).startswith("pulumi/actions@")]
    sdk = re.search(r"^pulumi==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert sdk and install["with"]["pulumi-version"] == sdk.group(1)
