"""What makes an infrastructure change dangerous: the one table the PR diff reads.

Three kinds of risk, each a flag in ``python -m infra.cli diff``:

* **replace**: a change to a property the provider cannot update in place; Pulumi deletes the
  resource and creates a new one. ``REPLACE_ON_CHANGE`` lists those properties per type, each
  with why and where that was checked.
* **data loss**: a data-bearing resource (``DATA_BEARING``, or any resource the program protects)
  is removed or replaced, or loses ``protect`` / ``retainOnDelete``, or an S3 bucket gets
  ``forceDestroy``.
* **border**: where data lives changes: a jurisdiction, an AWS region or partition, a regional
  hostname's region (``BORDER_PROPERTIES``) or its removal (``BORDER_REMOVALS``), a program
  warning that data crosses a border (``BORDER_WARNINGS``).
* **access**: who may read the content changes: a reviewed rendering of a secret rule
  (``REVIEWED_OUTPUTS``) changes.

Add a type here when the program starts creating it; ``tests/review/test_risk_table.py`` runs one
test per entry and checks every property name against the installed provider SDK.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coordinator.endpoints import Jurisdiction
from infra.residency import allowed_region, region_rule

__all__ = [
    "AWS_PROVIDER",
    "BORDER_PROPERTIES",
    "BORDER_REMOVALS",
    "BORDER_WARNINGS",
    "DATA_BEARING",
    "R2_SIPPY",
    "REPLACE_ON_CHANGE",
    "REVIEWED_OUTPUTS",
    "ReplaceRule",
    "border_properties",
    "border_warning",
    "is_data_bearing",
    "replace_rules",
    "sippy_crossing",
]

R2_BUCKET = "cloudflare:index/r2Bucket:R2Bucket"
R2_CUSTOM_DOMAIN = "cloudflare:index/r2CustomDomain:R2CustomDomain"
R2_CORS = "cloudflare:index/r2BucketCors:R2BucketCors"
R2_LIFECYCLE = "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle"
R2_MANAGED_DOMAIN = "cloudflare:index/r2ManagedDomain:R2ManagedDomain"
REGIONAL_HOSTNAME = "cloudflare:index/regionalHostname:RegionalHostname"
S3_BUCKET = "aws:s3/bucket:Bucket"
KMS_KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LAMBDA_FUNCTION = "aws:lambda/function:Function"
IAM_ROLE = "aws:iam/role:Role"
AWS_PROVIDER = "pulumi:providers:aws"

# Sources, named once. "TF" is the Terraform provider the Pulumi provider bridges; its schema
# (RequiresReplace / ForceNew) is what `pulumi preview` turns into a replace.
_TF_CF = "terraform-provider-cloudflare internal/services/{}/schema.go: RequiresReplace"
_TF_AWS = "terraform-provider-aws internal/service/{}: ForceNew"
_AWS_REGION = (
    "terraform-provider-aws v6 enhanced region support: a resource's own region is part of its"
    " identity (pulumi-aws v7 `region` input)"
)


@dataclass(frozen=True, slots=True)
class ReplaceRule:
    """One property whose change replaces the resource."""

    reason: str
    """One line for the PR comment: what happens."""
    source: str
    """Where this was checked."""


# Resource types that hold data (or the only means to read it): losing one loses data.
DATA_BEARING: dict[str, str] = {
    R2_BUCKET: "an R2 bucket holds the renditions; deleting it deletes every object",
    S3_BUCKET: "the S3 bucket holds the mezzanine masters; deleting it deletes every version",
    KMS_KEY: "the KMS key decrypts the masters; once it is deleted they are unreadable",
}

_R2_CHILD_JURISDICTION = (
    "infra/components/delivery.py replace_on_changes (the provider schema would update in place)"
)


def _r2_child_rules(what: str, service: str) -> dict[str, ReplaceRule]:
    """An R2 bucket child: which bucket it configures is fixed (schema.go RequiresReplace on
    account_id and bucket_name; jurisdiction by the program's replace_on_changes)."""
    return {
        "accountId": ReplaceRule(f"the {what} is re-created", _TF_CF.format(service)),
        "bucketName": ReplaceRule(
            f"the {what} is re-created on another bucket", _TF_CF.format(service)
        ),
        "jurisdiction": ReplaceRule(
            f"the {what} is re-created on the bucket in the new jurisdiction",
            _R2_CHILD_JURISDICTION,
        ),
    }


REPLACE_ON_CHANGE: dict[str, dict[str, ReplaceRule]] = {
    R2_BUCKET: {
        "name": ReplaceRule(
            "a bucket cannot be renamed: a new, empty bucket is created",
            _TF_CF.format("r2_bucket"),
        ),
        "accountId": ReplaceRule(
            "a bucket cannot move between accounts", _TF_CF.format("r2_bucket")
        ),
        "jurisdiction": ReplaceRule(
            "a bucket's jurisdiction is fixed at creation: the bucket in the new jurisdiction is"
            " a different, empty bucket (the program declares replace_on_changes and"
            ' delete_before_replace; prod protects the bucket: see README, "Replacing the'
            ' delivery bucket")',
            "Cloudflare r2/reference/data-location; schema.go has no RequiresReplace on it:"
            " infra/components/delivery.py replace_on_changes",
        ),
        # `location` is not here: the provider keeps the state's value whatever the program says
        # (r2_bucket/schema.go locationIgnorePlanModifier), so a changed hint neither replaces
        # nor moves anything. BORDER_PROPERTIES flags it; the preflight fails on a mismatch.
    },
    R2_CUSTOM_DOMAIN: {
        "domain": ReplaceRule("the custom domain is re-created", _TF_CF.format("r2_custom_domain")),
        "zoneId": ReplaceRule("the custom domain is re-created", _TF_CF.format("r2_custom_domain")),
        "bucketName": ReplaceRule(
            "the custom domain is re-attached to another bucket", _TF_CF.format("r2_custom_domain")
        ),
        "accountId": ReplaceRule(
            "the custom domain is re-created", _TF_CF.format("r2_custom_domain")
        ),
        "jurisdiction": ReplaceRule(
            "the custom domain is re-attached to the bucket in the new jurisdiction",
            _R2_CHILD_JURISDICTION,
        ),
    },
    R2_CORS: _r2_child_rules("CORS configuration", "r2_bucket_cors"),
    # Its delete is a no-op in the provider (r2_bucket_lifecycle/resource.go): the old rules stay
    # on the old bucket until it is deleted.
    R2_LIFECYCLE: _r2_child_rules("lifecycle configuration", "r2_bucket_lifecycle"),
    # Create/update only; Read and Delete are empty (r2_managed_domain/resource.go).
    R2_MANAGED_DOMAIN: _r2_child_rules("r2.dev setting", "r2_managed_domain"),
    REGIONAL_HOSTNAME: {
        "hostname": ReplaceRule(
            "the regional hostname is re-created", _TF_CF.format("regional_hostname")
        ),
        "zoneId": ReplaceRule(
            "the regional hostname is re-created", _TF_CF.format("regional_hostname")
        ),
    },
    S3_BUCKET: {
        "bucket": ReplaceRule(
            "an S3 bucket cannot be renamed: a new, empty bucket is created",
            _TF_AWS.format("s3/bucket.go"),
        ),
        "bucketPrefix": ReplaceRule(
            "a new bucket with a new generated name is created", _TF_AWS.format("s3/bucket.go")
        ),
        "objectLockEnabled": ReplaceRule(
            "object lock can only be chosen at creation", _TF_AWS.format("s3/bucket.go")
        ),
        "region": ReplaceRule("a bucket cannot move region", _AWS_REGION),
    },
    KMS_KEY: {
        "customerMasterKeySpec": ReplaceRule(
            "a new key is created; data encrypted with the old one needs the old one",
            _TF_AWS.format("kms/key.go"),
        ),
        "keyUsage": ReplaceRule("a new key is created", _TF_AWS.format("kms/key.go")),
        "multiRegion": ReplaceRule("a new key is created", _TF_AWS.format("kms/key.go")),
        "customKeyStoreId": ReplaceRule("a new key is created", _TF_AWS.format("kms/key.go")),
        "xksKeyId": ReplaceRule("a new key is created", _TF_AWS.format("kms/key.go")),
        "region": ReplaceRule("a key cannot move region", _AWS_REGION),
    },
    LOG_GROUP: {
        "name": ReplaceRule(
            "a new log group is created; the old logs go with the old one",
            _TF_AWS.format("logs/group.go"),
        ),
        "namePrefix": ReplaceRule("a new log group is created", _TF_AWS.format("logs/group.go")),
        "region": ReplaceRule("a log group cannot move region", _AWS_REGION),
    },
    LAMBDA_FUNCTION: {
        "name": ReplaceRule("the function is re-created", _TF_AWS.format("lambda/function.go")),
        "region": ReplaceRule("a function cannot move region", _AWS_REGION),
    },
    IAM_ROLE: {
        "name": ReplaceRule("the role is re-created", _TF_AWS.format("iam/role.go")),
        "namePrefix": ReplaceRule("the role is re-created", _TF_AWS.format("iam/role.go")),
        "path": ReplaceRule("the role is re-created", _TF_AWS.format("iam/role.go")),
    },
}

# Properties that say where data lives. "*" under a package prefix matches every type of it.
BORDER_PROPERTIES: dict[str, dict[str, str]] = {
    "cloudflare:*": {"jurisdiction": "R2 jurisdiction (data-residency boundary)"},
    R2_BUCKET: {
        "jurisdiction": "R2 jurisdiction (data-residency boundary)",
        "location": (
            "R2 location hint: honoured only when the name is first created; the provider"
            " ignores a change, so the bucket stays where it is (`preflight` fails until the"
            " setting matches the bucket)"
        ),
    },
    REGIONAL_HOSTNAME: {
        "regionKey": "regional hostname region (where TLS is terminated and content processed)"
    },
    "aws:*": {"region": "AWS region of the resource"},
    AWS_PROVIDER: {"region": "AWS provider region (every AWS resource of the stack)"},
}


# Resources whose removal moves processing out of the jurisdiction.
BORDER_REMOVALS: dict[str, str] = {
    REGIONAL_HOSTNAME: "regional hostname removed: TLS termination and processing of the host"
    " may happen in any Cloudflare data center, outside the jurisdiction's region",
}

# Warnings the program logs when a stack crosses a border on purpose (pulumi.log.warn: the
# offline plan records them, `pulumi up` prints them). Each pattern names its source.
BORDER_WARNINGS: dict[str, re.Pattern[str]] = {
    # infra/components/sippy.py: Sippy copies from a bucket outside the jurisdiction
    # (sippy.acknowledgeCrossBorder).
    "Sippy migration across a border": re.compile(r"data crosses a border", re.IGNORECASE),
    # infra/components/edge.py: regionalHostnames false where the jurisdiction has a region.
    "delivery processing not pinned to the region": re.compile(
        r"processing is not pinned to", re.IGNORECASE
    ),
}


# Stack outputs that render something secret in a reviewable form; a change of one is an ACCESS
# flag (who may read the content changes). infra/__main__.py exports them.
REVIEWED_OUTPUTS: dict[str, str] = {
    "signed_delivery_rule": "the signed-delivery WAF rule (which requests may fetch content;"
    " key redacted)",
}


R2_SIPPY = "cloudflare:index/r2BucketSippy:R2BucketSippy"


def sippy_crossing(inputs: Mapping[str, Any]) -> str | None:
    """Why an R2BucketSippy copies data across a border (its AWS source region is not allowed
    for the bucket's jurisdiction, the same rule as the stack's own region), or None. Read from
    the resource itself, so it holds whatever the program's warning says."""
    source = inputs.get("source")
    region = source.get("region") if isinstance(source, Mapping) else None
    try:
        jurisdiction = Jurisdiction(inputs.get("jurisdiction") or Jurisdiction.DEFAULT.value)
    except ValueError:
        return f"Sippy into an unknown jurisdiction {inputs.get('jurisdiction')!r}"
    if not isinstance(region, str) or allowed_region(jurisdiction, region):
        return None
    return (
        f"Sippy copies from {region} into a {jurisdiction.value!r} bucket: outside the"
        f" jurisdiction ({region_rule(jurisdiction)})"
    )


def border_warning(message: str) -> str | None:
    """What border a program warning says is crossed, or None."""
    return next((what for what, rx in BORDER_WARNINGS.items() if rx.search(message)), None)


def _package(type_token: str) -> str:
    return type_token.split(":", 1)[0]


def replace_rules(type_token: str) -> dict[str, ReplaceRule]:
    """The properties of ``type_token`` whose change replaces the resource."""
    return REPLACE_ON_CHANGE.get(type_token, {})


def border_properties(type_token: str) -> dict[str, str]:
    """The properties of ``type_token`` that decide where its data lives, with what they mean."""
    found = dict(BORDER_PROPERTIES.get(f"{_package(type_token)}:*", {}))
    found.update(BORDER_PROPERTIES.get(type_token, {}))
    return found


def is_data_bearing(type_token: str, *, protected: bool = False) -> bool:
    """True for a type that holds data, or for any resource the program protects."""
    return protected or type_token in DATA_BEARING
