"""SippyMigration: fill the delivery bucket from an existing S3 bucket as objects are requested.

Sippy copies an object into R2 the first time it is read through R2 (S3 API, Workers or the
CDN), so an archive moves without a bulk egress bill. It reads the source with a dedicated IAM
user that may only list the bucket and get its objects, and writes to R2 with a token scoped to
the delivery bucket alone; all four keys are Pulumi secrets (they end up in state). The R2 side
takes the bucket's jurisdiction like every other R2 child.

References: https://developers.cloudflare.com/r2/data-migration/sippy/ ,
https://developers.cloudflare.com/api/operations/r2-put-bucket-sippy-config
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_cloudflare as cloudflare

from coordinator.endpoints import Jurisdiction, is_account_id

from .r2_credentials import (
    BUCKET_ITEM_READ,
    BUCKET_ITEM_WRITE,
    R2Credentials,
    R2CredentialsArgs,
)
from .residency import allowed_region, is_region_name, partition_of
from .validation import Problems, is_s3_bucket_name

__all__ = ["SippyMigration", "SippyMigrationArgs", "source_read_policy"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SippyMigrationArgs:
    """What a SippyMigration needs; validated on construction."""

    account_id: str
    """Cloudflare account of the delivery bucket."""
    jurisdiction: Jurisdiction
    """The delivery bucket's jurisdiction (Sippy's API needs it to find the bucket)."""
    bucket_name: pulumi.Input[str]
    """The delivery bucket that Sippy fills."""
    source_bucket: str
    """Existing S3 bucket to copy from (read only)."""
    source_region: str
    """Region of the source bucket."""
    stack_region: str
    """The stack's AWS region: the IAM user lives in its partition, so the source must too."""
    acknowledge_cross_border: bool = False
    """Allow a source outside the jurisdiction's regions: the copy then crosses a border."""
    user_name: str
    """Name of the dedicated IAM user that reads the source bucket."""

    def __post_init__(self) -> None:
        problems = Problems("SippyMigrationArgs")
        problems.check(
            is_account_id(self.account_id), "account_id", "must be 32 lowercase hex characters"
        )
        problems.check(
            is_s3_bucket_name(self.source_bucket),
            "source_bucket",
            "must be an S3 bucket name (3-63 lowercase letters, digits or hyphens)",
        )
        if not is_region_name(self.source_region):
            problems.add("source_region", f"{self.source_region!r} is not an AWS region name")
        elif partition_of(self.source_region) != partition_of(self.stack_region):
            problems.add(
                "source_region",
                f"{self.source_region!r} is in partition {partition_of(self.source_region)},"
                f" the stack's IAM user would be in {partition_of(self.stack_region)}",
            )
        elif self.crosses_border and not self.acknowledge_cross_border:
            problems.add(
                "source_region",
                f"{self.source_region!r} lies outside jurisdiction {self.jurisdiction.value!r}:"
                " Sippy would copy data across a border; set acknowledgeCrossBorder: true if"
                " that is intended",
            )
        problems.check(
            0 < len(self.user_name) <= 64, "user_name", "must be 1-64 characters (IAM limit)"
        )
        problems.raise_if_any()

    @property
    def crosses_border(self) -> bool:
        return not allowed_region(self.jurisdiction, self.source_region)


def source_read_policy(partition: str, bucket: str) -> str:
    """Least privilege for Sippy's reader: list the one bucket, get its objects, nothing else.

    Cloudflare's example grants ``s3:Get*`` and ``s3:List*``; Sippy only lists and reads
    objects (cloudflare/cloudflare-docs#13904).
    """
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ListSourceBucket",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": bucket_arn,
                },
                {
                    "Sid": "ReadSourceObjects",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": f"{bucket_arn}/*",
                },
            ],
        },
        sort_keys=True,
    )


class SippyMigration(pulumi.ComponentResource):
    """Sippy on the delivery bucket, with a read-only IAM user on the source S3 bucket."""

    reader_user_name: pulumi.Output[str]
    """The IAM user Sippy reads the source bucket as (its key is a secret of the Sippy config)."""
    bucket_name: pulumi.Output[str]
    """The delivery bucket Sippy fills."""

    def __init__(
        self,
        name: str,
        args: SippyMigrationArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("r2-video:migration:SippyMigration", name, None, opts)
        if args.crosses_border:
            pulumi.log.warn(
                f"Sippy copies s3://{args.source_bucket} ({args.source_region}) into a"
                f" {args.jurisdiction.value!r} bucket: data crosses a border (acknowledged in"
                " the stack config)",
                resource=self,
            )
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))

        self.reader = aws.iam.User(
            f"{name}-reader", name=args.user_name, path="/r2-video/", opts=child
        )
        self.reader_policy = aws.iam.UserPolicy(
            f"{name}-reader-policy",
            user=self.reader.name,
            policy=partition.partition.apply(lambda p: source_read_policy(p, args.source_bucket)),
            opts=child,
        )
        self.reader_key = aws.iam.AccessKey(f"{name}-reader-key", user=self.reader.name, opts=child)

        # Sippy checks R2 for the object and writes it there: item read and write, one bucket.
        self.r2_credentials = R2Credentials(
            f"{name}-r2",
            R2CredentialsArgs(
                account_id=args.account_id,
                jurisdiction=args.jurisdiction,
                bucket_name=args.bucket_name,
                token_name=f"{args.user_name} (Sippy)",
                permissions=(BUCKET_ITEM_READ, BUCKET_ITEM_WRITE),
            ),
            opts=child,
        )
        self.sippy = cloudflare.R2BucketSippy(
            f"{name}-sippy",
            account_id=args.account_id,
            bucket_name=args.bucket_name,
            # Not inherited from the bucket: without it the API looks in the default jurisdiction.
            jurisdiction=args.jurisdiction.value,
            source=cloudflare.R2BucketSippySourceArgs(
                cloud_provider="aws",
                bucket=args.source_bucket,
                region=args.source_region,
                access_key_id=pulumi.Output.secret(self.reader_key.id),
                secret_access_key=pulumi.Output.secret(self.reader_key.secret),
            ),
            destination=cloudflare.R2BucketSippyDestinationArgs(
                cloud_provider="r2",
                access_key_id=self.r2_credentials.access_key_id,
                secret_access_key=self.r2_credentials.secret_access_key,
            ),
            # The reader must be allowed to read before Sippy is pointed at the bucket.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.reader_policy]),
        )
        self.reader_user_name = self.reader.name
        self.bucket_name = self.sippy.bucket_name
        self.register_outputs(
            {"reader_user_name": self.reader_user_name, "bucket_name": self.bucket_name}
        )
