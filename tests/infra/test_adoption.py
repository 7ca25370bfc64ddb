"""Taking over a zone's existing entry-point rulesets instead of failing to create them.

Facts (terraform-provider-cloudflare): the Ruleset create is a POST that the API refuses with
error 20217 when the zone has an entry point for the phase already (issues #2004, #1222, #6273;
internal/services/ruleset/resource.go Create); its import id is
``<{accounts|zones}/{account_id|zone_id}>/<ruleset_id>`` (ruleset/resource.go ImportState).
"""

from __future__ import annotations

import pytest

from tests.infra.test_settings import problems_of

RULESET = "cloudflare:index/ruleset:Ruleset"
ZONE = "112233445566778899aabbccddeeff00"  # Pulumi.eu-prod.yaml
CACHE_ID = "0123456789abcdef0123456789abcdef"
WAF_ID = "fedcba9876543210fedcba9876543210"


def _rulesets(requests):
    return {r.name: r for r in requests if r.type == RULESET}


def test_an_adopted_entry_point_is_imported_by_zone_and_id(registrations):
    plan, requests = registrations(
        "eu-prod", adoptCacheRulesetId=CACHE_ID, adoptFirewallRulesetId=WAF_ID
    )
    rulesets = _rulesets(requests)
    assert rulesets["edge-cache-rules"].importId == f"zones/{ZONE}/{CACHE_ID}"
    assert rulesets["edge-signed-delivery"].importId == f"zones/{ZONE}/{WAF_ID}"
    # The plan says what the stack takes on: every rule of the phase, zone-wide.
    for phase, ruleset_id in (
        ("http_request_cache_settings", CACHE_ID),
        ("http_request_firewall_custom", WAF_ID),
    ):
        (warning,) = [w for w in plan.warnings if ruleset_id in w]
        assert phase in warning and "every rule of that phase" in warning


def test_adopting_only_one_phase_leaves_the_other_created(registrations):
    # Also the default: without the setting an entry point is created (no import id).
    _, requests = registrations("eu-prod", adoptCacheRulesetId=CACHE_ID)
    rulesets = _rulesets(requests)
    assert rulesets["edge-cache-rules"].importId
    assert rulesets["edge-signed-delivery"].importId == ""


@pytest.mark.parametrize("key", ["adoptCacheRulesetId", "adoptFirewallRulesetId"])
def test_a_malformed_ruleset_id_names_the_key(key):
    problems = problems_of("eu-prod", **{key: "zones/abc"})
    assert "32 lowercase hex" in problems[key]


def test_adopting_a_phase_the_stack_does_not_use_is_refused():
    # dev has signed delivery off: no WAF entry point to take over.
    problems = problems_of("dev", adoptFirewallRulesetId=WAF_ID)
    assert "remove the setting" in problems["adoptFirewallRulesetId"]
