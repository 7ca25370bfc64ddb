"""The real program, run under Pulumi's mocks for each example stack."""

from __future__ import annotations

import json

import pytest

from coordinator.endpoints import Jurisdiction, r2_endpoint
from infra.residency import EU_REGIONS, GOVCLOUD_REGIONS
from infra.review.offline import SECRET, Synthesis
from tests.infra.conftest import EXAMPLE_STACKS

R2_BUCKET = "cloudflare:index/r2Bucket:R2Bucket"
R2_CHILDREN = (
    "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle",
    "cloudflare:index/r2BucketCors:R2BucketCors",
    "cloudflare:index/r2ManagedDomain:R2ManagedDomain",
    "cloudflare:index/r2CustomDomain:R2CustomDomain",
)
S3_BUCKET = "aws:s3/bucket:Bucket"
KMS_KEY = "aws:kms/key:Key"
AWS_PROVIDER = "pulumi:providers:aws"


def only(plan: Synthesis, type_token: str):
    found = plan.of_type(type_token)
    assert len(found) == 1, f"{plan.stack}: expected one {type_token}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_example_stack_synthesizes_the_expected_resources(planned, stack):
    plan = planned[stack]
    types = {r.type for r in plan.resources}
    for expected in (R2_BUCKET, *R2_CHILDREN, S3_BUCKET, AWS_PROVIDER):
        assert expected in types, f"{stack}: no {expected}"
    assert plan.outputs["delivery_bucket"] == only(plan, R2_BUCKET).inputs["name"]


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_r2_child_carries_the_bucket_jurisdiction(planned, stack):
    plan = planned[stack]
    bucket = only(plan, R2_BUCKET)
    children = [r for r in plan.resources if r.type in R2_CHILDREN]
    assert len(children) >= 4
    for child in children:
        assert child.inputs.get("jurisdiction") == bucket.inputs["jurisdiction"], child.urn
        assert child.inputs.get("bucketName") == bucket.inputs["name"], child.urn
    assert plan.outputs["jurisdiction"] == bucket.inputs["jurisdiction"]


@pytest.mark.parametrize(
    ("jurisdiction", "host"),
    [
        ("default", "0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"),
        ("eu", "0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com"),
        ("fedramp", "0123456789abcdef0123456789abcdef.fedramp.r2.cloudflarestorage.com"),
        # Cloudflare changelog 2026-08-17 "R2 US jurisdiction".
        ("us", "0123456789abcdef0123456789abcdef.us.r2.cloudflarestorage.com"),
    ],
)
def test_endpoint_per_jurisdiction(jurisdiction, host):
    assert r2_endpoint("0123456789abcdef0123456789abcdef", jurisdiction) == f"https://{host}"


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_exported_endpoint_is_the_one_for_the_bucket_jurisdiction(planned, stack):
    plan = planned[stack]
    bucket = only(plan, R2_BUCKET)
    assert plan.outputs["r2_endpoint"] == r2_endpoint(
        bucket.inputs["accountId"], bucket.inputs["jurisdiction"]
    )


def _aws_regions_and_arns(plan: Synthesis) -> tuple[set[str], list[str]]:
    regions = {r.inputs["region"] for r in plan.of_type(AWS_PROVIDER)}
    text = json.dumps([r.inputs for r in plan.resources] + [plan.outputs])
    arns = [chunk.split('"')[0] for chunk in text.split("arn:")[1:]]
    return regions, arns


def test_eu_stack_has_nothing_outside_the_eu(planned):
    plan = planned["eu-prod"]
    regions, arns = _aws_regions_and_arns(plan)
    assert regions and regions <= EU_REGIONS
    assert arns and all(a.startswith(("aws:", "${")) for a in arns), arns
    assert {
        r.inputs.get("jurisdiction")
        for r in plan.resources
        if r.type.startswith("cloudflare:index/r2")
    } == {"eu"}
    assert ".eu.r2.cloudflarestorage.com" in plan.outputs["r2_endpoint"]
    assert only(plan, R2_BUCKET).inputs["location"] in ("weur", "eeur")


def test_fedramp_stack_has_nothing_outside_govcloud_and_fedramp(planned):
    plan = planned["fedramp"]
    regions, arns = _aws_regions_and_arns(plan)
    assert regions and regions <= GOVCLOUD_REGIONS
    assert arns and all(a.startswith("aws-us-gov:") for a in arns), arns
    assert {
        r.inputs.get("jurisdiction")
        for r in plan.resources
        if r.type.startswith("cloudflare:index/r2")
    } == {"fedramp"}
    assert ".fedramp.r2.cloudflarestorage.com" in plan.outputs["r2_endpoint"]


@pytest.mark.parametrize("stack", ["eu-prod", "fedramp"])
def test_prod_protects_and_retains_every_data_holder(planned, stack):
    plan = planned[stack]
    holders = plan.of_type(R2_BUCKET) + plan.of_type(S3_BUCKET) + plan.of_type(KMS_KEY)
    assert len(holders) == 3
    for r in holders:
        assert r.protect and r.retain_on_delete, r.urn
    assert only(plan, S3_BUCKET).inputs["forceDestroy"] is False


@pytest.mark.parametrize("stack", ["eu-prod", "fedramp"])
def test_prod_never_enables_r2_dev(planned, stack):
    managed = only(planned[stack], "cloudflare:index/r2ManagedDomain:R2ManagedDomain")
    assert managed.inputs["enabled"] is False, managed.urn


def test_dev_stack_can_be_destroyed_cleanly(planned):
    plan = planned["dev"]
    assert not any(r.protect or r.retain_on_delete for r in plan.resources)
    assert only(plan, S3_BUCKET).inputs["forceDestroy"] is True


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_custom_domains_require_tls_1_2_or_higher(planned, stack):
    domains = planned[stack].of_type("cloudflare:index/r2CustomDomain:R2CustomDomain")
    assert domains
    for domain in domains:
        assert domain.inputs["minTls"] in ("1.2", "1.3"), domain.urn
        assert domain.inputs["zoneId"], domain.urn


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_mezzanine_bucket_states_every_secure_setting(planned, stack):
    plan = planned[stack]
    block = only(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for flag in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        assert block.inputs[flag] is True, f"{block.urn}: {flag}"
    ownership = only(plan, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    versioning = only(plan, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    encryption = only(
        plan,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )
    default = encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] in ("aws:kms", "AES256")
    lifecycle = only(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    ids = {rule["id"] for rule in lifecycle.inputs["rules"]}
    assert {"abort-incomplete-multipart", "expire-noncurrent-versions"} <= ids


@pytest.mark.parametrize("stack", ["eu-prod", "fedramp"])
def test_prod_mezzanine_uses_sse_kms_with_a_bucket_key_and_a_rotated_key(planned, stack):
    plan = planned[stack]
    encryption = only(
        plan,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )
    rule = encryption.inputs["rules"][0]
    key = only(plan, KMS_KEY)
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert (
        rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"]
        == plan.outputs["mezzanine_kms_key_arn"]
    )
    assert rule["bucketKeyEnabled"] is True
    assert key.inputs["enableKeyRotation"] is True


@pytest.mark.parametrize(
    ("stack", "partition"), [("dev", "aws"), ("eu-prod", "aws"), ("fedramp", "aws-us-gov")]
)
def test_tls_only_policy_denies_plain_http_with_the_right_partition(planned, stack, partition):
    plan = planned[stack]
    bucket = only(plan, S3_BUCKET).inputs["bucket"]
    policy = json.loads(only(plan, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    arn = f"arn:{partition}:s3:::{bucket}"
    assert sorted(statement["Resource"]) == [arn, f"{arn}/*"]
    assert plan.outputs["mezzanine_bucket_arn"] == arn


def test_lifecycle_keeps_the_abort_rule_and_adds_prefix_rules(planned):
    lifecycle = only(planned["eu-prod"], "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle")
    rules = {rule["id"]: rule for rule in lifecycle.inputs["rules"]}
    abort = rules["abort-incomplete-multipart"]
    assert abort["conditions"]["prefix"] == ""
    assert abort["abortMultipartUploadsTransition"]["condition"] == {
        "type": "Age",
        "maxAge": 7 * 86400,
    }
    vod = rules["prefix-vod/"]
    assert vod["storageClassTransitions"] == [
        {"storageClass": "InfrequentAccess", "condition": {"type": "Age", "maxAge": 90 * 86400}}
    ]
    assert rules["prefix-previews/"]["deleteObjectsTransition"]["condition"]["maxAge"] == 30 * 86400


def test_cors_lets_players_read_ranges(planned):
    cors = only(planned["eu-prod"], "cloudflare:index/r2BucketCors:R2BucketCors")
    (rule,) = cors.inputs["rules"]
    assert rule["allowed"]["origins"] == ["https://player.example.eu"]
    assert sorted(rule["allowed"]["methods"]) == ["GET", "HEAD"]
    assert rule["allowed"]["headers"] == ["Range"]
    assert {"Content-Length", "Content-Range", "ETag"} <= set(rule["exposeHeaders"])
    assert rule["maxAgeSeconds"] == 7200


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_cloud_resource_names_an_explicit_provider(planned, stack):
    plan = planned[stack]
    providers = {r.urn for r in plan.resources if r.type.startswith("pulumi:providers:")}
    for r in plan.resources:
        if r.custom and not r.type.startswith("pulumi:providers:"):
            assert r.provider in providers, f"{r.urn} uses provider {r.provider!r}"


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_aws_provider_is_pinned_to_the_stack_account_and_region(planned, stack):
    from infra.review.plan import load_stack_config

    config = load_stack_config(stack).values
    provider = only(planned[stack], AWS_PROVIDER)
    assert provider.inputs["allowedAccountIds"] == [config["r2-video:awsAccountId"]]
    assert provider.inputs["region"] == config["r2-video:awsRegion"]


def test_a_secret_cloudflare_token_never_reaches_the_plan(plan_with):
    from infra.review.offline import synthesize
    from infra.review.plan import load_stack_config, render_json

    config = load_stack_config("eu-prod")
    values = dict(config.values) | {"cloudflare:apiToken": "cf-token-that-must-not-leak-123"}
    plan = synthesize("eu-prod", values, secret_keys=["cloudflare:apiToken"])
    text = render_json(plan)
    assert "cf-token-that-must-not-leak-123" not in text
    provider = only(plan, "pulumi:providers:cloudflare")
    assert provider.inputs["apiToken"] == SECRET


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_the_plan_is_stable_byte_for_byte(planned, plan_with, stack):
    from infra.review.plan import render_json

    assert render_json(plan_with(stack)) == render_json(planned[stack])


def test_adding_a_hostname_never_renames_the_existing_domains(plan_with, planned):
    before = {r.urn for r in planned["eu-prod"].resources}
    after = plan_with(
        "eu-prod",
        deliveryHostnames=json.dumps(["new.example.eu", "media.example.eu", "live.example.eu"]),
    )
    assert before < {r.urn for r in after.resources}


def test_given_kms_key_is_used_instead_of_creating_one(plan_with):
    arn = "arn:aws:kms:eu-central-1:222222222222:key/11111111-2222-3333-4444-555555555555"
    plan = plan_with("eu-prod", mezzanineKmsKeyArn=arn)
    assert not plan.of_type(KMS_KEY)
    assert plan.outputs["mezzanine_kms_key_arn"] == arn


def test_jurisdiction_values_match_the_enum():
    # R2 data-location docs plus the changelog of 2026-08-17 (`us`).
    assert {j.value for j in Jurisdiction} == {"default", "eu", "fedramp", "us"}


def test_a_plan_runs_after_asyncio_run_left_the_thread_without_an_event_loop():
    # asyncio.run() ends with set_event_loop(None); Pulumi's mocks need a loop for the root
    # Stack's futures. Under pytest-xdist a plan may follow any coordinator test in a worker.
    import asyncio

    from infra.review.plan import plan_stack

    asyncio.run(asyncio.sleep(0))
    assert plan_stack("dev").resources
