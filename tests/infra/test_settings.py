"""Stack settings: every problem reported at once, each with its key and the fix."""

from __future__ import annotations

import json

import pulumi
import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.endpoints import ALLOWED_LOCATION_HINTS, Jurisdiction
from infra.components.delivery import DeliveryBucketArgs
from infra.components.mezzanine import MezzanineBucketArgs
from infra.residency import EU_REGIONS, GOVCLOUD_REGIONS, allowed_region
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


def test_missing_required_keys_are_all_named():
    problems = problems_of(
        jurisdiction=None, awsRegion=None, mezzanineBucketName=None, environment=None
    )
    assert {"jurisdiction", "awsRegion", "mezzanineBucketName", "environment"} <= set(problems)
    assert all(problems[k] == "is required" for k in ("jurisdiction", "awsRegion", "environment"))


def test_eu_stack_refuses_a_region_outside_the_eu():
    # London carries the eu- prefix but is outside the EU.
    problems = problems_of(awsRegion="eu-west-2")
    assert "awsRegion" in problems and "EU region" in problems["awsRegion"]


def test_fedramp_stack_refuses_a_commercial_region():
    problems = problems_of("fedramp", awsRegion="us-east-1")
    assert "GovCloud" in problems["awsRegion"]


def test_default_stack_refuses_a_govcloud_region_by_accident():
    assert "awsRegion" in problems_of("dev", awsRegion="us-gov-west-1")


@given(
    st.sampled_from(list(Jurisdiction)),
    st.sampled_from(
        sorted(
            EU_REGIONS
            | GOVCLOUD_REGIONS
            | {"us-east-1", "us-west-2", "ap-south-1", "eu-west-2", "eu-central-2", "cn-north-1"}
            | {"eusc-de-east-1"}
        )
    ),
)
def test_region_rule_matches_the_jurisdiction(jurisdiction, region):
    expected = {
        # The European Sovereign Cloud is in the EU (partitions.json: "AWS European Sovereign
        # Cloud (Germany)").
        Jurisdiction.EU: region in EU_REGIONS or region == "eusc-de-east-1",
        Jurisdiction.FEDRAMP: region in GOVCLOUD_REGIONS,
        # The commercial partition's US regions in botocore's partitions.json.
        Jurisdiction.US: region in {"us-east-1", "us-east-2", "us-west-1", "us-west-2"},
        Jurisdiction.DEFAULT: not region.startswith(("us-gov-", "cn-", "eusc-")),
    }[jurisdiction]
    assert allowed_region(jurisdiction, region) is expected


def test_location_hint_must_be_lowercase():
    assert "lowercase" in problems_of(locationHint="WEUR")["locationHint"]


@pytest.mark.parametrize(
    ("stack", "hint"), [("eu-prod", "enam"), ("fedramp", "weur"), ("eu-prod", "apac")]
)
def test_location_hint_must_lie_inside_the_jurisdiction(stack, hint):
    assert "not allowed in jurisdiction" in problems_of(stack, locationHint=hint)["locationHint"]


def test_every_jurisdiction_allows_some_hint_and_no_hint():
    for jurisdiction, hints in ALLOWED_LOCATION_HINTS.items():
        assert hints, jurisdiction
    settings_for(locationHint=None)


def test_hostnames_must_be_valid_and_inside_the_zone():
    problems = problems_of(
        deliveryHostnames=json.dumps(["media.example.com", "Bad_Host.example.eu"])
    )
    assert "deliveryHostnames" in problems


def test_prod_refuses_r2_dev():
    assert "never on in prod" in problems_of(r2DevDomain="true")["r2DevDomain"]


def test_prod_needs_a_custom_domain():
    assert "deliveryHostnames" in problems_of(deliveryHostnames=json.dumps([]))


def test_prod_refuses_http_cors_origins_and_paths():
    problems = problems_of(
        corsOrigins=json.dumps(["http://player.example.eu", "https://p.example.eu/x"])
    )
    assert "corsOrigins" in problems


def test_account_ids_must_be_32_hex():
    problems = problems_of(
        cloudflareAccountId="0123456789ABCDEF0123456789ABCDEF", awsAccountId="12345"
    )
    assert {"cloudflareAccountId", "awsAccountId"} <= set(problems)


def test_kms_key_must_be_in_the_stack_region():
    problems = problems_of(mezzanineKmsKeyArn="arn:aws:kms:us-east-1:222222222222:key/abc")
    assert "mezzanineKmsKeyArn" in problems


def test_lifecycle_entries_are_checked():
    bad = [{"prefix": "/vod"}, {"prefix": "x/", "infrequentAccessAfterDays": 10}, {"nope": 1}]
    problems = problems_of(deliveryLifecycle=json.dumps(bad))
    assert "deliveryLifecycle" in problems


def test_lifecycle_must_be_a_list():
    assert "must be a list" in problems_of(deliveryLifecycle='{"prefix": "x"}')["deliveryLifecycle"]


def test_bad_numbers_and_flags_name_their_key():
    problems = problems_of(
        corsMaxAgeSeconds="a day", r2DevDomain="yes", mezzanineNoncurrentDays="0"
    )
    assert {"corsMaxAgeSeconds", "r2DevDomain", "mezzanineNoncurrentDays"} <= set(problems)


def test_list_keys_get_a_path_fix():
    with pytest.raises(SettingsError) as caught:
        settings_for(deliveryHostnames=json.dumps(["elsewhere.example.org"]))
    assert "--path 'r2-video:deliveryHostnames[0]'" in str(caught.value)


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
