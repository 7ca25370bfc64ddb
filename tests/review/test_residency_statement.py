"""`python -m infra.cli residency`: every pin and guarantee is there, and dropping one shows."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from infra.cli import main
from infra.review.plan import load_stack_config
from infra.review.residency_statement import (
    GUARANTEES,
    markdown_change,
    render_markdown,
    statement_from_plan,
)
from infra.review.risk import DATA_BEARING

ROOT = Path(__file__).resolve().parents[2]
EU_PROD = load_stack_config("eu-prod").values
# What eu-prod stores, and where each is pinned (its stack file: jurisdiction eu, eu-central-1).
EU_PROD_STORES = {
    "delivery-bucket": "R2 jurisdiction 'eu'",
    "mezzanine-bucket": "AWS region eu-central-1 (partition aws)",
    "mezzanine-key": "AWS region eu-central-1 (partition aws)",
    "coordinator-secret": "AWS region eu-central-1 (partition aws)",
    "coordinator-logs": "AWS region eu-central-1 (partition aws)",
}


def _find(plan, name):
    (found,) = [r for r in plan["resources"] if r["name"] == name]
    return found


def test_every_store_of_eu_prod_is_pinned_with_a_sourced_guarantee(eu_prod_plan):
    statement = statement_from_plan(eu_prod_plan, EU_PROD)
    stores = {e.resource: e for e in statement.entries if e.role == "stores"}
    assert set(stores) == set(EU_PROD_STORES)
    for name, pinned in EU_PROD_STORES.items():
        entry = stores[name]
        assert entry.pinned_to.startswith(pinned), entry
        assert entry.inside and entry.data_bearing, entry
        assert entry.guarantee and entry.source.startswith("https://"), entry
    assert statement.outside == []


def test_every_data_bearing_type_has_a_guarantee():
    # The risk table's data-bearing types are what the statement must vouch for.
    for type_token in DATA_BEARING:
        guarantee = GUARANTEES[type_token]
        assert guarantee.data_bearing and guarantee.source.startswith("https://"), type_token


def test_regional_hostnames_pin_delivery_processing(eu_prod_plan):
    statement = statement_from_plan(eu_prod_plan, EU_PROD)
    regional = [e for e in statement.entries if e.type == "RegionalHostname"]
    assert {e.resource for e in regional} == {
        "edge-regional-media.example.eu",
        "edge-regional-live.example.eu",
    }
    assert all(e.pinned_to == "Regional Services region 'eu'" for e in regional)


def test_dropping_the_bucket_jurisdiction_shows_and_fails(eu_prod_plan):
    plan = copy.deepcopy(eu_prod_plan)
    del _find(plan, "delivery-bucket")["inputs"]["jurisdiction"]
    statement = statement_from_plan(plan, EU_PROD)
    (bucket,) = [e for e in statement.entries if e.resource == "delivery-bucket"]
    assert bucket.pinned_to.startswith("not pinned")
    assert [e.resource for e in statement.outside] == ["delivery-bucket"]
    assert "FAIL: data-bearing resources outside `eu`: `delivery-bucket`" in render_markdown(
        statement
    )


def test_a_mezzanine_moved_out_of_the_eu_fails(eu_prod_plan):
    plan = copy.deepcopy(eu_prod_plan)
    _find(plan, "aws")["inputs"]["region"] = "us-east-1"
    outside = {e.resource for e in statement_from_plan(plan, EU_PROD).outside}
    assert {"mezzanine-bucket", "mezzanine-key", "coordinator-secret"} <= outside


def test_dropping_a_guarantee_shows_in_the_markdown(eu_prod_plan, monkeypatch):
    before = render_markdown(statement_from_plan(eu_prod_plan, EU_PROD))
    assert "https://developers.cloudflare.com/r2/reference/data-location/" in before
    monkeypatch.delitem(GUARANTEES, "cloudflare:index/r2Bucket:R2Bucket")
    after = render_markdown(statement_from_plan(eu_prod_plan, EU_PROD))
    assert "`delivery-bucket`" not in after
    assert "https://developers.cloudflare.com/r2/reference/data-location/" not in after


def test_the_limits_are_stated(eu_prod_plan):
    text = render_markdown(statement_from_plan(eu_prod_plan, EU_PROD))
    limits = text.split("## What is NOT pinned", 1)[1]
    for words in ("account metadata", "IAM", "worldwide", "Encoding workers", "Pulumi state"):
        assert words in limits, words


def test_the_review_hook_shows_how_the_statement_changes(eu_prod_plan):
    head = copy.deepcopy(eu_prod_plan)
    _find(head, "delivery-bucket")["inputs"]["jurisdiction"] = "default"
    change = markdown_change(eu_prod_plan, head, EU_PROD, EU_PROD)
    assert "-| `delivery-bucket` (R2Bucket) | stores" in change
    assert "+| `delivery-bucket` (R2Bucket) | stores" in change
    assert "OUTSIDE the jurisdiction" in change
    assert markdown_change(eu_prod_plan, eu_prod_plan, EU_PROD, EU_PROD) == ""


def test_the_committed_eu_prod_statement_is_current(capsys):
    assert main(["residency", "--stack", "eu-prod"]) == 0
    committed = (ROOT / "docs" / "residency-eu-prod.md").read_text(encoding="utf-8")
    assert capsys.readouterr().out == committed, (
        "docs/residency-eu-prod.md is stale: python -m infra.cli residency --stack eu-prod"
        " --output docs/residency-eu-prod.md"
    )


@pytest.mark.parametrize("stack", ["eu-sovereign", "us-prod", "fedramp"])
def test_sovereign_stacks_are_inside_their_jurisdiction(stack, capsys):
    assert main(["residency", "--stack", stack, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["outside"] == []
    assert document["entries"]


def test_the_command_exits_1_when_data_leaves_the_jurisdiction(eu_prod_plan, write_plan, capsys):
    plan = copy.deepcopy(eu_prod_plan)
    _find(plan, "delivery-bucket")["inputs"]["jurisdiction"] = "default"
    assert main(["residency", "--stack", "eu-prod", "--plan", write_plan("moved", plan)]) == 1
    assert "FAIL: data-bearing resources outside `eu`" in capsys.readouterr().out


@pytest.mark.parametrize("content", ["not json", "[]", '{"stack": "dev", "resources": []}'])
def test_a_bad_plan_file_is_exit_2(content, tmp_path, capsys):
    path = tmp_path / "plan.json"
    path.write_text(content, encoding="utf-8")
    assert main(["residency", "--stack", "eu-prod", "--plan", str(path)]) == 2
    assert capsys.readouterr().err.startswith("error:")


def test_an_unknown_stack_is_exit_2(capsys):
    assert main(["residency", "--stack", "no-such-stack"]) == 2
    assert "error:" in capsys.readouterr().err


def test_alarm_notifications_are_listed_as_transport(eu_prod_plan):
    entries = statement_from_plan(eu_prod_plan, EU_PROD).entries
    (topic,) = [e for e in entries if e.type == "Topic"]
    assert topic.role == "transports" and "wherever they are" in topic.guarantee
