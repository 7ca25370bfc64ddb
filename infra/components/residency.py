"""What a jurisdiction allows on the AWS side: regions, partitions and what a partition names.

The R2 side of a jurisdiction (endpoint, token resource, location hints) lives in
``coordinator/endpoints.py``; this module holds the AWS facts that the settings check and the
policy rules enforce, so the two can never disagree.

Partitions, their region patterns and DNS suffixes are botocore's
(``botocore/data/partitions.json``), kept in ``coordinator/endpoints.py`` (``AWS_PARTITIONS``).

References:
https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html ,
https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/using-govcloud-regions.html
"""

from __future__ import annotations

from coordinator.endpoints import AWS_PARTITIONS, AwsPartition, Jurisdiction, aws_partition

__all__ = [
    "EUSC_REGIONS",
    "EU_REGIONS",
    "GOVCLOUD_REGIONS",
    "PARTITIONS",
    "US_REGIONS",
    "Partition",
    "allowed_region",
    "dns_suffix_of",
    "is_region_name",
    "partition_of",
    "region_rule",
    "service_principal",
]


# The partition table lives with the coordinator, which needs it for its S3 endpoint.
PARTITIONS = AWS_PARTITIONS
Partition = AwsPartition

# Regions physically inside an EU member state. London (eu-west-2, UK) and Zurich
# (eu-central-2, Switzerland) carry the "eu-" prefix but are outside the EU.
EU_REGIONS = frozenset(
    {"eu-west-1", "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2"}
)
# The European Sovereign Cloud's regions (partitions.json: "AWS European Sovereign Cloud
# (Germany)"), operated inside the EU: an EU stack may use them.
EUSC_REGIONS = frozenset({"eusc-de-east-1"})
GOVCLOUD_REGIONS = frozenset({"us-gov-west-1", "us-gov-east-1"})
# The commercial partition's US regions (partitions.json). R2 `us` pairs with these only:
# GovCloud carries FedRAMP/ITAR obligations that R2's `us` jurisdiction does not claim to meet,
# so a stack that needs GovCloud is a `fedramp` stack.
US_REGIONS = frozenset({"us-east-1", "us-east-2", "us-west-1", "us-west-2"})


def is_region_name(region: str) -> bool:
    """True for a region name of a known partition, e.g. ``eu-central-1`` or ``eusc-de-east-1``."""
    return _partition(region) is not None


def _partition(region: str) -> Partition | None:
    return aws_partition(region)


def partition_of(region: str) -> str:
    """The AWS partition of a region (``aws``, ``aws-us-gov``, ``aws-cn``, ``aws-eusc``).

    An unknown name answers ``aws``, the partition a provider falls back to; callers that need
    a real region check ``is_region_name`` first.
    """
    partition = _partition(region)
    return partition.name if partition else "aws"


def dns_suffix_of(region: str) -> str:
    """The DNS suffix of a region's endpoints (``amazonaws.eu`` in the Sovereign Cloud)."""
    partition = _partition(region)
    return partition.dns_suffix if partition else "amazonaws.com"


# Service principals the coordinator names (Lambda assumes its role, API Gateway invokes it).
# terraform-provider-aws derives a principal as ``<service>.amazonaws.com`` in every partition
# except a few services in aws-cn/aws-iso/aws-iso-b (cloudhsm, codedeploy, config, dms,
# elasticmapreduce, logs, workspaces), after aws-cdk's region-info
# (internal/service/meta/service_principal_data_source.go, servicePrincipalNameForPartition).
_PARTITION_SUFFIX_SERVICES = frozenset(
    {"cloudhsm", "codedeploy", "config", "dms", "elasticmapreduce", "logs", "workspaces"}
)


def service_principal(service: str, region: str) -> str:
    """The principal of an AWS service in ``region``'s partition, e.g. ``lambda.amazonaws.com``."""
    partition = partition_of(region)
    if service in _PARTITION_SUFFIX_SERVICES and partition not in ("aws", "aws-us-gov"):
        # Not needed by this project; refuse rather than guess the partition's exception.
        raise ValueError(f"no sourced principal for {service!r} in partition {partition!r}")
    return f"{service}.amazonaws.com"


def allowed_region(jurisdiction: Jurisdiction, region: str) -> bool:
    """True when AWS resources of a ``jurisdiction`` stack may live in ``region``."""
    if not is_region_name(region):
        return False
    if jurisdiction is Jurisdiction.EU:
        return region in EU_REGIONS or region in EUSC_REGIONS
    if jurisdiction is Jurisdiction.FEDRAMP:
        return region in GOVCLOUD_REGIONS
    if jurisdiction is Jurisdiction.US:
        return region in US_REGIONS
    # No residency promise: any commercial region, but not a sovereign partition by accident.
    return partition_of(region) == "aws"


def region_rule(jurisdiction: Jurisdiction) -> str:
    """One line that tells a user which regions a jurisdiction allows."""
    if jurisdiction is Jurisdiction.EU:
        return (
            "an EU region: "
            + ", ".join(sorted(EU_REGIONS))
            + " (partition aws) or "
            + ", ".join(sorted(EUSC_REGIONS))
            + " (AWS European Sovereign Cloud, partition aws-eusc)"
        )
    if jurisdiction is Jurisdiction.FEDRAMP:
        return "a GovCloud region: " + ", ".join(sorted(GOVCLOUD_REGIONS))
    if jurisdiction is Jurisdiction.US:
        return (
            "a US commercial region: "
            + ", ".join(sorted(US_REGIONS))
            + " (GovCloud pairs with jurisdiction fedramp)"
        )
    return "a commercial AWS region (partition aws), e.g. us-east-1"
