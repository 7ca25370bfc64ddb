"""Where an R2 bucket lives and how it is reached: the one place these rules are written.

A jurisdiction is a data-residency boundary chosen when a bucket is created. It decides the
S3 endpoint (a jurisdictional bucket is reachable only through its own endpoint), the resource
string of a bucket-scoped API token, and which location hints make sense. Both the Pulumi
program (``infra/``) and the coordinator import this module; it imports nothing from Pulumi.

References: https://developers.cloudflare.com/r2/reference/data-location/ ,
https://developers.cloudflare.com/r2/api/s3/tokens/ ,
https://developers.cloudflare.com/data-localization/region-support/ ,
https://developers.cloudflare.com/data-localization/regional-services/regional-hostnames/ ,
https://developers.cloudflare.com/changelog/2026-08-17-r2-us-jurisdiction/ (the ``us`` jurisdiction)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ALLOWED_LOCATION_HINTS",
    "AWS_PARTITIONS",
    "REGION_KEYS",
    "SIGV4_REGION",
    "AwsPartition",
    "Jurisdiction",
    "aws_partition",
    "is_account_id",
    "r2_endpoint",
    "region_key",
    "token_resource",
]

# R2 accepts only SigV4 and names its single region "auto" ("" and "us-east-1" are aliases).
SIGV4_REGION = "auto"

_ACCOUNT_ID = re.compile(r"[0-9a-f]{32}")


class Jurisdiction(StrEnum):
    """An R2 data-residency jurisdiction. ``DEFAULT`` means none: data may be placed anywhere."""

    DEFAULT = "default"
    EU = "eu"
    FEDRAMP = "fedramp"
    # Stored and processed in the United States (Cloudflare changelog 2026-08-17). The installed
    # pulumi_cloudflare 6.23.1 lists it for R2Bucket ("default", "eu", "fedramp", "us"); its R2
    # child resources document no value list, so tests/infra/test_sovereign.py checks their
    # docstrings and fails if one starts listing values without "us".
    US = "us"


# A location hint is a best-effort placement inside the jurisdiction. A hint that points outside
# the jurisdiction contradicts it, so we refuse it rather than let a reader wonder which wins.
ALLOWED_LOCATION_HINTS: dict[Jurisdiction, frozenset[str]] = {
    Jurisdiction.DEFAULT: frozenset({"wnam", "enam", "weur", "eeur", "apac", "oc"}),
    Jurisdiction.EU: frozenset({"weur", "eeur"}),
    Jurisdiction.FEDRAMP: frozenset({"wnam", "enam"}),
    Jurisdiction.US: frozenset({"wnam", "enam"}),
}


# Regional Services (Data Localization Suite) keeps a hostname's TLS termination and HTTP
# processing inside one region; a regional hostname names the region by key. Cloudflare documents
# the regions ("European Union", "FedRAMP Moderate Compliant (Domestic)": FedRAMP-certified data
# centers in the US) and keys such as "eu" and "us"; the full key list comes from the account's
# `GET /accounts/{id}/addressing/regional_hostnames/regions`, which answers among others "eu",
# "isoeu" (ISO 27001 EU), "de", "us" and "fedramp". The jurisdiction <-> key pairing is ours:
# the first key is the one a stack uses, the others also stay inside the jurisdiction. "us" is not
# enough for FedRAMP: it allows US data centers that are not FedRAMP-certified.
REGION_KEYS: dict[Jurisdiction, tuple[str, ...]] = {
    Jurisdiction.EU: ("eu", "isoeu", "de"),
    Jurisdiction.FEDRAMP: ("fedramp",),
    # FedRAMP data centers are in the US too, so "fedramp" also stays inside `us`.
    Jurisdiction.US: ("us", "fedramp"),
}


def region_key(jurisdiction: Jurisdiction | str) -> str | None:
    """The Regional Services key that keeps delivery processing inside ``jurisdiction``.

    None for ``default``: no residency promise, nothing to pin.

    >>> region_key("eu")
    'eu'
    """
    keys = REGION_KEYS.get(Jurisdiction(jurisdiction), ())
    return keys[0] if keys else None


def is_account_id(value: str) -> bool:
    """True for a Cloudflare account (or zone) ID: 32 lowercase hex characters."""
    return _ACCOUNT_ID.fullmatch(value) is not None


def _checked_account(account_id: str) -> str:
    if not is_account_id(account_id):
        raise ValueError(f"account_id must be 32 lowercase hex characters, got {account_id!r}")
    return account_id


def r2_endpoint(account_id: str, jurisdiction: Jurisdiction | str) -> str:
    """The S3 API endpoint for buckets of ``jurisdiction`` in ``account_id``.

    >>> r2_endpoint("0123456789abcdef0123456789abcdef", "eu")
    'https://0123456789abcdef0123456789abcdef.eu.r2.cloudflarestorage.com'
    """
    account = _checked_account(account_id)
    j = Jurisdiction(jurisdiction)
    if j is Jurisdiction.DEFAULT:
        return f"https://{account}.r2.cloudflarestorage.com"
    return f"https://{account}.{j.value}.r2.cloudflarestorage.com"


def token_resource(account_id: str, jurisdiction: Jurisdiction | str, bucket: str) -> str:
    """Resource string that scopes an account API token to exactly one bucket.

    The format is ``com.cloudflare.edge.r2.bucket.<ACCOUNT_ID>_<JURISDICTION>_<BUCKET>`` with
    ``default`` when the bucket has no jurisdiction.

    >>> token_resource("0123456789abcdef0123456789abcdef", "fedramp", "media")
    'com.cloudflare.edge.r2.bucket.0123456789abcdef0123456789abcdef_fedramp_media'
    """
    account = _checked_account(account_id)
    if not bucket:
        raise ValueError("bucket must not be empty")
    return f"com.cloudflare.edge.r2.bucket.{account}_{Jurisdiction(jurisdiction).value}_{bucket}"


# --- AWS partitions: where the mezzanine side of a stack is reached ------------------------------


@dataclass(frozen=True, slots=True)
class AwsPartition:
    """One AWS partition as botocore's ``data/partitions.json`` describes it."""

    name: str
    region_regex: str
    dns_suffix: str


# From botocore/data/partitions.json (boto3 1.44.8); tests/infra/test_sovereign.py compares them.
# The AWS European Sovereign Cloud is its own partition with its own DNS suffix: an S3 endpoint
# there is s3.eusc-de-east-1.amazonaws.eu, never .amazonaws.com.
AWS_PARTITIONS: tuple[AwsPartition, ...] = (
    AwsPartition("aws-us-gov", r"^us\-gov\-\w+\-\d+$", "amazonaws.com"),
    AwsPartition("aws-cn", r"^cn\-\w+\-\d+$", "amazonaws.com.cn"),
    AwsPartition("aws-eusc", r"^eusc\-(de)\-\w+\-\d+$", "amazonaws.eu"),
    AwsPartition("aws", r"^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$", "amazonaws.com"),
)


def aws_partition(region: str) -> AwsPartition | None:
    """The partition whose region pattern ``region`` matches, or None for a name no partition has.

    >>> aws_partition("eusc-de-east-1").dns_suffix
    'amazonaws.eu'
    """
    for partition in AWS_PARTITIONS:
        if re.fullmatch(partition.region_regex, region, flags=re.ASCII):
            return partition
    return None
