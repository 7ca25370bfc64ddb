"""coordinator.endpoints: where an R2 bucket of each jurisdiction is reached, which token resource
names it, which location hints and Regional Services keys stay inside it, and which AWS partition
a region belongs to.

Every expected value is written out here from its source, never read from the module:
- R2 S3 endpoints: https://developers.cloudflare.com/r2/reference/data-location/ ("Using
  jurisdictions with the S3 API": ``https://<ACCOUNT_ID>.<JURISDICTION>.r2.cloudflarestorage.com``)
  and https://developers.cloudflare.com/r2/api/s3/tokens/ (default
  ``https://<ACCOUNT_ID>.r2.cloudflarestorage.com``); the ``us`` jurisdiction:
  https://developers.cloudflare.com/changelog/2026-08-17-r2-us-jurisdiction/
- token resource: https://developers.cloudflare.com/r2/api/s3/tokens/
  (``com.cloudflare.edge.r2.bucket.<ACCOUNT_ID>_<JURISDICTION>_<BUCKET>``, ``default`` when none)
- location hints: https://developers.cloudflare.com/r2/reference/data-location/ (wnam, enam:
  North America; weur, eeur: Europe; apac: Asia-Pacific; oc: Oceania)
- AWS partitions: botocore's own ``partitions.json`` (installed with boto3), loaded here as an
  independent oracle.
Pure functions, no I/O beyond reading botocore's data file once: the module runs in milliseconds.
"""

from __future__ import annotations

import botocore.loaders
import pytest

from coordinator.endpoints import (
    ALLOWED_LOCATION_HINTS,
    SIGV4_REGION,
    Jurisdiction,
    aws_partition,
    is_account_id,
    r2_endpoint,
    region_key,
    token_resource,
)

ACCOUNT = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("jurisdiction", "endpoint"),
    [
        ("default", f"https://{ACCOUNT}.r2.cloudflarestorage.com"),
        ("eu", f"https://{ACCOUNT}.eu.r2.cloudflarestorage.com"),
        ("fedramp", f"https://{ACCOUNT}.fedramp.r2.cloudflarestorage.com"),
        ("us", f"https://{ACCOUNT}.us.r2.cloudflarestorage.com"),
    ],
)
def test_each_jurisdiction_has_its_documented_s3_endpoint(jurisdiction: str, endpoint: str) -> None:
    assert r2_endpoint(ACCOUNT, jurisdiction) == endpoint
    assert r2_endpoint(ACCOUNT, Jurisdiction(jurisdiction)) == endpoint


def test_the_jurisdictions_are_exactly_r2s_four() -> None:
    # R2Bucket.jurisdiction in pulumi-cloudflare 6.23.1: "default", "eu", "fedramp", "us".
    assert sorted(j.value for j in Jurisdiction) == ["default", "eu", "fedramp", "us"]
    with pytest.raises(ValueError, match="'EU' is not a valid Jurisdiction"):
        r2_endpoint(ACCOUNT, "EU")
    with pytest.raises(ValueError, match="'apac' is not a valid Jurisdiction"):
        r2_endpoint(ACCOUNT, "apac")


def test_the_sigv4_region_is_auto() -> None:
    # https://developers.cloudflare.com/r2/api/s3/api/ : "region: auto".
    assert SIGV4_REGION == "auto"


@pytest.mark.parametrize(
    ("jurisdiction", "resource"),
    [
        ("default", f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_default_media"),
        ("eu", f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_eu_media"),
        ("fedramp", f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_fedramp_media"),
        ("us", f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_us_media"),
    ],
)
def test_token_resource_names_one_bucket_in_one_jurisdiction(
    jurisdiction: str, resource: str
) -> None:
    assert token_resource(ACCOUNT, jurisdiction, "media") == resource


def test_token_resource_refuses_an_empty_bucket() -> None:
    with pytest.raises(ValueError, match=r"^bucket must not be empty$"):
        token_resource(ACCOUNT, "eu", "")


@pytest.mark.parametrize(
    "account",
    [
        ACCOUNT.upper(),  # Cloudflare ids are lowercase hex
        ACCOUNT[:-1],  # 31
        ACCOUNT + "0",  # 33
        "g" * 32,  # not hex
        "",
        f" {ACCOUNT[1:]}",
        f"{ACCOUNT}\n",
    ],
)
def test_an_account_id_is_32_lowercase_hex_characters(account: str) -> None:
    assert not is_account_id(account)
    message = f"account_id must be 32 lowercase hex characters, got {account!r}"
    for build in (r2_endpoint, lambda a, j: token_resource(a, j, "media")):
        with pytest.raises(ValueError) as refused:
            build(account, "eu")
        assert str(refused.value) == message
    assert is_account_id(ACCOUNT)


def test_location_hints_stay_inside_the_jurisdiction() -> None:
    documented = {
        Jurisdiction.DEFAULT: {"wnam", "enam", "weur", "eeur", "apac", "oc"},
        Jurisdiction.EU: {"weur", "eeur"},  # Western and Eastern Europe
        Jurisdiction.FEDRAMP: {"wnam", "enam"},  # Western and Eastern North America
        Jurisdiction.US: {"wnam", "enam"},
    }
    assert documented == ALLOWED_LOCATION_HINTS


@pytest.mark.parametrize(
    ("jurisdiction", "key"),
    [("default", None), ("eu", "eu"), ("fedramp", "fedramp"), ("us", "us")],
)
def test_regional_services_key_per_jurisdiction(jurisdiction: str, key: str | None) -> None:
    # Regional Services region keys (developers.cloudflare.com/data-localization/region-support/):
    # "us" allows US data centers that are not FedRAMP-certified, so FedRAMP needs "fedramp";
    # no residency promise (default) pins nothing.
    assert region_key(jurisdiction) == key
    assert region_key(Jurisdiction(jurisdiction)) == key


# --- AWS partitions, against botocore's partitions.json -------------------------------------

_PARTITIONS = botocore.loaders.Loader().load_data("partitions")["partitions"]
# The partitions a stack may use; the isolated ones (aws-iso*) are not supported.
_SUPPORTED = {
    "aws": "amazonaws.com",
    "aws-us-gov": "amazonaws.com",
    "aws-cn": "amazonaws.com.cn",
    "aws-eusc": "amazonaws.eu",
}
_BOTOCORE_REGIONS = [
    (region, partition["id"])
    for partition in _PARTITIONS
    for region in partition["regions"]
    if not region.endswith("-global")  # pseudo-regions (aws-global), not region names
]


def test_every_botocore_region_is_in_its_own_partition_or_none() -> None:
    assert len(_BOTOCORE_REGIONS) > 40  # the oracle was read
    for region, partition_id in _BOTOCORE_REGIONS:
        found = aws_partition(region)
        if partition_id in _SUPPORTED:
            assert found is not None, region
            assert (found.name, found.dns_suffix) == (partition_id, _SUPPORTED[partition_id])
        else:
            assert found is None, (region, found)


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("eu-central-2", "aws"),  # Zurich: AWS standard partition (not EU membership)
        ("us-gov-west-1", "aws-us-gov"),
        ("cn-northwest-1", "aws-cn"),
        ("eusc-de-east-1", "aws-eusc"),
        ("us-east-17", "aws"),  # a future region of a known pattern
        ("mars-east-1", None),
        ("us-east", None),
        ("US-EAST-1", None),
        ("us-east-1 ", None),
        ("us-east-\u0661", None),  # ARABIC-INDIC DIGIT ONE is a \\d only outside ASCII mode
        ("eusc-fr-east-1", None),  # the European Sovereign Cloud has only "de" so far
    ],
)
def test_region_names_map_to_partitions(region: str, partition: str | None) -> None:
    found = aws_partition(region)
    assert (found.name if found else None) == partition
