"""`fleet`: a row a stack from its plan and config; docs/fleet.md is it over the example stacks."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from infra.cli import main
from infra.cost import model as cost
from infra.review.fleet_view import render_markdown, row_from_plan
from infra.stack_config import load_stack_config

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))


def _plan(stack: str) -> dict[str, Any]:
    return json.loads((ROOT / "plans" / f"{stack}.json").read_text(encoding="utf-8"))


def _config(stack: str) -> dict[str, str]:
    return load_stack_config(stack).values


def test_docs_fleet_md_is_the_fleet_of_the_example_stacks(capsys):
    # The committed plans are what the program plans now (tests/review/test_snapshots.py).
    assert main(["fleet", "--plans", str(ROOT / "plans")]) == 0
    fix = "regenerate it: python -m infra.cli fleet > docs/fleet.md"
    assert capsys.readouterr().out == (ROOT / "docs" / "fleet.md").read_text(), fix


def test_one_row_a_stack_with_every_column(capsys):
    assert main(["fleet", "--plans", str(ROOT / "plans"), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["stack"] for r in rows] == STACKS
    by_stack = {r["stack"]: r for r in rows}
    eu = by_stack["eu-prod"]
    assert (eu["jurisdiction"], eu["location_hint"]) == ("eu", "weur")
    assert (eu["aws_partition"], eu["aws_region"]) == ("aws", "eu-central-1")
    assert {h["name"]: (h["regional"], h["region_key"]) for h in eu["hostnames"]} == {
        "media.example.eu": (True, "eu"),
        "live.example.eu": (True, "eu"),
    }
    assert eu["residency"] == "inside eu" and eu["policy"].startswith("pass")
    fedramp = by_stack["fedramp"]
    assert (fedramp["aws_partition"], fedramp["aws_region"]) == ("aws-us-gov", "us-gov-west-1")
    for stack in STACKS:
        committed = (ROOT / "plans" / f"{stack}.json").read_bytes()
        assert by_stack[stack]["plan_digest"] == hashlib.sha256(committed).hexdigest(), stack


def test_cost_is_the_cost_commands_where_priced_and_says_why_not_elsewhere(capsys):
    assert cost.main(["--stack", "dev", "--format", "json"]) == 0
    totals = json.loads(capsys.readouterr().out)["columns"]
    dev = row_from_plan(_plan("dev"), _config("dev"))
    assert dev.r2_cloudflare_usd == totals["r2_cloudflare"]["total_usd"]
    assert dev.s3_cloudfront_usd == totals["s3_cloudfront"]["total_usd"]
    eu = row_from_plan(_plan("eu-prod"), _config("eu-prod"))
    assert eu.r2_cloudflare_usd is None and "no sourced S3 prices for eu-central-1" in eu.cost_note
    fedramp = row_from_plan(_plan("fedramp"), _config("fedramp"))
    assert fedramp.r2_cloudflare_usd is None and "no CloudFront in aws-us-gov" in fedramp.cost_note
    sovereign = row_from_plan(_plan("eu-sovereign"), _config("eu-sovereign"))
    assert "no CloudFront in aws-eusc" in sovereign.cost_note


def _without(plan: dict[str, Any], type_token: str) -> dict[str, Any]:
    edited = copy.deepcopy(plan)
    edited["resources"] = [r for r in edited["resources"] if r["type"] != type_token]
    return edited


def test_a_hostname_without_its_regional_hostname_shows_as_not_regional():
    plan = _without(_plan("eu-prod"), "cloudflare:index/regionalHostname:RegionalHostname")
    row = row_from_plan(plan, _config("eu-prod"))
    assert {h.regional for h in row.hostnames} == {False}
    assert "**not regional**" in render_markdown([row])


def test_an_aws_region_outside_the_jurisdiction_fails_residency_and_policy():
    plan = copy.deepcopy(_plan("eu-prod"))
    for resource in plan["resources"]:
        if resource["type"] == "pulumi:providers:aws":
            resource["inputs"]["region"] = "us-east-1"
    row = row_from_plan(plan, _config("eu-prod"))
    assert row.residency.startswith("OUTSIDE: ") and "mezzanine" in row.residency
    assert row.policy.startswith("FAIL: ") and "residency-aws" in row.policy
    assert row.aws_region == "us-east-1"
    shown = render_markdown([row])
    assert "**OUTSIDE" in shown and "**FAIL" in shown


def test_untrusted_values_cannot_break_out_of_their_cell():
    plan = copy.deepcopy(_plan("eu-prod"))
    for resource in plan["resources"]:
        if resource["type"] == "cloudflare:index/r2CustomDomain:R2CustomDomain":
            resource["inputs"]["domain"] = "x|<img src=1>@team\n[link](http://e)`"
    text = render_markdown([row_from_plan(plan, _config("eu-prod"))], title=None)
    row = text.splitlines()[2]
    assert row.count("|") == 11  # ten cells, none added
    for bad in ("<img", "@team", "\n", "[link]"):
        assert bad not in row


def test_a_stack_that_cannot_be_planned_gets_a_row_saying_why(tmp_path, capsys):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    broken = (
        (ROOT / "Pulumi.eu-prod.yaml").read_text().replace("jurisdiction: eu", "jurisdiction: x")
    )
    (tmp_path / "Pulumi.eu-prod.yaml").write_text(broken)
    assert main(["fleet", "--project-dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert "| `dev` | dev |" in out
    assert "**not planned**: 1 problem in the configuration of stack 'eu-prod'" in out
    assert "Traceback" not in err
