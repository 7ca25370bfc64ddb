"""Edge delivery under mocks: cache rules, tiered cache, regional hostnames, signed delivery."""

from __future__ import annotations

import json
import re

import pulumi
import pytest

from coordinator.endpoints import REGION_KEYS, Jurisdiction, region_key
from coordinator.playback import SEPARATOR
from infra.components.edge import (
    MANIFEST_EXTENSIONS,
    MEDIA_EXTENSIONS,
    ONE_YEAR,
    CloudflarePlan,
    EdgeDelivery,
    EdgeDeliveryArgs,
    signed_delivery_expression,
)
from infra.review.offline import SECRET, OfflineMocks, PlannedResource, Synthesis
from infra.review.plan import load_stack_config
from tests.infra.conftest import EXAMPLE_STACKS
from tests.infra.test_settings import problems_of

RULESET = "cloudflare:index/ruleset:Ruleset"
REGIONAL_HOSTNAME = "cloudflare:index/regionalHostname:RegionalHostname"
CUSTOM_DOMAIN = "cloudflare:index/r2CustomDomain:R2CustomDomain"
EDGE = "r2-video:edge:EdgeDelivery"
CACHE_PHASE = "http_request_cache_settings"
WAF_PHASE = "http_request_firewall_custom"
ZONE = "112233445566778899aabbccddeeff00"

# A Rules-language string literal, and the two shapes of expression the program writes.
_LITERAL = r'"(?:[^"\\]|\\.)*"'
_SET = rf"\{{((?:{_LITERAL} ?)+)\}}"
_CACHE_EXPRESSION = re.compile(
    rf"\(http\.host in {_SET} and http\.request\.uri\.path\.extension in {_SET}\)"
)
_HMAC_EXPRESSION = re.compile(
    rf"\(http\.host in {_SET} and not is_timed_hmac_valid_v0\(({_LITERAL}), http\.request\.uri,"
    r" (\d+), http\.request\.timestamp\.sec, (\d+), (" + _LITERAL + r")\)\)"
)


def literals(text: str) -> list[str]:
    return [json.loads(m) for m in re.findall(_LITERAL, text)]


def hostnames_of(stack: str) -> list[str]:
    return json.loads(load_stack_config(stack).values["r2-video:deliveryHostnames"])


def ruleset(plan: Synthesis, phase: str) -> PlannedResource | None:
    found = [r for r in plan.of_type(RULESET) if r.inputs["phase"] == phase]
    assert len(found) <= 1, f"{plan.stack}: {len(found)} rulesets in phase {phase}"
    return found[0] if found else None


def cache_rules(plan: Synthesis) -> dict[str, dict]:
    rules = ruleset(plan, CACHE_PHASE)
    assert rules is not None, f"{plan.stack}: no cache ruleset"
    return {rule["ref"]: rule for rule in rules.inputs["rules"]}


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_cache_rules_are_scoped_to_exactly_the_stack_hostnames(planned, stack):
    plan = planned[stack]
    rules = cache_rules(plan)
    assert set(rules) == {"r2_video_media", "r2_video_manifests"}
    expected = {"r2_video_media": MEDIA_EXTENSIONS, "r2_video_manifests": MANIFEST_EXTENSIONS}
    for ref, rule in rules.items():
        match = _CACHE_EXPRESSION.fullmatch(rule["expression"])
        assert match, f"{stack}: {ref}: unexpected expression {rule['expression']!r}"
        hosts, extensions = (literals(group) for group in match.groups())
        assert hosts == hostnames_of(stack), ref
        assert extensions == list(expected[ref]), ref
        assert rule["action"] == "set_cache_settings"
        assert rule["actionParameters"]["cache"] is True


def test_hls_and_dash_files_cloudflare_skips_by_default_are_covered():
    for extension in ("m3u8", "mpd", "ts", "m4s"):
        assert extension in MEDIA_EXTENSIONS + MANIFEST_EXTENSIONS
    assert not set(MEDIA_EXTENSIONS) & set(MANIFEST_EXTENSIONS)


def _ttls(rule: dict) -> tuple[dict, dict, dict[tuple[int, int], int]]:
    params = rule["actionParameters"]
    edge, browser = params["edgeTtl"], params["browserTtl"]
    by_status = {
        (s["statusCodeRange"]["from"], s["statusCodeRange"]["to"]): s["value"]
        for s in edge["statusCodeTtls"]
    }
    return edge, browser, by_status


@pytest.mark.parametrize(
    ("stack", "manifest_ttl"),
    [("eu-prod", 2), ("fedramp", 30)],  # eu-prod sets 2 s (live); fedramp has the default
)
def test_media_and_manifest_ttls_as_set(planned, stack, manifest_ttl):
    rules = cache_rules(planned[stack])
    for ref, ttl in (("r2_video_media", ONE_YEAR), ("r2_video_manifests", manifest_ttl)):
        edge, browser, by_status = _ttls(rules[ref])
        assert edge["mode"] == browser["mode"] == "override_origin", ref
        assert edge["default"] == browser["default"] == ttl, ref
        assert by_status[(500, 599)] == -1, "5xx is never stored"
        assert 0 <= by_status[(400, 499)] <= min(ttl, 10), "a 4xx is kept briefly at most"


def test_a_set_manifest_ttl_reaches_the_rule(plan_with):
    rules = cache_rules(plan_with("fedramp", manifestTtlSeconds="1", segmentTtlSeconds="86400"))
    assert _ttls(rules["r2_video_manifests"])[0]["default"] == 1
    assert _ttls(rules["r2_video_media"])[1]["default"] == 86400


def test_below_the_plans_minimum_ttl_manifests_follow_their_own_cache_control(planned):
    # dev is on the Free plan: cache rules cannot set a TTL under 2 hours there.
    edge, browser, by_status = _ttls(cache_rules(planned["dev"])["r2_video_manifests"])
    assert edge["mode"] == browser["mode"] == "bypass_by_default"
    assert "default" not in edge
    assert by_status[(400, 499)] == 0  # revalidated: no TTL this short exists on Free


def test_a_manifest_ttl_the_plan_cannot_set_is_refused_naming_the_key():
    message = problems_of("eu-prod", cloudflarePlan="pro", regionalHostnames="false")[
        "manifestTtlSeconds"
    ]
    assert "between 3600" in message and "Business or Enterprise" in message


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_edge_child_belongs_to_the_component_and_its_explicit_provider(planned, stack):
    plan = planned[stack]
    (component,) = plan.of_type(EDGE)
    children = [r for r in plan.resources if r.parent == component.urn]
    assert children
    for child in children:
        package = child.type.split(":", 1)[0]
        assert child.provider and child.provider.endswith(f"pulumi:providers:{package}::{package}")
        if child.type.startswith("cloudflare:"):
            assert (
                child.inputs["zoneId"]
                == load_stack_config(stack).values["r2-video:cloudflareZoneId"]
            ), child.urn


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_smart_tiered_cache_is_on(planned, stack):
    plan = planned[stack]
    for token in (
        "cloudflare:index/tieredCache:TieredCache",
        "cloudflare:index/argoTieredCaching:ArgoTieredCaching",
    ):
        (setting,) = plan.of_type(token)
        assert setting.inputs["value"] == "on", setting.urn


def test_tiered_cache_can_be_left_alone(plan_with):
    plan = plan_with("dev", tieredCache="false")
    assert not plan.of_type("cloudflare:index/tieredCache:TieredCache")


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_regional_hostnames_follow_the_jurisdiction(planned, stack):
    plan = planned[stack]
    jurisdiction = Jurisdiction(load_stack_config(stack).values["r2-video:jurisdiction"])
    found = plan.of_type(REGIONAL_HOSTNAME)
    if jurisdiction is Jurisdiction.DEFAULT:
        assert found == [], "no sovereign parts in a default-jurisdiction stack"
        return
    assert sorted(r.inputs["hostname"] for r in found) == sorted(hostnames_of(stack))
    domains = {d.inputs["domain"]: d.urn for d in plan.of_type(CUSTOM_DOMAIN)}
    for regional in found:
        assert regional.inputs["regionKey"] == region_key(jurisdiction), regional.urn
        assert regional.inputs["regionKey"] in REGION_KEYS[jurisdiction]
        # The R2 custom domain creates the DNS record the regional hostname needs.
        assert domains[regional.inputs["hostname"]] in regional.depends_on, regional.urn


def test_region_keys_per_jurisdiction():
    assert region_key("eu") == "eu"
    assert region_key("fedramp") == "fedramp"  # FedRAMP-certified US data centers, not any US one
    assert region_key("default") is None


def test_without_regional_hostnames_a_sovereign_plan_says_processing_is_not_pinned(plan_with):
    plan = plan_with("eu-prod", regionalHostnames="false")
    assert plan.of_type(REGIONAL_HOSTNAME) == []
    (warning,) = plan.warnings
    assert "not pinned to the 'eu' region" in warning
    assert "media.example.eu" in warning and "live.example.eu" in warning


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_example_plans_carry_no_warnings(planned, stack):
    assert planned[stack].warnings == []


def test_regional_hostnames_need_the_data_localization_suite():
    message = problems_of("fedramp", cloudflarePlan="business")["cloudflarePlan"]
    assert "Data Localization Suite" in message and "regionalHostnames" in message


def test_a_default_jurisdiction_stack_cannot_ask_for_regional_hostnames():
    assert "no region" in problems_of("dev", regionalHostnames="true")["regionalHostnames"]


def test_eu_prod_blocks_requests_without_a_playback_token(planned):
    plan = planned["eu-prod"]
    waf = ruleset(plan, WAF_PHASE)
    assert waf is not None
    (rule,) = waf.inputs["rules"]
    assert rule["action"] == "block"
    assert rule["expression"] == SECRET, "the expression holds the key: secret"
    assert plan.outputs["playback_hmac_key"] == SECRET
    assert plan.outputs["playback_token_ttl"] == 86400
    # Every viewer's token differs; the cache must not be keyed on it.
    for cache_rule in cache_rules(plan).values():
        query = cache_rule["actionParameters"]["cacheKey"]["customKey"]["queryString"]
        assert query == {"exclude": {"all": True}}


@pytest.mark.parametrize("stack", ["dev", "fedramp"])
def test_without_signed_delivery_there_is_no_waf_rule_and_no_key(planned, stack):
    plan = planned[stack]
    assert ruleset(plan, WAF_PHASE) is None
    assert not plan.of_type("random:index/randomBytes:RandomBytes")
    assert "playback_hmac_key" not in plan.outputs
    for cache_rule in cache_rules(plan).values():
        assert "cacheKey" not in cache_rule["actionParameters"]


def test_signed_delivery_needs_pro():
    assert "Pro or higher" in problems_of("dev", signedDelivery="true")["cloudflarePlan"]


def _check_hmac_expression(expression: str, hosts: list[str], key: str, ttl: int) -> None:
    match = _HMAC_EXPRESSION.fullmatch(expression)
    assert match, f"malformed: {expression!r}"
    host_set, key_literal, rule_ttl, separator_length, flags = match.groups()
    assert literals(host_set) == hosts
    assert json.loads(key_literal) == key
    assert int(rule_ttl) == ttl
    assert int(separator_length) == len(SEPARATOR) == len("?verify=") == 8
    assert json.loads(flags) == "s"
    assert expression.count("(") == expression.count(")")


def test_signed_delivery_expression_is_well_formed():
    hosts = ["media.example.eu", "live.example.eu"]
    _check_hmac_expression(signed_delivery_expression(hosts, "ab" * 32, 600), hosts, "ab" * 32, 600)


@pytest.fixture
def mocked():
    pulumi.runtime.set_mocks(OfflineMocks(), project="r2-video", stack="test", preview=False)


@pulumi.runtime.test
def test_the_deployed_rule_carries_the_generated_key_and_ttl(mocked):
    hosts = ("media.example.eu",)
    edge = EdgeDelivery(
        "edge",
        EdgeDeliveryArgs(
            zone_id=ZONE,
            hostnames=hosts,
            jurisdiction=Jurisdiction.EU,
            plan=CloudflarePlan.ENTERPRISE,
            regional_hostnames=True,
            signed_delivery=True,
            token_ttl_seconds=3600,
        ),
    )
    assert edge.signed_delivery_rules is not None and edge.playback_hmac_key is not None

    def check(values: list) -> None:
        rules, key, ttl = values
        assert re.fullmatch(r"[0-9a-f]{64}", key), "32 random bytes, hex"
        assert ttl == 3600
        _check_hmac_expression(rules[0]["expression"], list(hosts), key, ttl)

    return pulumi.Output.all(
        edge.signed_delivery_rules.rules, edge.playback_hmac_key, edge.playback_token_ttl
    ).apply(check)


def test_the_edge_rules_and_the_worker_client_share_one_source() -> None:
    # The client's Cache-Control (coordinator/client/media.py) and these rules read the same
    # constants; infra imports them from the coordinator, never the other way round.
    import coordinator.delivery_rules as rules
    from infra.components import edge

    assert edge.MEDIA_EXTENSIONS is rules.MEDIA_EXTENSIONS
    assert edge.MANIFEST_EXTENSIONS is rules.MANIFEST_EXTENSIONS
    assert edge.ONE_YEAR is rules.ONE_YEAR
    assert edge.DEFAULT_MANIFEST_TTL is rules.DEFAULT_MANIFEST_TTL
