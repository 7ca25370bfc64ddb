"""The deploy's own judge over `pulumi preview --json` (issue 12, item 3).

The fixtures under fixtures/preview/ follow the document the CLI prints: pulumi/pulumi
pkg/display/json.go (PreviewDigest: steps, diagnostics, changeSummary, config; PreviewStep: op,
urn, provider, oldState, newState, diffReasons, replaceReasons, detailedDiff), states as
sdk/go/common/apitype ResourceV3 (type, inputs, outputs, parent, protect, retainOnDelete,
provider), secrets as the string "[secret]" (pkg/backend/display/json.go, MassageSecrets),
ops from pkg/resource/deploy/step.go.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "preview"


def _judge(name: str, capsys, *extra: str) -> tuple[int, str, list[str]]:
    capsys.readouterr()
    status = main(["judge-preview", str(FIXTURES / f"{name}.json"), *extra])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| **")]
    return status, out, rows


def test_a_create_is_allowed(capsys):
    status, out, rows = _judge("create", capsys)
    assert status == 0, out
    assert rows == []
    assert "1 added" in out and "new.example.eu" in out


def test_a_plain_update_is_allowed_and_shown(capsys):
    status, out, rows = _judge("update", capsys)
    assert status == 0, out
    assert rows == []
    assert "| `retentionInDays` | `30` | `90` |" in out


def test_a_replace_of_a_data_bucket_is_refused(capsys):
    status, out, rows = _judge("replace", capsys)
    assert status == 1, out
    data_loss = "| **DATA LOSS** | `delivery-bucket` (R2Bucket) | re-created"
    assert any(r.startswith(data_loss) for r in rows)
    assert any(r.startswith("| **REPLACE** | `delivery-bucket` (R2Bucket)") for r in rows)
    assert "**Refused**" in out


def test_a_delete_of_a_protected_bucket_says_pulumi_up_stops(capsys):
    status, out, rows = _judge("delete", capsys)
    assert status == 1, out
    (row,) = [r for r in rows if "DATA LOSS" in r]
    assert "`mezzanine-bucket` (Bucket) | removed" in row
    assert "`pulumi up` stops until it is unprotected" in row


def test_dropping_protect_is_refused(capsys):
    status, out, rows = _judge("unprotect", capsys)
    assert status == 1, out
    assert any("DATA LOSS" in r and "`protect` removed" in r for r in rows)


def test_a_jurisdiction_update_is_a_border_crossing(capsys):
    # R2Bucket.jurisdiction is not RequiresReplace in the provider: the engine shows an update
    # (R2-FACTS.md, terraform-provider-cloudflare r2_bucket/schema.go); the risk table still
    # calls it a border and a new, empty bucket.
    status, out, rows = _judge("jurisdiction", capsys)
    assert status == 1, out
    assert any("**BORDER** | `delivery-bucket`" in r and "`eu` → `default`" in r for r in rows)


def test_a_removed_regional_hostname_and_its_warning_are_border_crossings(capsys):
    status, out, rows = _judge("regional-hostname-delete", capsys)
    assert status == 1, out
    assert any("(RegionalHostname) | regional hostname removed" in r for r in rows)
    assert any("(program warning)" in r and "not pinned" in r for r in rows)


def test_a_sippy_warning_is_a_border_crossing(capsys):
    status, out, rows = _judge("sippy-warning", capsys)
    assert status == 1, out
    assert any("(program warning)" in r and "crosses a border" in r for r in rows)
    assert "info line" not in out  # only warnings


def test_a_change_to_a_secret_value_is_shown_as_changed(capsys):
    status, out, _rows = _judge("secret-rule", capsys)
    assert status == 0, out
    assert "| `rules[0].expression` | `[secret]` | `[secret] (changed)` |" in out


def test_an_approved_run_reports_but_does_not_refuse(capsys):
    status, out, rows = _judge("replace", capsys, "--approved")
    assert status == 0
    assert rows and "**Approved run**" in out


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[]", "expected an object"),
        ('{"steps": {}}', "'steps' must be a list"),
        ('{"steps": [{"op": "explode", "urn": "urn:pulumi:s::p::t::n"}]}', "unknown op"),
        ('{"steps": [{"op": "create", "urn": "not-a-urn"}]}', "is not a Pulumi URN"),
        (
            '{"steps": [{"op": "create", "urn": "urn:pulumi:s::p::t::n", "newState": {}}]}',
            "must be a resource state with a 'type'",
        ),
        ("not json", "not JSON"),
    ],
)
def test_a_malformed_preview_exits_2(tmp_path, capsys, document, message):
    path = tmp_path / "preview.json"
    path.write_text(document, encoding="utf-8")
    assert main(["judge-preview", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_steps_of_two_stacks_are_refused(tmp_path, capsys):
    one = json.loads((FIXTURES / "create.json").read_text(encoding="utf-8"))
    other = json.loads(json.dumps(one["steps"][1]).replace("urn:pulumi:eu-prod", "urn:pulumi:dev"))
    one["steps"].append(other)
    path = tmp_path / "two.json"
    path.write_text(json.dumps(one), encoding="utf-8")
    assert main(["judge-preview", str(path)]) == 2
    assert "more than one stack" in capsys.readouterr().err


def _update_plan(tmp_path: Path, name: str, urns: list[str] | None) -> str:
    """An update plan (DeploymentPlanV1) recording ``urns``, or the fixture's every URN."""
    preview = json.loads((FIXTURES / f"{name}.json").read_text())
    recorded = urns if urns is not None else [s["urn"] for s in preview["steps"]]
    document = {
        "manifest": {"time": "2026-12-06T00:00:00Z", "magic": "", "version": "v3.272.0"},
        "resourcePlans": {urn: {"steps": ["update"]} for urn in recorded},
    }
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_the_update_plan_of_the_judged_preview_passes(tmp_path, capsys):
    status, out, _ = _judge("update", capsys, "--plan", _update_plan(tmp_path, "update", None))
    assert status == 0, out


@pytest.mark.parametrize(
    ("urns", "message"),
    [
        ([], "records no resource"),
        (["urn:pulumi:eu-prod::r2-video::other::x"], "lacks 1 resource(s) the judged preview"),
    ],
)
def test_an_update_plan_that_is_not_the_previews_is_refused(tmp_path, capsys, urns, message):
    plan = _update_plan(tmp_path, "update", urns)
    capsys.readouterr()
    assert main(["judge-preview", str(FIXTURES / "update.json"), "--plan", plan]) == 2
    assert message in capsys.readouterr().err


def test_an_unreadable_update_plan_is_refused(tmp_path, capsys):
    (tmp_path / "plan.json").write_text("{not json")
    status = main(
        ["judge-preview", str(FIXTURES / "update.json"), "--plan", str(tmp_path / "plan.json")]
    )
    assert status == 2
    assert "not an update plan" in capsys.readouterr().err
