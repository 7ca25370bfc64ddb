"""Where an R2 bucket lives and how it is reached: the one place these rules are written.

A jurisdiction is a data-residency boundary chosen when a bucket is created. It decides the
S3 endpoint (a jurisdictional bucket is reachable only through its own endpoint), the resource
string of a bucket-scoped API token, and which location hints make sense. Both the Pulumi
program (``infra/``) and the coordinator import this module; it imports nothing from Pulumi.

References: https://developers.cloudflare.com/r2/reference/data-location/ ,
https://developers.cloudflare.com/r2/api/s3/tokens/
"""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = [
    "ALLOWED_LOCATION_HINTS",
    "SIGV4_REGION",
    "Jurisdiction",
    "is_account_id",
    "r2_endpoint",
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


# A location hint is a best-effort placement inside the jurisdiction. A hint that points outside
# the jurisdiction contradicts it, so we refuse it rather than let a reader wonder which wins.
ALLOWED_LOCATION_HINTS: dict[Jurisdiction, frozenset[str]] = {
    Jurisdiction.DEFAULT: frozenset({"wnam", "enam", "weur", "eeur", "apac", "oc"}),
    Jurisdiction.EU: frozenset({"weur", "eeur"}),
    Jurisdiction.FEDRAMP: frozenset({"wnam", "enam"}),
}


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
