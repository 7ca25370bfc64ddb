"""What a jurisdiction allows on the AWS side: regions and partition.

The R2 side of a jurisdiction (endpoint, token resource, location hints) lives in
``coordinator/endpoints.py``; this module holds the AWS facts that the settings check and the
policy rules enforce, so the two can never disagree.

References:
https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html ,
https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/using-govcloud-regions.html
"""

from __future__ import annotations

import re

from coordinator.endpoints import Jurisdiction

__all__ = [
    "EU_REGIONS",
    "GOVCLOUD_REGIONS",
    "allowed_region",
    "is_region_name",
    "partition_of",
    "region_rule",
]

# Regions physically inside an EU member state. London (eu-west-2, UK) and Zurich
# (eu-central-2, Switzerland) carry the "eu-" prefix but are outside the EU.
EU_REGIONS = frozenset(
    {"eu-west-1", "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2"}
)
GOVCLOUD_REGIONS = frozenset({"us-gov-west-1", "us-gov-east-1"})

_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")


def is_region_name(region: str) -> bool:
    """True for something shaped like an AWS region name, e.g. ``eu-central-1``."""
    return _REGION.fullmatch(region) is not None


def partition_of(region: str) -> str:
    """The AWS partition a region belongs to (``aws``, ``aws-us-gov`` or ``aws-cn``)."""
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def allowed_region(jurisdiction: Jurisdiction, region: str) -> bool:
    """True when AWS resources of a ``jurisdiction`` stack may live in ``region``."""
    if not is_region_name(region):
        return False
    if jurisdiction is Jurisdiction.EU:
        return region in EU_REGIONS
    if jurisdiction is Jurisdiction.FEDRAMP:
        return region in GOVCLOUD_REGIONS
    # No residency promise: any commercial region, but not a sovereign partition by accident.
    return partition_of(region) == "aws"


def region_rule(jurisdiction: Jurisdiction) -> str:
    """One line that tells a user which regions a jurisdiction allows."""
    if jurisdiction is Jurisdiction.EU:
        return "an EU region: " + ", ".join(sorted(EU_REGIONS))
    if jurisdiction is Jurisdiction.FEDRAMP:
        return "a GovCloud region: " + ", ".join(sorted(GOVCLOUD_REGIONS))
    return "a commercial AWS region (partition aws), e.g. us-east-1"
