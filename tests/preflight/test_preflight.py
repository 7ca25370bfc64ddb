"""`python -m infra.cli preflight` against local fakes: every check printed, exit 0 when the
accounts are ready, exit 1 with the fix for each thing a real `up` would trip on."""

from __future__ import annotations

import pytest

from tests.preflight.conftest import healthy_aws, healthy_cloudflare, settings_of
from tests.preflight.fakes import TOKEN

CACHE = "http_request_cache_settings"
WAF = "http_request_firewall_custom"
# AWS: "Lambda reserves 100 units of concurrency for functions that don't have reserved
# concurrency" (docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html).
AWS_UNRESERVED_MINIMUM = 100
CHECK_NAMES = [
    "cloudflare token",
    "cloudflare token permissions",
    "cloudflare zone",
    "regional services",
    f"entry point {CACHE}",
    f"entry point {WAF}",
    "r2 bucket",
    "custom domains",
    "aws account",
    "aws partition and region",
    "coordinator entry point",
    "lambda concurrency",
]


def lines(out: str, status: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(status.upper())]


def fix_after(out: str, name: str) -> str:
    rows = out.splitlines()
    (i,) = [i for i, row in enumerate(rows) if row.startswith("FAIL") and f"  {name}:" in row]
    assert rows[i + 1].strip().startswith("fix: "), rows[i : i + 2]
    return rows[i + 1]


@pytest.fixture(scope="module")
def eu_prod():
    return settings_of("eu-prod")


def test_healthy_accounts_pass_every_check(run_preflight, eu_prod):
    cloudflare = healthy_cloudflare(eu_prod)
    code, out = run_preflight("eu-prod", cloudflare, healthy_aws(eu_prod))
    assert code == 0, out
    for name in CHECK_NAMES:
        assert any(f"  {name}: " in line for line in lines(out, "pass")), (name, out)
    assert not lines(out, "fail") and not lines(out, "warn"), out
    # Read-only: nothing but GET reached the API.
    assert {method for method, _, _ in cloudflare.requests} == {"GET"}


def test_an_existing_cache_rules_entry_point_fails_with_the_adoption_command(
    run_preflight, eu_prod
):
    cloudflare = healthy_cloudflare(eu_prod)
    existing = "4814384a9e5d4991b9815dcfc25d2f1f"
    cloudflare.entry_points[(eu_prod.edge.zone_id, CACHE)] = {
        "id": existing,
        "kind": "zone",
        "name": "default",
        "phase": CACHE,
        "version": "3",
        "last_updated": "2026-05-01T00:00:00Z",
        "rules": [
            {"id": "r1", "action": "set_cache_settings", "description": "cache images"},
        ],
    }
    code, out = run_preflight("eu-prod", cloudflare, healthy_aws(eu_prod))
    assert code == 1, out
    fix = fix_after(out, f"entry point {CACHE}")
    assert f"r2-video:adoptCacheRulesetId {existing}" in fix
    assert "cache images" in out  # what adopting replaces


def test_an_adopted_entry_point_passes_and_says_what_it_replaces(
    run_preflight, eu_prod, monkeypatch
):
    cloudflare = healthy_cloudflare(eu_prod)
    existing = "4814384a9e5d4991b9815dcfc25d2f1f"
    cloudflare.entry_points[(eu_prod.edge.zone_id, CACHE)] = {
        "id": existing,
        "kind": "zone",
        "name": "default",
        "phase": CACHE,
        "rules": [],
    }
    import infra.cli

    original = infra.cli._stack_settings

    def adopting(stack, project_dir):
        import dataclasses

        settings = original(stack, project_dir)
        edge = dataclasses.replace(settings.edge, adopt_cache_ruleset_id=existing)
        return dataclasses.replace(settings, edge=edge)

    monkeypatch.setattr(infra.cli, "_stack_settings", adopting)
    code, out = run_preflight("eu-prod", cloudflare, healthy_aws(eu_prod))
    assert code == 0, out
    assert f"adopting {existing}" in out


def test_r2_dev_turned_on_in_the_dashboard_fails_with_the_fix(run_preflight, eu_prod):
    cloudflare = healthy_cloudflare(eu_prod)
    bucket = eu_prod.delivery.bucket_name
    cloudflare.buckets[("eu", bucket)] = {"location": "WEUR", "r2dev": True, "domains": []}
    code, out = run_preflight("eu-prod", cloudflare, healthy_aws(eu_prod))
    assert code == 1, out
    fix = fix_after(out, "r2.dev")
    assert f"/r2/buckets/{bucket}/domains/managed" in fix and '"enabled": false' in fix
    assert "cf-r2-jurisdiction: eu" in fix


def test_a_wrong_aws_account_fails_with_the_fix(run_preflight, eu_prod):
    aws = healthy_aws(eu_prod)
    aws.account = "999999999999"
    code, out = run_preflight("eu-prod", healthy_cloudflare(eu_prod), aws)
    assert code == 1, out
    fix = fix_after(out, "aws account")
    assert eu_prod.aws_account_id in fix


def test_a_low_concurrency_quota_fails_with_the_fix(run_preflight, eu_prod):
    # A new account's quota of 10: the default reservation of 50 cannot leave 100 unreserved.
    aws = healthy_aws(eu_prod)
    aws.concurrency_quota = 10
    code, out = run_preflight("eu-prod", healthy_cloudflare(eu_prod), aws)
    assert code == 1, out
    assert "Concurrent executions" in fix_after(out, "lambda concurrency")


def test_a_quota_of_149_cannot_afford_the_default_reservation_of_50(run_preflight, eu_prod):
    aws = healthy_aws(eu_prod)
    aws.concurrency_quota = 149
    code, out = run_preflight("eu-prod", healthy_cloudflare(eu_prod), aws)
    assert code == 1, out
    # 149 - 100 kept unreserved = 49 is the most the coordinator may reserve.
    assert "coordinatorReservedConcurrency 49" in fix_after(out, "lambda concurrency")
    aws.concurrency_quota = 150
    code, out = run_preflight("eu-prod", healthy_cloudflare(eu_prod), aws)
    assert code == 0, out


def test_the_audit_counts_the_coordinators_own_reservation(run_preflight, eu_prod):
    # After an `up` the function's 50 are out of the unreserved pool already; a quota of 150
    # still affords them.
    aws = healthy_aws(eu_prod)
    aws.concurrency_quota = 150
    aws.reserved = {eu_prod.coordinator.function_name: 50}
    code, out = run_preflight("eu-prod", healthy_cloudflare(eu_prod), aws)
    assert code == 0, out


def test_a_bucket_in_another_jurisdiction_fails(run_preflight, eu_prod):
    cloudflare = healthy_cloudflare(eu_prod)
    cloudflare.buckets[("default", eu_prod.delivery.bucket_name)] = {"location": "ENAM"}
    code, out = run_preflight("eu-prod", cloudflare, healthy_aws(eu_prod))
    assert code == 1, out
    assert "exists in jurisdiction default, not eu" in out


def test_a_location_hint_the_bucket_does_not_have_fails(run_preflight, eu_prod):
    cloudflare = healthy_cloudflare(eu_prod)
    cloudflare.buckets[("eu", eu_prod.delivery.bucket_name)] = {"location": "EEUR"}
    code, out = run_preflight("eu-prod", cloudflare, healthy_aws(eu_prod))
    assert code == 1, out
    assert "r2-video:locationHint eeur" in fix_after(out, "r2 location")


def test_a_hostname_attached_to_another_bucket_fails(run_preflight, eu_prod):
    cloudflare = healthy_cloudflare(eu_prod)
    cloudflare.buckets[("eu", "old-renditions")] = {"domains": ["media.example.eu"]}
    code, out = run_preflight("eu-prod", cloudflare, healthy_aws(eu_prod))
    assert code == 1, out
    assert "media.example.eu -> old-renditions (eu)" in out


def test_a_missing_permission_and_a_wrong_plan_fail(run_preflight, eu_prod):
    cloudflare = healthy_cloudflare(eu_prod)
    cloudflare.permissions.remove("Zone WAF Write")
    cloudflare.zones[eu_prod.edge.zone_id]["plan"]["legacy_id"] = "pro"
    code, out = run_preflight("eu-prod", cloudflare, healthy_aws(eu_prod))
    assert code == 1, out
    assert "Zone WAF Write" in out
    assert "r2-video:cloudflarePlan pro" in fix_after(out, "cloudflare zone")


def test_a_region_key_the_account_lacks_fails(run_preflight, eu_prod):
    cloudflare = healthy_cloudflare(eu_prod)
    cloudflare.region_keys = ["us", "ca"]
    code, out = run_preflight("eu-prod", cloudflare, healthy_aws(eu_prod))
    assert code == 1, out
    assert "regionalHostnames false" in fix_after(out, "regional services")


def test_a_user_token_that_cannot_read_its_policies_warns_but_passes(run_preflight, eu_prod):
    cloudflare = healthy_cloudflare(eu_prod)
    cloudflare.token_owner = "user"
    cloudflare.policies_readable = False
    code, out = run_preflight("eu-prod", cloudflare, healthy_aws(eu_prod))
    assert code == 0, out
    (warning,) = lines(out, "warn")
    assert "cloudflare token permissions" in warning


def test_a_disabled_token_fails_and_is_never_printed(run_preflight, eu_prod):
    cloudflare = healthy_cloudflare(eu_prod)
    cloudflare.token_status = "disabled"
    code, out = run_preflight("eu-prod", cloudflare, healthy_aws(eu_prod))
    assert code == 1, out
    assert "CLOUDFLARE_API_TOKEN" in fix_after(out, "cloudflare token")
    assert TOKEN not in out


def test_without_a_token_the_cli_exits_2(monkeypatch, capsys):
    from infra.cli import main

    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    assert main(["preflight", "--stack", "eu-prod"]) == 2
    assert "CLOUDFLARE_API_TOKEN" in capsys.readouterr().err


def test_an_unreachable_api_is_a_failed_line_not_a_traceback(run_preflight, eu_prod, monkeypatch):
    import infra.preflight.cloudflare_api as api

    cloudflare = healthy_cloudflare(eu_prod)
    monkeypatch.setattr(
        api.CloudflareApi, "__init__", _closed_port_init(api.CloudflareApi.__init__)
    )
    code, out = run_preflight("eu-prod", cloudflare, healthy_aws(eu_prod))
    assert code == 1, out
    assert "cloudflare api: unreachable" in out


def _closed_port_init(original):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the with block ends

    def init(self, token, *, base_url, timeout=15.0):
        original(self, token, base_url=f"http://127.0.0.1:{port}", timeout=2.0)

    return init
