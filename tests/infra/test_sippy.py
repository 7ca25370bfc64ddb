"""Sippy migration under mocks: least-privilege reader, bucket-scoped R2 token, secrets, borders."""

from __future__ import annotations

import json

import pytest

from infra.components.r2_credentials import (
    BUCKET_ITEM_READ,
    BUCKET_ITEM_WRITE,
    s3_secret_access_key,
)
from infra.components.sippy import source_read_policy
from infra.review.offline import (
    FAKE_AWS_ACCESS_KEY_ID,
    FAKE_AWS_SECRET_ACCESS_KEY,
    FAKE_R2_TOKEN_VALUE,
)
from infra.review.plan import render_json
from infra.settings import SettingsError

SIPPY = "cloudflare:index/r2BucketSippy:R2BucketSippy"


def sippy_config(bucket="example-legacy", region="eu-central-1", **extra):
    return json.dumps({"sourceBucket": bucket, "sourceRegion": region, **extra})


def only(plan, type_token, name_part=""):
    found = [r for r in plan.of_type(type_token) if name_part in r.name]
    assert len(found) == 1, f"{type_token} {name_part!r}: {[r.urn for r in found]}"
    return found[0]


def test_sippy_is_off_unless_configured(planned):
    assert not planned["dev"].of_type(SIPPY)
    assert not planned["fedramp"].of_type(SIPPY)


def test_sippy_on_the_eu_bucket_carries_its_jurisdiction_and_the_source(planned):
    plan = planned["eu-prod"]
    sippy = only(plan, SIPPY)
    bucket = only(plan, "cloudflare:index/r2Bucket:R2Bucket")
    assert sippy.inputs["jurisdiction"] == "eu" == bucket.inputs["jurisdiction"]
    assert sippy.inputs["bucketName"] == bucket.inputs["name"]
    source = sippy.inputs["source"]
    assert (source["cloudProvider"], source["bucket"], source["region"]) == (
        "aws",
        "example-video-eu-legacy-renditions",
        "eu-central-1",
    )
    assert sippy.inputs["destination"]["cloudProvider"] == "r2"


def test_every_sippy_key_is_a_secret_in_the_plan(planned):
    sippy = only(planned["eu-prod"], SIPPY)
    for side in ("source", "destination"):
        assert sippy.inputs[side]["accessKeyId"] == "[secret]", side
        assert sippy.inputs[side]["secretAccessKey"] == "[secret]", side
    text = render_json(planned["eu-prod"])
    for value in (
        FAKE_AWS_ACCESS_KEY_ID,
        FAKE_AWS_SECRET_ACCESS_KEY,
        FAKE_R2_TOKEN_VALUE,
        s3_secret_access_key(FAKE_R2_TOKEN_VALUE),
    ):
        assert value not in text


def test_the_reader_may_only_list_the_source_and_get_its_objects(planned):
    policy = json.loads(only(planned["eu-prod"], "aws:iam/userPolicy:UserPolicy").inputs["policy"])
    allowed = {(s["Effect"], s["Action"], s["Resource"]) for s in policy["Statement"]}
    arn = "arn:aws:s3:::example-video-eu-legacy-renditions"
    assert allowed == {("Allow", "s3:ListBucket", arn), ("Allow", "s3:GetObject", f"{arn}/*")}


def test_source_policy_uses_the_partition():
    policy = json.loads(source_read_policy("aws-us-gov", "old"))
    assert {s["Resource"] for s in policy["Statement"]} == {
        "arn:aws-us-gov:s3:::old",
        "arn:aws-us-gov:s3:::old/*",
    }


def test_the_r2_token_reads_and_writes_only_the_delivery_bucket(planned):
    plan = planned["eu-prod"]
    token = only(plan, "cloudflare:index/accountToken:AccountToken", "migration")
    (policy,) = token.inputs["policies"]
    resources = json.loads(policy["resources"])
    account = "0123456789abcdef0123456789abcdef"
    assert resources == {f"com.cloudflare.edge.r2.bucket.{account}_eu_video-eu-prod-delivery": "*"}
    from infra.review.offline import FAKE_PERMISSION_GROUPS

    wanted = {FAKE_PERMISSION_GROUPS[BUCKET_ITEM_READ], FAKE_PERMISSION_GROUPS[BUCKET_ITEM_WRITE]}
    assert {g["id"] for g in policy["permissionGroups"]} == wanted


def test_the_coordinator_token_still_only_writes(planned):
    from infra.review.offline import FAKE_PERMISSION_GROUPS

    token = only(planned["eu-prod"], "cloudflare:index/accountToken:AccountToken", "coordinator")
    (policy,) = token.inputs["policies"]
    assert [g["id"] for g in policy["permissionGroups"]] == [
        FAKE_PERMISSION_GROUPS[BUCKET_ITEM_WRITE]
    ]


def test_a_source_outside_the_jurisdiction_is_refused_without_acknowledgement(plan_with):
    with pytest.raises(SettingsError) as caught:
        plan_with("eu-prod", sippy=sippy_config(region="us-east-1"))
    assert "r2-video:sippy: 'us-east-1' lies outside jurisdiction 'eu'" in str(caught.value)
    assert "--path 'r2-video:sippy.sourceBucket'" in str(caught.value)


def test_an_acknowledged_crossing_is_planned_with_a_warning(plan_with):
    plan = plan_with("eu-prod", sippy=sippy_config(region="us-east-1", acknowledgeCrossBorder=True))
    assert only(plan, SIPPY).inputs["source"]["region"] == "us-east-1"
    assert any("crosses a border" in w for w in plan.warnings), plan.warnings


def test_a_source_in_another_partition_is_refused(plan_with):
    with pytest.raises(SettingsError) as caught:
        plan_with(
            "eu-prod", sippy=sippy_config(region="us-gov-west-1", acknowledgeCrossBorder=True)
        )
    assert "partition aws-us-gov" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (sippy_config(bucket="Bad.Bucket"), "must be an S3 bucket name"),
        (sippy_config(region="mars"), "is not an AWS region name"),
        (sippy_config(sourceBuckett="x"), "unknown field(s) sourceBuckett"),
        (
            sippy_config(acknowledgeCrossBorder="yes"),
            "acknowledgeCrossBorder must be true or false",
        ),
        ('["not", "a", "mapping"]', "must be a mapping"),
    ],
)
def test_bad_sippy_settings_name_the_key(plan_with, value, message):
    with pytest.raises(SettingsError) as caught:
        plan_with("eu-prod", sippy=value)
    assert message in str(caught.value)
