"""`python -m infra.cli diff`: what a reviewer sees, and the exit status CI gates on."""

from __future__ import annotations

import copy
import json

import pytest

from infra.cli import main
from infra.review.diff import BORDER, DATA_LOSS, REPLACE, compare, load_plan


def _find(plan, type_suffix, name=None):
    (found,) = [
        r
        for r in plan["resources"]
        if r["type"].endswith(type_suffix) and (name is None or r["name"] == name)
    ]
    return found


def _diff(write_plan, base, head):
    return compare(load_plan(write_plan("base", base)), load_plan(write_plan("head", head)))


def _kinds(diff):
    return {(f.kind, f.label.split("`")[1]) for f in diff.flags}


def test_moving_eu_prod_to_the_default_jurisdiction_is_a_border_and_data_loss_change(
    project_copy, tmp_path, capsys
):
    """The issue's acceptance test: both plans are built from config, then diffed."""
    moved = project_copy(
        "eu-prod", lambda text: text.replace("jurisdiction: eu\n", "jurisdiction: default\n")
    )
    base, head = tmp_path / "base.json", tmp_path / "head.json"
    for folder, out in ((None, base), (moved, head)):
        args = ["plan", "--stack", "eu-prod", "--format", "json", "--output", str(out)]
        assert main(args + (["--project-dir", str(folder)] if folder else [])) == 0
    capsys.readouterr()

    assert main(["diff", str(base), str(head)]) == 1
    out = capsys.readouterr().out
    assert "**BORDER** | `delivery-bucket` (R2Bucket) | R2 jurisdiction" in out
    assert "`eu` → `default`" in out
    assert "**DATA LOSS** | `delivery-bucket` (R2Bucket) | re-created" in out
    assert "**REPLACE** | `delivery-bucket` (R2Bucket) | replaced: `jurisdiction`" in out
    assert "> [!CAUTION]" in out
    # Every R2 child moves too, and each says so.
    for child in ("delivery-cors", "delivery-lifecycle", "delivery-r2dev"):
        assert f"**BORDER** | `{child}`" in out


def test_the_same_plan_twice_is_clean(eu_prod_plan, write_plan, capsys):
    path = write_plan("plan", eu_prod_plan)
    assert main(["diff", path, path]) == 0
    assert "no flags" in capsys.readouterr().out


def test_a_replace_without_data_at_stake_is_flagged_but_exits_0(eu_prod_plan, write_plan, capsys):
    head = copy.deepcopy(eu_prod_plan)
    _find(head, "R2CustomDomain", "delivery-domain-media.example.eu")["inputs"]["zoneId"] = "f" * 32
    base_path, head_path = write_plan("base", eu_prod_plan), write_plan("head", head)
    assert main(["diff", base_path, head_path]) == 0
    out = capsys.readouterr().out
    assert "**REPLACE** | `delivery-domain-media.example.eu` (R2CustomDomain)" in out
    assert "DATA LOSS" not in out and "[!CAUTION]" not in out


def test_a_property_change_shows_before_and_after(eu_prod_plan, write_plan):
    head = copy.deepcopy(eu_prod_plan)
    cors = _find(head, "R2BucketCors")
    cors["inputs"]["rules"][0]["maxAgeSeconds"] = 600
    diff = _diff(write_plan, eu_prod_plan, head)
    ((_old, _new, changes),) = diff.changed
    assert [(c.path, c.before, c.after) for c in changes] == [("rules[0].maxAgeSeconds", 7200, 600)]
    assert diff.flags == [] and diff.exit_status == 0


def test_policy_documents_are_diffed_statement_by_statement(eu_prod_plan, write_plan):
    head = copy.deepcopy(eu_prod_plan)
    policy = _find(head, "BucketPolicy")
    document = json.loads(policy["inputs"]["policy"])
    document["Statement"][0]["Effect"] = "Allow"
    policy["inputs"]["policy"] = json.dumps(document)
    ((_old, _new, changes),) = _diff(write_plan, eu_prod_plan, head).changed
    # Statements are named by Sid (the program gives each one), not by position.
    assert [(c.path, c.before, c.after) for c in changes] == [
        ("policy.Statement[Sid=DenyInsecureTransport].Effect", "Deny", "Allow")
    ]


def test_reordering_policy_statements_is_no_change(eu_prod_plan, write_plan):
    # IAM evaluates every statement whatever its place (AWS IAM User Guide, "Policy evaluation
    # logic"): a reorder changes nothing, so it must not show as edits of each position.
    head = copy.deepcopy(eu_prod_plan)
    policy = _find(head, "RolePolicy")
    document = json.loads(policy["inputs"]["policy"])
    assert len(document["Statement"]) > 1
    document["Statement"].reverse()
    policy["inputs"]["policy"] = json.dumps(document)
    assert _diff(write_plan, eu_prod_plan, head).changed == []


def test_a_statement_without_sid_is_matched_by_content(eu_prod_plan, write_plan):
    head = copy.deepcopy(eu_prod_plan)
    policy = _find(head, "RolePolicy")
    document = json.loads(policy["inputs"]["policy"])
    added = {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}
    document["Statement"].insert(0, added)
    policy["inputs"]["policy"] = json.dumps(document)
    ((_old, _new, changes),) = _diff(write_plan, eu_prod_plan, head).changed
    # Only the new statement shows: the others keep their Sid and are unchanged.
    prefixes = {c.path.split("]")[0] for c in changes}
    assert len(prefixes) == 1 and prefixes.pop().startswith("policy.Statement[#")
    assert {c.after for c in changes} == {"Allow", "s3:ListBucket", "*"}


def test_replacing_a_protected_resource_says_pulumi_up_stops(eu_prod_plan, write_plan):
    head = copy.deepcopy(eu_prod_plan)
    bucket = _find(head, "R2Bucket")
    assert bucket["protect"] is True  # eu-prod protects its data (environment prod)
    bucket["inputs"]["name"] = "video-eu-prod-delivery-2"
    (flag,) = [f for f in _diff(write_plan, eu_prod_plan, head).flags if f.kind == DATA_LOSS]
    assert "it is protected, so `pulumi up` stops until it is unprotected" in flag.message


PROTECT_REMOVED = "`protect` removed: a later change can delete it"
RETAIN_REMOVED = "`retainOnDelete` removed: removing it from the program will delete it"


@pytest.mark.parametrize(
    ("type_suffix", "option", "expected"),
    [
        ("R2Bucket", "protect", PROTECT_REMOVED),
        ("kms/key:Key", "protect", PROTECT_REMOVED),
        ("s3/bucket:Bucket", "retain_on_delete", RETAIN_REMOVED),
    ],
)
def test_dropping_protection_is_data_loss(eu_prod_plan, write_plan, type_suffix, option, expected):
    head = copy.deepcopy(eu_prod_plan)
    _find(head, type_suffix)[option] = False
    diff = _diff(write_plan, eu_prod_plan, head)
    assert diff.exit_status == 1
    assert [f.message for f in diff.flags if f.kind == DATA_LOSS] == [expected]


def test_force_destroy_on_a_bucket_is_data_loss(eu_prod_plan, write_plan):
    head = copy.deepcopy(eu_prod_plan)
    _find(head, "s3/bucket:Bucket")["inputs"]["forceDestroy"] = True
    diff = _diff(write_plan, eu_prod_plan, head)
    assert (DATA_LOSS, "mezzanine-bucket") in _kinds(diff)
    assert diff.exit_status == 1


def test_removing_a_data_bucket_is_data_loss(eu_prod_plan, write_plan):
    head = copy.deepcopy(eu_prod_plan)
    head["resources"].remove(_find(head, "s3/bucket:Bucket"))
    diff = _diff(write_plan, eu_prod_plan, head)
    (flag,) = [f for f in diff.flags if f.kind == DATA_LOSS]
    assert "mezzanine-bucket" in flag.label and flag.message.startswith("removed: ")
    assert "protected, so `pulumi up` stops" in flag.message
    assert diff.exit_status == 1


def test_removing_a_custom_domain_is_not_data_loss(eu_prod_plan, write_plan):
    head = copy.deepcopy(eu_prod_plan)
    head["resources"].remove(_find(head, "R2CustomDomain", "delivery-domain-live.example.eu"))
    diff = _diff(write_plan, eu_prod_plan, head)
    assert len(diff.removed) == 1 and diff.flags == [] and diff.exit_status == 0


def test_a_renamed_bucket_is_a_remove_plus_add_and_the_comment_says_aliases(
    eu_prod_plan, write_plan, capsys
):
    head = copy.deepcopy(eu_prod_plan)
    bucket = _find(head, "R2Bucket")
    bucket["name"] = "delivery-renditions"
    bucket["urn"] = bucket["urn"].replace("::delivery-bucket", "::delivery-renditions")
    base_path, head_path = write_plan("base", eu_prod_plan), write_plan("head", head)
    assert main(["diff", base_path, head_path]) == 1
    out = capsys.readouterr().out
    assert "1 added · 1 removed" in out
    assert "**Renames**" in out and "aliases" in out
    assert "`delivery-bucket` (R2Bucket) → `delivery-renditions`" in out
    assert "removed (renamed to `delivery-renditions`?" in out


def test_moving_the_aws_provider_region_is_one_border_row_naming_every_regional_resource(
    eu_prod_plan, write_plan
):
    head = copy.deepcopy(eu_prod_plan)
    _find(head, "providers:aws")["inputs"]["region"] = "us-gov-west-1"
    diff = _diff(write_plan, eu_prod_plan, head)
    kinds = _kinds(diff)
    # One BORDER row for the one cause (the provider), naming what moves with it.
    assert [f.label for f in diff.flags if f.kind == BORDER] == ["`aws` (aws)"]
    (provider_flag,) = [f for f in diff.flags if f.kind == BORDER]
    assert "partition aws → aws-us-gov" in provider_flag.message
    for data in ("mezzanine-bucket", "mezzanine-key"):
        assert f"`{data}`" in provider_flag.message
        assert (DATA_LOSS, data) in kinds
    # IAM is global: the role is neither moved nor replaced by a region change.
    assert "`coordinator-role`" not in provider_flag.message
    assert not {name for kind, name in kinds if name.startswith("coordinator-role")}
    assert diff.exit_status == 1


def test_a_regional_hostname_moving_region_is_a_border_change(eu_prod_plan, write_plan):
    token = "cloudflare:index/regionalHostname:RegionalHostname"
    hostname = {
        "urn": f"urn:pulumi:eu-prod::r2-video::{token}::media",
        "type": token,
        "name": "media",
        "inputs": {"hostname": "media.example.eu", "regionKey": "eu", "zoneId": "z"},
    }
    base = copy.deepcopy(eu_prod_plan)
    base["resources"].append(hostname)
    head = copy.deepcopy(base)
    _find(head, "RegionalHostname", "media")["inputs"]["regionKey"] = "us"
    diff = _diff(write_plan, base, head)
    assert _kinds(diff) == {(BORDER, "media")}  # region key updates in place: no replace


def test_secret_looking_values_are_masked_in_the_comment(eu_prod_plan, write_plan, capsys):
    head = copy.deepcopy(eu_prod_plan)
    _find(head, "R2Bucket")["inputs"]["apiToken"] = "plaintext-token-value"
    _find(head, "R2BucketCors")["inputs"]["note"] = "-----BEGIN PRIVATE KEY----- abc"
    assert main(["diff", write_plan("base", eu_prod_plan), write_plan("head", head)]) == 0
    out = capsys.readouterr().out
    assert "plaintext-token-value" not in out and "BEGIN PRIVATE KEY" not in out
    assert "| `apiToken` | — | `[secret]` |" in out


def test_pipes_and_backticks_in_values_cannot_break_the_table(eu_prod_plan, write_plan, capsys):
    head = copy.deepcopy(eu_prod_plan)
    _find(head, "kms/key:Key")["inputs"]["description"] = "a | b `c`"
    assert main(["diff", write_plan("base", eu_prod_plan), write_plan("head", head)]) == 0
    assert "`a \\| b 'c'`" in capsys.readouterr().out


# --- bad input: exit 2 with a clear message -----------------------------------------------------


def test_plans_of_different_stacks_are_refused(eu_prod_plan, write_plan, capsys):
    other = copy.deepcopy(eu_prod_plan)
    other["stack"] = "fedramp"
    assert main(["diff", write_plan("base", eu_prod_plan), write_plan("head", other)]) == 2
    err = capsys.readouterr().err
    assert "different stacks" in err and "'eu-prod'" in err and "'fedramp'" in err


def test_plans_of_different_projects_are_refused(eu_prod_plan, write_plan, capsys):
    other = copy.deepcopy(eu_prod_plan)
    other["project"] = "another"
    assert main(["diff", write_plan("base", eu_prod_plan), write_plan("head", other)]) == 2
    assert "different projects" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read it"),
        ("{not json", "not JSON"),
        ("[]", "expected a JSON object"),
        ('{"stack": "eu-prod"}', "missing project, resources"),
        ('{"project": "p", "stack": "s", "resources": [{"urn": "u"}]}', "no urn, type and name"),
    ],
)
def test_unreadable_or_malformed_plans_exit_2(
    eu_prod_plan, write_plan, tmp_path, capsys, content, expected
):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content, encoding="utf-8")
    assert main(["diff", write_plan("good", eu_prod_plan), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and "Traceback" not in err


def test_flags_sort_data_loss_first(eu_prod_plan, write_plan):
    head = copy.deepcopy(eu_prod_plan)
    _find(head, "R2Bucket")["inputs"]["name"] = "renamed-bucket"
    diff = _diff(write_plan, eu_prod_plan, head)
    assert [f.kind for f in diff.flags] == [DATA_LOSS, REPLACE]
