"""Rotating the playback HMAC key without breaking live URLs.

The key is a literal in the WAF rule (``is_timed_hmac_valid_v0``'s first argument,
developers.cloudflare.com/ruleset-engine/rules-language/functions/#hmac-validation). While a
new key signs, the older one stays accepted through a rule whose action is ``skip`` with
``ruleset: "current"`` ("skip the remaining custom rules",
developers.cloudflare.com/waf/custom-rules/skip/options/), placed before the blocking rule.
"""

from __future__ import annotations

import json
import re

import pulumi
import pytest

from coordinator.endpoints import Jurisdiction
from infra.components.edge import CloudflarePlan, EdgeDelivery, EdgeDeliveryArgs
from infra.review.offline import OfflineMocks
from tests.infra.test_settings import problems_of

RANDOM_BYTES = "random:index/randomBytes:RandomBytes"
RULESET = "cloudflare:index/ruleset:Ruleset"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
ZONE = "112233445566778899aabbccddeeff00"


def test_two_generations_keep_the_old_key_accepted_and_sign_with_the_new(plan_with):
    plan = plan_with("eu-prod", signedDeliveryKeyGenerations="[1, 2]")
    # Generation 1 keeps its name, so starting a rotation replaces nothing.
    assert sorted(r.name for r in plan.of_type(RANDOM_BYTES)) == [
        "edge-playback-key",
        "edge-playback-key-2",
    ]
    (waf,) = [r for r in plan.of_type(RULESET) if r.name == "edge-signed-delivery"]
    skip, block = waf.inputs["rules"]
    assert skip["action"] == "skip" and skip["actionParameters"] == {"ruleset": "current"}
    assert block["action"] == "block"


def test_without_rotation_the_rule_is_unchanged(planned):
    (waf,) = [r for r in planned["eu-prod"].of_type(RULESET) if r.name == "edge-signed-delivery"]
    (rule,) = waf.inputs["rules"]
    assert rule["ref"] == "r2_video_signed_delivery" and rule["action"] == "block"


def test_the_coordinator_gets_the_signing_key_only_after_the_rule_accepts_it(planned):
    plan = planned["eu-prod"]
    (waf,) = [r for r in plan.of_type(RULESET) if r.name == "edge-signed-delivery"]
    (version,) = plan.of_type(SECRET_VERSION)
    assert waf.urn in version.depends_on


@pytest.mark.parametrize("value", ["[2, 1]", "[]", "[1, 2, 3, 4]", "[0]", '["a"]'])
def test_bad_generations_name_the_key(value):
    assert "signedDeliveryKeyGenerations" in problems_of(
        "eu-prod", signedDeliveryKeyGenerations=value
    )


@pytest.fixture
def mocked():
    pulumi.runtime.set_mocks(OfflineMocks(), project="r2-video", stack="test", preview=False)


@pulumi.runtime.test
def test_the_skip_rule_checks_the_old_key_and_the_block_rule_the_new(mocked):
    edge = EdgeDelivery(
        "edge",
        EdgeDeliveryArgs(
            zone_id=ZONE,
            hostnames=("media.example.eu",),
            jurisdiction=Jurisdiction.EU,
            plan=CloudflarePlan.ENTERPRISE,
            regional_hostnames=True,
            signed_delivery=True,
            playback_key_generations=(1, 2),
        ),
    )
    assert edge.signed_delivery_rules is not None and edge.playback_hmac_key is not None

    def check(values: list) -> None:
        rules, signing = values
        found = [
            re.search(r'is_timed_hmac_valid_v0\(("[0-9a-f]+")', r["expression"]) for r in rules
        ]
        assert all(found), rules
        old, new = (json.loads(m[1]) for m in found if m)
        assert old != new and new == signing
        assert " not is_timed_hmac_valid_v0(" not in rules[0]["expression"]
        assert " not is_timed_hmac_valid_v0(" in rules[1]["expression"]

    # Nested applies: Output.all would walk the rules, whose action parameters have a field named
    # `values` that shadows the mapping method.
    key = edge.playback_hmac_key
    return edge.signed_delivery_rules.rules.apply(
        lambda rules: key.apply(lambda k: check([rules, k]))
    )
