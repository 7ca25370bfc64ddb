"""The AWS side of a jurisdiction, stated from its sources (issue 17, item 2).

Every expected value here is written out from the world, never imported from
``infra/residency.py`` or ``coordinator/endpoints.py``: a wrong table there must fail here.

Sources:
- AWS regions and where they are: https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html
- EU member states: https://european-union.europa.eu/principles-countries-history/eu-countries_en
  (the UK left on 2020-01-31; Switzerland never joined)
- Partitions, their regions and DNS suffixes: botocore/data/endpoints.json and partitions.json
  (installed with boto3; AWS European Sovereign Cloud: partition aws-eusc, suffix amazonaws.eu)
- Service principals: terraform-provider-aws
  internal/service/meta/service_principal_data_source.go (servicePrincipalNameForPartition)
"""

from __future__ import annotations

import json
from pathlib import Path

import botocore
import pytest

from coordinator.endpoints import Jurisdiction
from infra.residency import (
    allowed_region,
    dns_suffix_of,
    is_region_name,
    partition_of,
    region_rule,
    service_principal,
)

# AWS regions physically in an EU member state (aws-regions.html; eu-countries_en).
EU_MEMBER_STATE_REGIONS = {
    "eu-central-1",  # Frankfurt, Germany
    "eu-west-1",  # Ireland
    "eu-west-3",  # Paris, France
    "eu-south-1",  # Milan, Italy
    "eu-south-2",  # Aragón, Spain
    "eu-north-1",  # Stockholm, Sweden
    "eusc-de-east-1",  # AWS European Sovereign Cloud (Germany): botocore endpoints.json
}
NOT_EU_BUT_EU_PREFIXED = {
    "eu-west-2",  # London, United Kingdom: left the EU
    "eu-central-2",  # Zurich, Switzerland: not an EU member
}
# The commercial partition's regions in the United States (aws-regions.html).
US_COMMERCIAL_REGIONS = {
    "us-east-1",  # N. Virginia
    "us-east-2",  # Ohio
    "us-west-1",  # N. California
    "us-west-2",  # Oregon
}
# AWS GovCloud (US): https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/using-govcloud-regions.html
GOVCLOUD_REGIONS = {"us-gov-west-1", "us-gov-east-1"}
# Partition of a region and its DNS suffix (botocore endpoints.json).
PARTITION_FACTS = {
    "us-east-1": ("aws", "amazonaws.com"),
    "eu-central-2": ("aws", "amazonaws.com"),
    "ap-southeast-7": ("aws", "amazonaws.com"),
    "mx-central-1": ("aws", "amazonaws.com"),
    "il-central-1": ("aws", "amazonaws.com"),
    "us-gov-west-1": ("aws-us-gov", "amazonaws.com"),
    "us-gov-east-1": ("aws-us-gov", "amazonaws.com"),
    "cn-north-1": ("aws-cn", "amazonaws.com.cn"),
    "cn-northwest-1": ("aws-cn", "amazonaws.com.cn"),
    "eusc-de-east-1": ("aws-eusc", "amazonaws.eu"),
}
NOT_REGIONS = ("mars-1", "", "eu-central", "EU-CENTRAL-1", "eu-central-1 ", "xx-east-1")


def _botocore_regions() -> dict[str, str]:
    """Every region botocore knows -> its partition (the enumeration, not the answer)."""
    data = json.loads(
        (Path(botocore.__file__).parent / "data" / "endpoints.json").read_text(encoding="utf-8")
    )
    return {region: p["partition"] for p in data["partitions"] for region in p["regions"]}


BOTOCORE_REGIONS = _botocore_regions()
# The partitions this project deploys to; the ISO partitions (aws-iso*) are out of scope.
SUPPORTED_PARTITIONS = {"aws", "aws-us-gov", "aws-cn", "aws-eusc"}


def test_the_written_out_facts_name_real_regions():
    named = EU_MEMBER_STATE_REGIONS | NOT_EU_BUT_EU_PREFIXED | US_COMMERCIAL_REGIONS
    assert named | GOVCLOUD_REGIONS | set(PARTITION_FACTS) <= set(BOTOCORE_REGIONS)
    assert {BOTOCORE_REGIONS[r] for r in PARTITION_FACTS} == SUPPORTED_PARTITIONS


@pytest.mark.parametrize("region", sorted(BOTOCORE_REGIONS))
def test_every_region_is_allowed_exactly_where_it_lies(region):
    partition = BOTOCORE_REGIONS[region]
    expected = {
        Jurisdiction.EU: region in EU_MEMBER_STATE_REGIONS,
        Jurisdiction.FEDRAMP: region in GOVCLOUD_REGIONS,
        Jurisdiction.US: region in US_COMMERCIAL_REGIONS,
        # No residency promise, but never a sovereign or isolated partition by accident.
        Jurisdiction.DEFAULT: partition == "aws",
    }
    assert {j: allowed_region(j, region) for j in Jurisdiction} == expected


@pytest.mark.parametrize("region", sorted(NOT_EU_BUT_EU_PREFIXED))
def test_london_and_zurich_are_not_eu_regions(region):
    assert not allowed_region(Jurisdiction.EU, region)
    assert allowed_region(Jurisdiction.DEFAULT, region)


@pytest.mark.parametrize("region", NOT_REGIONS)
def test_a_name_no_partition_has_is_no_region_anywhere(region):
    assert not is_region_name(region)
    assert [j for j in Jurisdiction if allowed_region(j, region)] == []
    # Unknown names answer the commercial partition, as the providers fall back.
    assert (partition_of(region), dns_suffix_of(region)) == ("aws", "amazonaws.com")


@pytest.mark.parametrize(("region", "facts"), sorted(PARTITION_FACTS.items()))
def test_partition_and_dns_suffix_of_a_region(region, facts):
    assert is_region_name(region)
    assert (partition_of(region), dns_suffix_of(region)) == facts


@pytest.mark.parametrize(
    ("service", "region", "principal"),
    [
        ("lambda", "eu-central-1", "lambda.amazonaws.com"),
        ("lambda", "cn-north-1", "lambda.amazonaws.com"),
        ("lambda", "eusc-de-east-1", "lambda.amazonaws.com"),
        ("apigateway", "us-gov-west-1", "apigateway.amazonaws.com"),
        # The exceptions keep the global form in aws and aws-us-gov.
        ("logs", "us-east-1", "logs.amazonaws.com"),
        ("logs", "us-gov-east-1", "logs.amazonaws.com"),
    ],
)
def test_service_principal(service, region, principal):
    assert service_principal(service, region) == principal


@pytest.mark.parametrize(
    ("service", "region"),
    [("logs", "cn-north-1"), ("codedeploy", "cn-northwest-1"), ("config", "eusc-de-east-1")],
)
def test_no_guessed_principal_for_a_partition_exception(service, region):
    # In aws-cn these services take a partition-specific principal (e.g. logs.amazonaws.com.cn);
    # the project needs none of them there and refuses rather than guess.
    with pytest.raises(ValueError, match=f"no sourced principal for '{service}' in partition"):
        service_principal(service, region)


def test_region_rule_names_exactly_the_allowed_regions():
    assert region_rule(Jurisdiction.EU) == (
        "an EU region: eu-central-1, eu-north-1, eu-south-1, eu-south-2, eu-west-1, eu-west-3"
        " (partition aws) or eusc-de-east-1 (AWS European Sovereign Cloud, partition aws-eusc)"
    )
    assert region_rule(Jurisdiction.FEDRAMP) == "a GovCloud region: us-gov-east-1, us-gov-west-1"
    assert region_rule(Jurisdiction.US) == (
        "a US commercial region: us-east-1, us-east-2, us-west-1, us-west-2"
        " (GovCloud pairs with jurisdiction fedramp)"
    )
    assert region_rule(Jurisdiction.DEFAULT) == (
        "a commercial AWS region (partition aws), e.g. us-east-1"
    )
