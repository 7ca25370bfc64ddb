"""MezzanineBucket: the private S3 bucket that keeps source masters.

Every secure setting is stated explicitly rather than left to AWS defaults, so a reviewer can
see it and a policy can check it.

References: https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html ,
https://www.pulumi.com/registry/packages/aws/api-docs/s3/bucketlifecycleconfiguration/
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from .validation import Problems, is_s3_bucket_name

__all__ = ["MezzanineBucket", "MezzanineBucketArgs", "tls_only_policy"]

ENCRYPTIONS = ("aws:kms", "AES256")
ARCHIVE_STORAGE_CLASSES = ("STANDARD_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE")


@dataclass(frozen=True, kw_only=True, slots=True)
class MezzanineBucketArgs:
    """Everything a MezzanineBucket needs; validated on construction."""

    bucket_name: str
    """Globally unique S3 bucket name. Changing it replaces the bucket."""
    encryption: Literal["aws:kms", "AES256"] = "aws:kms"
    """Default encryption: SSE-KMS with a bucket key, or SSE-S3 (AES256)."""
    kms_key_arn: str | None = None
    """Existing KMS key for SSE-KMS; when unset the component creates one with rotation on."""
    noncurrent_version_days: int = 30
    """Delete overwritten or deleted versions this many days after they stop being current."""
    abort_multipart_after_days: int = 7
    """Abort multipart uploads left incomplete this long."""
    archive_after_days: int | None = None
    """Move current masters to ``archive_storage_class`` this many days after upload."""
    archive_storage_class: Literal["STANDARD_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"] = (
        "GLACIER_IR"
    )
    """Archive tier; GLACIER_IR keeps millisecond reads for re-encodes."""
    protect_data: bool = False
    """Protect bucket and key against deletion and retain them if removed from the program."""

    def __post_init__(self) -> None:
        problems = Problems("MezzanineBucketArgs")
        problems.check(
            is_s3_bucket_name(self.bucket_name),
            "bucket_name",
            "must be 3-63 lowercase letters, digits or hyphens (no dots: they break TLS on"
            " virtual-hosted URLs), not a reserved S3 prefix or suffix",
        )
        problems.check(
            self.encryption in ENCRYPTIONS, "encryption", f"must be one of {', '.join(ENCRYPTIONS)}"
        )
        if self.kms_key_arn is not None:
            if self.encryption != "aws:kms":
                problems.add("kms_key_arn", "is only used with encryption aws:kms")
            if not self.kms_key_arn.startswith("arn:") or ":kms:" not in self.kms_key_arn:
                problems.add("kms_key_arn", "must be a KMS key ARN (arn:<partition>:kms:...)")
        problems.check(
            1 <= self.noncurrent_version_days <= 36_500,
            "noncurrent_version_days",
            "must be between 1 and 36500",
        )
        problems.check(
            1 <= self.abort_multipart_after_days <= 365,
            "abort_multipart_after_days",
            "must be between 1 and 365",
        )
        if self.archive_after_days is not None:
            problems.check(
                1 <= self.archive_after_days <= 36_500,
                "archive_after_days",
                "must be between 1 and 36500",
            )
        problems.check(
            self.archive_storage_class in ARCHIVE_STORAGE_CLASSES,
            "archive_storage_class",
            f"must be one of {', '.join(ARCHIVE_STORAGE_CLASSES)}",
        )
        problems.raise_if_any()


def tls_only_policy(partition: str, bucket_name: str) -> str:
    """A bucket policy that denies every request not made over TLS."""
    bucket_arn = f"arn:{partition}:s3:::{bucket_name}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        },
        sort_keys=True,
    )


class MezzanineBucket(pulumi.ComponentResource):
    """A private, encrypted, versioned, TLS-only S3 bucket for source masters."""

    bucket_name: pulumi.Output[str]
    arn: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str | None]

    def __init__(
        self, name: str, args: MezzanineBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("r2-video:storage:MezzanineBucket", name, None, opts)
        data = pulumi.ResourceOptions(
            parent=self, protect=args.protect_data, retain_on_delete=args.protect_data
        )
        child = pulumi.ResourceOptions(parent=self)

        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket_name,
            # Unprotected (dev) stacks must be destroyable although versioning keeps old copies.
            force_destroy=not args.protect_data,
            opts=data,
        )
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        self.ownership_controls = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )

        self.kms_key: aws.kms.Key | None = None
        key_arn: pulumi.Input[str] | None = None
        if args.encryption == "aws:kms":
            if args.kms_key_arn is None:
                # Losing the key loses the masters, so it is protected exactly like the bucket.
                self.kms_key = aws.kms.Key(
                    f"{name}-key",
                    description=f"Encrypts the mezzanine masters in {args.bucket_name}",
                    enable_key_rotation=True,
                    deletion_window_in_days=30 if args.protect_data else 7,
                    opts=data,
                )
                key_arn = self.kms_key.arn
            else:
                key_arn = args.kms_key_arn
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm=args.encryption,
                        kms_master_key_id=key_arn,
                    ),
                    # A bucket key cuts KMS requests (and their cost) by orders of magnitude.
                    bucket_key_enabled=args.encryption == "aws:kms",
                )
            ],
            opts=child,
        )
        self.versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=child,
        )
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self.policy = aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=self.bucket.id,
            policy=pulumi.Output.all(partition.partition, self.bucket.bucket).apply(
                lambda values: tls_only_policy(values[0], values[1])
            ),
            # S3 rejects concurrent configuration writes to one bucket; order the policy after
            # the public access block.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access_block]),
        )
        self.lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=_lifecycle_rules(args),
            # Noncurrent-version rules need versioning in place first (provider docs).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versioning]),
        )

        self.bucket_name = self.bucket.bucket
        self.arn = pulumi.Output.concat("arn:", partition.partition, ":s3:::", self.bucket.bucket)
        self.kms_key_arn = pulumi.Output.from_input(key_arn)
        self.register_outputs(
            {"bucket_name": self.bucket_name, "arn": self.arn, "kms_key_arn": self.kms_key_arn}
        )


def _lifecycle_rules(
    args: MezzanineBucketArgs,
) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    every_object = aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix="")
    rules = [
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="abort-incomplete-multipart",
            status="Enabled",
            filter=every_object,
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=args.abort_multipart_after_days
            ),
        ),
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="expire-noncurrent-versions",
            status="Enabled",
            filter=every_object,
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=args.noncurrent_version_days
            ),
        ),
    ]
    if args.archive_after_days is not None:
        rules.append(
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="archive-masters",
                status="Enabled",
                filter=every_object,
                transitions=[
                    aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                        days=args.archive_after_days, storage_class=args.archive_storage_class
                    )
                ],
            )
        )
    return rules
