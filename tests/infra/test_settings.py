"""Stack settings: every problem reported at once, each with its key and the fix."""

from __future__ import annotations

import json

import pulumi
import pytest

from coordinator.endpoints import Jurisdiction
from infra.components.delivery import DeliveryBucketArgs
from infra.components.mezzanine import MezzanineBucketArgs
from infra.review.plan import load_stack_config
from infra.settings import SettingsError, StackSettings, load_settings
from infra.validation import ArgsError, is_origin
from tests.infra.conftest import EXAMPLE_STACKS


def settings_for(stack: str = "eu-prod", **overrides: str | None) -> StackSettings:
    values = dict(load_stack_config(stack).values)
    for key, value in overrides.items():
        if value is None:
            values.pop(f"r2-video:{key}", None)
        else:
            values[f"r2-video:{key}"] = value
    pulumi.runtime.set_all_config(values, [])
    return load_settings(pulumi.Config("r2-video"), stack=stack)


def problems_of(stack: str = "eu-prod", **overrides: str | None) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        settings_for(stack, **overrides)
    return {p.key: p.message for p in caught.value.problems}


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_example_stacks_are_valid(stack):
    settings = settings_for(stack)
    assert settings.delivery.jurisdiction is settings.jurisdiction


def test_three_mistakes_yield_one_error_listing_all_three_with_fixes():
    with pytest.raises(SettingsError) as caught:
        settings_for(jurisdiction="europe", awsRegion="mars-1", cloudflareZoneId="not-hex")
    text = str(caught.value)
    assert text.startswith("3 problems in the configuration of stack 'eu-prod'")
    for key in ("jurisdiction", "awsRegion", "cloudflareZoneId"):
        assert f"r2-video:{key}:" in text
        assert f"pulumi config set --stack eu-prod r2-video:{key} " in text
    assert "'europe' is not one of default, eu, fedramp" in text


# --- one fault per refusal (issue 17, item 3) ---------------------------------------------------
# Each case starts from a valid example stack and breaks exactly one thing; the refusal must name
# that key with its own message, and nothing else.

_HINT_MESSAGE = (
    " (shorter edge TTLs need Business or Enterprise; leave it unset to use the manifests' own"
    " Cache-Control)"
)
_LIFECYCLE_SHAPE = (
    "entry 0 must be a mapping with a string 'prefix' and optional 'infrequentAccessAfterDays',"
    " 'expireAfterDays' (whole days)"
)
_SIPPY = {"sourceBucket": "example-video-eu-legacy-renditions", "sourceRegion": "eu-central-1"}


def sole_problem(stack: str, overrides: dict[str, str | None]) -> tuple[str, str, str]:
    """(key, message, fix line) of the one problem a configuration has."""
    with pytest.raises(SettingsError) as caught:
        settings_for(stack, **overrides)
    problems = [(p.key, p.message) for p in caught.value.problems]
    assert len(problems) == 1, problems
    (problem,) = caught.value.problems
    text = str(caught.value)
    assert text.startswith(f"1 problem in the configuration of stack {stack!r}:\n"), text
    return problem.key, problem.message, text.splitlines()[-1].strip()


REFUSALS = [
    # (id, stack, overrides, key, message)
    ("environment missing", "eu-prod", {"environment": None}, "environment", "is required"),
    ("environment empty", "eu-prod", {"environment": ""}, "environment", "is required"),
    ("jurisdiction missing", "eu-prod", {"jurisdiction": None}, "jurisdiction", "is required"),
    ("aws region missing", "eu-prod", {"awsRegion": None}, "awsRegion", "is required"),
    ("aws account missing", "eu-prod", {"awsAccountId": None}, "awsAccountId", "is required"),
    (
        "environment unknown",
        "eu-prod",
        {"environment": "staging"},
        "environment",
        "'staging' is not one of dev, prod",
    ),
    (
        "jurisdiction unknown",
        "eu-prod",
        {"jurisdiction": "europe"},
        "jurisdiction",
        "'europe' is not one of default, eu, fedramp, us",
    ),
    (
        "plan unknown",
        "eu-prod",
        {"cloudflarePlan": "gold"},
        "cloudflarePlan",
        "'gold' is not one of free, pro, business, enterprise",
    ),
    (
        "cloudflare account missing",
        "eu-prod",
        {"cloudflareAccountId": None},
        "cloudflareAccountId",
        "is required",
    ),
    ("zone id missing", "eu-prod", {"cloudflareZoneId": None}, "cloudflareZoneId", "is required"),
    (
        "delivery bucket missing",
        "eu-prod",
        {"deliveryBucketName": None},
        "deliveryBucketName",
        "is required",
    ),
    (
        "mezzanine bucket missing",
        "eu-prod",
        {"mezzanineBucketName": None},
        "mezzanineBucketName",
        "is required",
    ),
    (
        "cloudflare account uppercase",
        "eu-prod",
        {"cloudflareAccountId": "0123456789ABCDEF0123456789ABCDEF"},
        "cloudflareAccountId",
        "must be 32 lowercase hex characters",
    ),
    (
        "zone id not hex",
        "eu-prod",
        {"cloudflareZoneId": "not-hex"},
        "cloudflareZoneId",
        "must be 32 lowercase hex characters",
    ),
    (
        "aws account too short",
        "eu-prod",
        {"awsAccountId": "12345"},
        "awsAccountId",
        "'12345' must be 12 digits",
    ),
    (
        "aws account not digits",
        "eu-prod",
        {"awsAccountId": "12345678901a"},
        "awsAccountId",
        "'12345678901a' must be 12 digits",
    ),
    (
        "aws account too long",
        "eu-prod",
        {"awsAccountId": "1234567890123"},
        "awsAccountId",
        "'1234567890123' must be 12 digits",
    ),
    (
        "not a region",
        "eu-prod",
        {"awsRegion": "mars-1"},
        "awsRegion",
        "'mars-1' is not an AWS region name like eu-central-1",
    ),
    (
        # London carries the eu- prefix but is outside the EU (the UK left on 2020-01-31:
        # https://european-union.europa.eu/principles-countries-history/eu-countries_en).
        "eu stack in London",
        "eu-prod",
        {"awsRegion": "eu-west-2"},
        "awsRegion",
        "'eu-west-2' is not allowed for jurisdiction 'eu'; use an EU region: eu-central-1,"
        " eu-north-1, eu-south-1, eu-south-2, eu-west-1, eu-west-3 (partition aws) or"
        " eusc-de-east-1 (AWS European Sovereign Cloud, partition aws-eusc)",
    ),
    (
        # Zurich: Switzerland is not an EU member state (same source).
        "eu stack in Zurich",
        "eu-prod",
        {"awsRegion": "eu-central-2"},
        "awsRegion",
        "'eu-central-2' is not allowed for jurisdiction 'eu'; use an EU region: eu-central-1,"
        " eu-north-1, eu-south-1, eu-south-2, eu-west-1, eu-west-3 (partition aws) or"
        " eusc-de-east-1 (AWS European Sovereign Cloud, partition aws-eusc)",
    ),
    (
        "fedramp stack in a commercial region",
        "fedramp",
        {"awsRegion": "us-east-1"},
        "awsRegion",
        "'us-east-1' is not allowed for jurisdiction 'fedramp'; use a GovCloud region:"
        " us-gov-east-1, us-gov-west-1",
    ),
    (
        "us stack in GovCloud",
        "us-prod",
        {"awsRegion": "us-gov-west-1"},
        "awsRegion",
        "'us-gov-west-1' is not allowed for jurisdiction 'us'; use a US commercial region:"
        " us-east-1, us-east-2, us-west-1, us-west-2 (GovCloud pairs with jurisdiction fedramp)",
    ),
    (
        "default stack in GovCloud by accident",
        "dev",
        {"awsRegion": "us-gov-west-1"},
        "awsRegion",
        "'us-gov-west-1' is not allowed for jurisdiction 'default'; use a commercial AWS region"
        " (partition aws), e.g. us-east-1",
    ),
    (
        "default stack in the sovereign cloud by accident",
        "dev",
        {"awsRegion": "eusc-de-east-1"},
        "awsRegion",
        "'eusc-de-east-1' is not allowed for jurisdiction 'default'; use a commercial AWS region"
        " (partition aws), e.g. us-east-1",
    ),
    (
        "hint uppercase",
        "eu-prod",
        {"locationHint": "WEUR"},
        "locationHint",
        "must be lowercase, e.g. 'weur'",
    ),
    (
        "bad hostname",
        "eu-prod",
        {"deliveryHostnames": json.dumps(["media.example.eu", "Bad_Host.example.eu"])},
        "deliveryHostnames",
        "'Bad_Host.example.eu' is not a valid lowercase hostname",
    ),
    (
        "hostname outside the zone",
        "eu-prod",
        {"deliveryHostnames": json.dumps(["media.example.eu", "media.example.org"])},
        "deliveryHostnames",
        "'media.example.org' is not inside zone 'example.eu'",
    ),
    (
        "prod without a custom domain",
        "eu-prod",
        {"deliveryHostnames": json.dumps([]), "signedDelivery": "false"},
        "deliveryHostnames",
        "a prod stack serves through at least one custom domain",
    ),
    (
        "r2.dev on in prod",
        "eu-prod",
        {"r2DevDomain": "true"},
        "r2DevDomain",
        "r2.dev is rate-limited and bypasses edge protection: never on in prod",
    ),
    (
        "flag not a boolean",
        "eu-prod",
        {"r2DevDomain": "yes"},
        "r2DevDomain",
        "'yes' is not true or false",
    ),
    (
        "another flag not a boolean",
        "eu-prod",
        {"tieredCache": "maybe"},
        "tieredCache",
        "'maybe' is not true or false",
    ),
    (
        "http origin in prod",
        "eu-prod",
        {"corsOrigins": json.dumps(["http://player.example.eu"])},
        "corsOrigins",
        "'http://player.example.eu' must be exactly scheme://host[:port] with scheme https",
    ),
    (
        "origin with a path",
        "eu-prod",
        {"corsOrigins": json.dumps(["https://p.example.eu/x"])},
        "corsOrigins",
        "'https://p.example.eu/x' must be exactly scheme://host[:port] with scheme https",
    ),
    (
        "number not a number",
        "eu-prod",
        {"corsMaxAgeSeconds": "a day"},
        "corsMaxAgeSeconds",
        "'a day' is not a whole number",
    ),
    (
        "coordinator number not a number",
        "eu-prod",
        {"coordinatorMemoryMb": "lots"},
        "coordinatorMemoryMb",
        "'lots' is not a whole number",
    ),
    (
        "noncurrent days zero",
        "eu-prod",
        {"mezzanineNoncurrentDays": "0"},
        "mezzanineNoncurrentDays",
        "must be between 1 and 36500",
    ),
    (
        "kms key in another region",
        "eu-prod",
        {"mezzanineKmsKeyArn": "arn:aws:kms:us-east-1:222222222222:key/abc"},
        "mezzanineKmsKeyArn",
        "the key must be in the stack's region 'eu-central-1'",
    ),
    (
        "alarm topic in another region",
        "eu-prod",
        {"coordinatorAlarmTopicArn": "arn:aws:sns:us-east-1:222222222222:oncall"},
        "coordinatorAlarmTopicArn",
        "the topic must be in the stack's region 'eu-central-1'",
    ),
    (
        "lifecycle not a list",
        "eu-prod",
        {"deliveryLifecycle": '{"prefix": "x"}'},
        "deliveryLifecycle",
        "must be a list in the stack file",
    ),
    (
        "lifecycle not JSON",
        "eu-prod",
        {"deliveryLifecycle": "vod/"},
        "deliveryLifecycle",
        "must be a list in the stack file",
    ),
    (
        "lifecycle rule that does nothing",
        "eu-prod",
        {"deliveryLifecycle": json.dumps([{"prefix": "vod/"}])},
        "deliveryLifecycle",
        "rule for prefix 'vod/' does nothing: set a transition or an expiry",
    ),
    (
        "lifecycle prefix with a leading slash",
        "eu-prod",
        {"deliveryLifecycle": json.dumps([{"prefix": "/vod", "expireAfterDays": 30}])},
        "deliveryLifecycle",
        "rule for prefix '/vod': a key prefix never starts with '/'",
    ),
    (
        # R2 Infrequent Access bills at least 30 days (https://developers.cloudflare.com/r2/pricing/).
        "lifecycle transition under 30 days",
        "eu-prod",
        {"deliveryLifecycle": json.dumps([{"prefix": "x/", "infrequentAccessAfterDays": 10}])},
        "deliveryLifecycle",
        "rule for prefix 'x/': infrequent_access_after_days must be 30..36500 (Infrequent Access"
        " bills at least 30 days)",
    ),
    (
        "lifecycle entry without a prefix",
        "eu-prod",
        {"deliveryLifecycle": json.dumps([{"nope": 1}])},
        "deliveryLifecycle",
        _LIFECYCLE_SHAPE,
    ),
    (
        "lifecycle entry with an unknown field",
        "eu-prod",
        {"deliveryLifecycle": json.dumps([{"prefix": "x/", "expireAfterDays": 9, "nope": 1}])},
        "deliveryLifecycle",
        _LIFECYCLE_SHAPE,
    ),
    (
        "lifecycle entry not a mapping",
        "eu-prod",
        {"deliveryLifecycle": json.dumps(["x/"])},
        "deliveryLifecycle",
        _LIFECYCLE_SHAPE,
    ),
    (
        "lifecycle days a string",
        "eu-prod",
        {"deliveryLifecycle": json.dumps([{"prefix": "x/", "expireAfterDays": "10"}])},
        "deliveryLifecycle",
        "entry 0: days must be whole numbers",
    ),
    (
        "lifecycle days a boolean",
        "eu-prod",
        {"deliveryLifecycle": json.dumps([{"prefix": "x/", "infrequentAccessAfterDays": True}])},
        "deliveryLifecycle",
        "entry 0: days must be whole numbers",
    ),
    (
        "key generations not whole",
        "eu-prod",
        {"signedDeliveryKeyGenerations": json.dumps([1.5])},
        "signedDeliveryKeyGenerations",
        "must be a list of whole numbers",
    ),
    (
        "key generations a boolean",
        "eu-prod",
        {"signedDeliveryKeyGenerations": json.dumps([True])},
        "signedDeliveryKeyGenerations",
        "must be a list of whole numbers",
    ),
    (
        "token key ids not a list",
        "eu-prod",
        {"coordinatorTokenKeyIds": '"k1"'},
        "coordinatorTokenKeyIds",
        "must be a list in the stack file",
    ),
    (
        "sippy not a mapping",
        "eu-prod",
        {"sippy": json.dumps(["x"])},
        "sippy",
        "must be a mapping in the stack file",
    ),
    (
        "sippy unknown field",
        "eu-prod",
        {"sippy": json.dumps(_SIPPY | {"color": 1})},
        "sippy",
        "unknown field(s) color; known: acknowledgeCrossBorder, sourceBucket, sourceRegion",
    ),
    (
        "sippy acknowledgement not a boolean",
        "eu-prod",
        {"sippy": json.dumps(_SIPPY | {"acknowledgeCrossBorder": "yes"})},
        "sippy",
        "acknowledgeCrossBorder must be true or false",
    ),
    (
        "sippy from outside the jurisdiction",
        "eu-prod",
        {"sippy": json.dumps(_SIPPY | {"sourceRegion": "us-east-1"})},
        "sippy",
        "'us-east-1' lies outside jurisdiction 'eu': Sippy would copy data across a border;"
        " set acknowledgeCrossBorder: true if that is intended",
    ),
]


@pytest.mark.parametrize(
    ("stack", "overrides", "key", "message"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_one_fault_one_refusal(stack, overrides, key, message):
    assert sole_problem(stack, overrides)[:2] == (key, message)


@pytest.mark.parametrize(
    ("overrides", "fix"),
    [
        ({"environment": None}, "pulumi config set --stack eu-prod r2-video:environment prod"),
        (
            {"awsRegion": "mars-1"},
            "pulumi config set --stack eu-prod r2-video:awsRegion eu-central-1",
        ),
        (
            {"deliveryHostnames": json.dumps(["elsewhere.example.org"])},
            "pulumi config set --stack eu-prod --path 'r2-video:deliveryHostnames[0]'"
            " media.example.com",
        ),
        (
            {"deliveryLifecycle": json.dumps([{"prefix": "vod/"}])},
            "pulumi config set --stack eu-prod --path 'r2-video:deliveryLifecycle[0].prefix vod/'",
        ),
        (
            {"sippy": json.dumps(["x"])},
            "pulumi config set --stack eu-prod --path 'r2-video:sippy.sourceBucket'"
            " example-legacy-renditions",
        ),
    ],
)
def test_each_refusal_says_how_to_fix_it(overrides, fix):
    assert sole_problem("eu-prod", overrides)[2] == f"fix: {fix}"


# R2 location hints (https://developers.cloudflare.com/r2/reference/data-location/#location-hints):
# wnam Western North America, enam Eastern North America, weur Western Europe, eeur Eastern
# Europe, apac Asia-Pacific, oc Oceania. A hint must lie where the jurisdiction keeps the data:
# Europe for eu, North America for fedramp and us; no jurisdiction allows any hint.
LOCATION_HINTS = ("wnam", "enam", "weur", "eeur", "apac", "oc")
HINTS_INSIDE = {
    "dev": ("default", set(LOCATION_HINTS)),
    "eu-prod": ("eu", {"weur", "eeur"}),
    "fedramp": ("fedramp", {"wnam", "enam"}),
    "us-prod": ("us", {"wnam", "enam"}),
}


@pytest.mark.parametrize("stack", sorted(HINTS_INSIDE))
def test_location_hints_inside_the_jurisdiction_only(stack):
    jurisdiction, inside = HINTS_INSIDE[stack]
    shown = ", ".join(sorted(inside))
    for hint in LOCATION_HINTS:
        if hint in inside:
            assert settings_for(stack, locationHint=hint).delivery.location_hint == hint
        else:
            assert sole_problem(stack, {"locationHint": hint})[:2] == (
                "locationHint",
                f"{hint!r} is not allowed in jurisdiction {jurisdiction!r}; use one of {shown}"
                " or none",
            )
    assert settings_for(stack, locationHint=None).delivery.location_hint is None


# The shortest edge TTL a cache rule may set per plan ("Minimum Edge Cache TTL": Free 2 hours,
# Pro 1 hour, Business and Enterprise 1 second):
# https://developers.cloudflare.com/cache/how-to/edge-browser-cache-ttl/
MIN_EDGE_TTL = {"free": 7200, "pro": 3600, "business": 1, "enterprise": 1}
ONE_YEAR_SECONDS = 365 * 24 * 3600


@pytest.mark.parametrize("plan", sorted(MIN_EDGE_TTL))
def test_edge_ttls_the_plan_allows(plan):
    shortest = MIN_EDGE_TTL[plan]
    for key, attribute in (
        ("manifestTtlSeconds", "manifest_ttl_seconds"),
        ("segmentTtlSeconds", "segment_ttl_seconds"),
    ):
        for ttl in (shortest, ONE_YEAR_SECONDS):
            edge = settings_for("dev", cloudflarePlan=plan, **{key: str(ttl)}).edge
            assert getattr(edge, attribute) == ttl
        note = _HINT_MESSAGE if key == "manifestTtlSeconds" and shortest > 1 else ""
        for ttl in (shortest - 1, ONE_YEAR_SECONDS + 1):
            assert sole_problem("dev", {"cloudflarePlan": plan, key: str(ttl)})[:2] == (
                key,
                f"must be between {shortest} and {ONE_YEAR_SECONDS} on the {plan} plan{note}",
            )


def test_dev_allows_plain_http_origins_and_r2_dev():
    settings = settings_for("dev", corsOrigins=json.dumps(["http://localhost:8080"]))
    assert settings.delivery.cors_origins == ("http://localhost:8080",)
    assert settings.delivery.r2_dev_enabled is True
    assert (settings.is_production, settings.delivery.protect_data) == (False, False)


# A stack that states only what has no default (README, "Stack settings").
MINIMAL = {
    "r2-video:environment": "prod",
    "r2-video:jurisdiction": "eu",
    "r2-video:cloudflareAccountId": "0123456789abcdef0123456789abcdef",
    "r2-video:cloudflareZoneId": "112233445566778899aabbccddeeff00",
    "r2-video:zoneName": "example.eu",
    "r2-video:deliveryBucketName": "video-eu-delivery",
    "r2-video:deliveryHostnames": json.dumps(["media.example.eu"]),
    "r2-video:awsRegion": "eu-west-3",
    "r2-video:awsAccountId": "222222222222",
    "r2-video:mezzanineBucketName": "example-video-eu-mezzanine",
    "r2-video:cloudflarePlan": "enterprise",
}


def test_defaults_of_a_minimal_stack():
    pulumi.runtime.set_all_config(MINIMAL, [])
    s = load_settings(pulumi.Config("r2-video"), stack="minimal")
    assert (s.stack, s.environment, s.jurisdiction) == ("minimal", "prod", Jurisdiction.EU)
    assert (s.aws_region, s.aws_partition, s.aws_account_id) == (
        "eu-west-3",
        "aws",
        "222222222222",
    )
    assert s.r2_endpoint == "https://0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com"
    assert s.is_production and s.sippy is None
    d = s.delivery
    assert (d.location_hint, d.storage_class, d.min_tls, d.cors_origins) == (
        None,
        "Standard",
        "1.2",
        (),
    )
    assert (d.cors_max_age_seconds, d.abort_multipart_after_days, d.lifecycle) == (3600, 7, ())
    assert (d.r2_dev_enabled, d.allow_http_origins, d.protect_data) == (False, False, True)
    e = s.edge
    assert (e.plan, e.manifest_ttl_seconds, e.segment_ttl_seconds) == (
        "enterprise",
        None,
        ONE_YEAR_SECONDS,
    )
    # EU has a Regional Services region to pin delivery to, so regional hostnames default on.
    assert (e.tiered_cache, e.regional_hostnames, e.signed_delivery) == (True, True, False)
    assert (e.token_ttl_seconds, e.playback_key_generations) == (86_400, (1,))
    assert (e.adopt_cache_ruleset_id, e.adopt_firewall_ruleset_id) == (None, None)
    m = s.mezzanine
    assert (m.encryption, m.kms_key_arn, m.noncurrent_version_days) == ("aws:kms", None, 30)
    assert (m.abort_multipart_after_days, m.archive_after_days) == (7, None)
    assert (m.archive_storage_class, m.protect_data) == ("GLACIER_IR", True)
    c = s.coordinator
    assert (c.function_name, c.memory_mb, c.reserved_concurrency) == (
        "r2-video-minimal-coordinator",
        512,
        50,
    )
    assert (c.log_retention_days, c.token_key_ids, c.alarm_topic_arn) == (30, ("k1",), None)


@pytest.mark.parametrize(
    ("jurisdiction", "region"), [("default", "us-east-1"), ("us", "us-east-1")]
)
def test_regional_hostnames_default_where_the_jurisdiction_has_a_region(jurisdiction, region):
    # default: no region to pin to; us: the Regional Services key "us".
    values = MINIMAL | {"r2-video:jurisdiction": jurisdiction, "r2-video:awsRegion": region}
    values["r2-video:zoneName"] = "example.eu"
    pulumi.runtime.set_all_config(values, [])
    settings = load_settings(pulumi.Config("r2-video"), stack="minimal")
    assert settings.edge.regional_hostnames is (jurisdiction == "us")


def test_every_stated_value_is_read():
    overrides = {
        "storageClass": "InfrequentAccess",
        "minTls": "1.3",
        "corsMaxAgeSeconds": "600",
        "abortMultipartAfterDays": "3",
        "tieredCache": "false",
        "regionalHostnames": "false",
        "signedDeliveryTtlSeconds": "600",
        "signedDeliveryKeyGenerations": json.dumps([2, 3]),
        "adoptCacheRulesetId": "0123456789abcdef0123456789abcdef",
        "adoptFirewallRulesetId": "fedcba9876543210fedcba9876543210",
        "mezzanineEncryption": "AES256",
        "mezzanineArchiveStorageClass": "DEEP_ARCHIVE",
        "coordinatorFunctionName": "video-coordinator",
        "coordinatorMemoryMb": "1024",
        "coordinatorReservedConcurrency": "20",
        "coordinatorLogRetentionDays": "90",
        "coordinatorTokenKeyIds": json.dumps(["k2", "k1"]),
        "coordinatorAlarmTopicArn": "arn:aws:sns:eu-central-1:222222222222:oncall",
    }
    s = settings_for("eu-prod", **overrides)
    assert (s.delivery.storage_class, s.delivery.min_tls) == ("InfrequentAccess", "1.3")
    assert (s.delivery.cors_max_age_seconds, s.delivery.abort_multipart_after_days) == (600, 3)
    assert (s.mezzanine.abort_multipart_after_days, s.mezzanine.encryption) == (3, "AES256")
    assert s.mezzanine.archive_storage_class == "DEEP_ARCHIVE"
    assert (s.mezzanine.noncurrent_version_days, s.mezzanine.archive_after_days) == (30, 90)
    assert (s.edge.tiered_cache, s.edge.regional_hostnames) == (False, False)
    assert (s.edge.manifest_ttl_seconds, s.edge.segment_ttl_seconds) == (2, ONE_YEAR_SECONDS)
    assert (s.edge.token_ttl_seconds, s.edge.playback_key_generations) == (600, (2, 3))
    assert (s.edge.adopt_cache_ruleset_id, s.edge.adopt_firewall_ruleset_id) == (
        "0123456789abcdef0123456789abcdef",
        "fedcba9876543210fedcba9876543210",
    )
    c = s.coordinator
    assert (c.function_name, c.memory_mb, c.reserved_concurrency) == ("video-coordinator", 1024, 20)
    assert (c.log_retention_days, c.token_key_ids) == (90, ("k2", "k1"))
    assert c.alarm_topic_arn == "arn:aws:sns:eu-central-1:222222222222:oncall"
    assert s.sippy is not None and s.sippy.source_bucket == _SIPPY["sourceBucket"]
    assert s.delivery.lifecycle[0].prefix == "vod/"
    assert s.delivery.lifecycle[0].infrequent_access_after_days == 90
    assert s.delivery.lifecycle[1].expire_after_days == 30


def _delivery(**overrides):
    base = {
        "account_id": "0123456789abcdef0123456789abcdef",
        "bucket_name": "media",
        "jurisdiction": Jurisdiction.EU,
        "zone_id": "00112233445566778899aabbccddeeff",
        "zone_name": "example.eu",
    }
    return DeliveryBucketArgs(**(base | overrides))


def test_component_args_name_every_bad_field():
    with pytest.raises(ArgsError) as caught:
        _delivery(bucket_name="Media_Bucket", min_tls="1.0", cors_max_age_seconds=90000)
    assert {name for name, _ in caught.value.problems} == {
        "bucket_name",
        "min_tls",
        "cors_max_age_seconds",
    }
    assert isinstance(caught.value, ValueError)


def test_mezzanine_args_refuse_dotted_and_reserved_names():
    for name in ("my.bucket", "xn--bucket", "bucket-s3alias", "ab"):
        with pytest.raises(ArgsError):
            MezzanineBucketArgs(bucket_name=name)
    with pytest.raises(ArgsError) as caught:
        MezzanineBucketArgs(
            bucket_name="fine-name", encryption="AES256", kms_key_arn="arn:aws:kms:x"
        )
    assert [name for name, _ in caught.value.problems] == ["kms_key_arn"]


@pytest.mark.parametrize(
    ("origin", "ok"),
    [
        ("https://player.example.com", True),
        ("https://player.example.com:8443", True),
        ("https://player.example.com/", False),
        ("https://player.example.com/path", False),
        ("https://user@player.example.com", False),
        ("ftp://player.example.com", False),
        ("http://player.example.com", False),
        ("https://player.example.com:99999", False),
        ("*", False),
    ],
)
def test_origin_check(origin, ok):
    assert is_origin(origin, allow_http=False) is ok


def test_omitted_and_spelled_out_defaults():
    dev = settings_for("dev", cloudflarePlan=None, tieredCache="TRUE", signedDelivery="False")
    assert (dev.edge.plan, dev.edge.tiered_cache, dev.edge.signed_delivery) == ("free", True, False)
    kms = "arn:aws:kms:eu-central-1:222222222222:key/abc"
    assert settings_for(mezzanineKmsKeyArn=kms).mezzanine.kms_key_arn == kms


def test_a_crossing_sippy_source_is_accepted_when_acknowledged():
    sippy = json.dumps(_SIPPY | {"sourceRegion": "us-east-1", "acknowledgeCrossBorder": True})
    settings = settings_for(sippy=sippy)
    assert settings.sippy is not None
    assert (settings.sippy.source_region, settings.sippy.acknowledge_cross_border) == (
        "us-east-1",
        True,
    )
    assert settings.sippy.user_name == "r2-video-eu-prod-sippy"
    assert settings.sippy.bucket_name == "video-eu-prod-delivery"
    assert settings_for(sippy=None).sippy is None


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        ({"corsOrigins": json.dumps([1])}, "corsOrigins", "must be a list of strings"),
        (
            {"sippy": json.dumps(_SIPPY | {"sourceBucket": "Not_A_Bucket"})},
            "sippy",
            "must be an S3 bucket name (3-63 lowercase letters, digits or hyphens)",
        ),
    ],
)
def test_more_single_refusals(overrides, key, message):
    assert sole_problem("eu-prod", overrides)[:2] == (key, message)


def test_every_bad_lifecycle_entry_is_reported():
    entries = [{"nope": 1}, {"prefix": "x/", "expireAfterDays": "1"}, {"prefix": "y/"}]
    with pytest.raises(SettingsError) as caught:
        settings_for(deliveryLifecycle=json.dumps(entries))
    assert [(p.key, p.message) for p in caught.value.problems] == [
        ("deliveryLifecycle", _LIFECYCLE_SHAPE),
        ("deliveryLifecycle", "entry 1: days must be whole numbers"),
        ("deliveryLifecycle", "rule for prefix 'y/' does nothing: set a transition or an expiry"),
    ]


@pytest.mark.parametrize(
    ("sippy", "problems"),
    [
        (
            _SIPPY | {"b": 1, "a": 2},
            [
                (
                    "sippy",
                    "unknown field(s) a, b; known: acknowledgeCrossBorder, sourceBucket,"
                    " sourceRegion",
                )
            ],
        ),
        ({"sourceBucket": _SIPPY["sourceBucket"]}, [("sippy", "'' is not an AWS region name")]),
        (
            # Not a boolean: no acknowledgement, so the crossing is refused too.
            _SIPPY | {"sourceRegion": "us-east-1", "acknowledgeCrossBorder": "yes"},
            [
                ("sippy", "acknowledgeCrossBorder must be true or false"),
                (
                    "sippy",
                    "'us-east-1' lies outside jurisdiction 'eu': Sippy would copy data across a"
                    " border; set acknowledgeCrossBorder: true if that is intended",
                ),
            ],
        ),
    ],
)
def test_sippy_problems(sippy, problems):
    with pytest.raises(SettingsError) as caught:
        settings_for(sippy=json.dumps(sippy))
    assert [(p.key, p.message) for p in caught.value.problems] == problems


def test_a_stack_name_too_long_for_the_sippy_user_names_the_sippy_setting():
    # The IAM user is r2-video-<stack>-sippy; IAM user names are at most 64 characters.
    stack = "s" * 50
    values = dict(load_stack_config("eu-prod").values)
    values["r2-video:coordinatorFunctionName"] = "video-coordinator"
    pulumi.runtime.set_all_config(values, [])
    with pytest.raises(SettingsError) as caught:
        load_settings(pulumi.Config("r2-video"), stack=stack)
    assert [(p.key, p.message) for p in caught.value.problems] == [
        ("sippy", "must be 1-64 characters (IAM limit)")
    ]


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("abortMultipartAfterDays", "must be between 1 and 365"),
        ("signedDeliveryTtlSeconds", "must be between 1 and 604800"),
        ("coordinatorMemoryMb", "must be between 128 and 10240 (MB)"),
        (
            "coordinatorReservedConcurrency",
            "must be between 1 and 10000 (and leave the account 100 unreserved)",
        ),
        (
            "coordinatorLogRetentionDays",
            "0 is not a CloudWatch retention; use one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150,"
            " 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653",
        ),
    ],
)
def test_an_explicit_zero_is_judged_as_zero(key, message):
    assert sole_problem("eu-prod", {key: "0"})[:2] == (key, message)


def test_a_zero_cors_max_age_is_kept():
    assert settings_for(corsMaxAgeSeconds="0").delivery.cors_max_age_seconds == 0


def test_a_missing_zone_name_is_required():
    with pytest.raises(SettingsError) as caught:
        settings_for(zoneName=None)
    assert [(p.key, p.message) for p in caught.value.problems] == [
        ("zoneName", "is required"),
        ("deliveryHostnames", "'media.example.eu' is not inside zone ''"),
        ("deliveryHostnames", "'live.example.eu' is not inside zone ''"),
    ]


def test_a_missing_region_is_not_compared_with_arns():
    kms = "arn:aws:kms:eu-central-1:222222222222:key/abc"
    topic = "arn:aws:sns:eu-central-1:222222222222:oncall"
    overrides = {"awsRegion": None, "mezzanineKmsKeyArn": kms, "coordinatorAlarmTopicArn": topic}
    assert sole_problem("eu-prod", overrides)[:2] == ("awsRegion", "is required")


def test_the_program_reads_its_own_namespace_by_default():
    pulumi.runtime.set_all_config(dict(load_stack_config("eu-prod").values), [])
    assert load_settings(stack="eu-prod").delivery.bucket_name == "video-eu-prod-delivery"
