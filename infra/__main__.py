"""The Pulumi program: one stack of zero-egress video storage, read as a bill of materials."""

import dataclasses
import sys
from pathlib import Path

if __package__ in (None, ""):
    # Pulumi runs this directory as a script, so the project root (home of the `infra` and
    # `coordinator` packages) is not on sys.path yet.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi
import pulumi_aws as aws
import pulumi_cloudflare as cloudflare
import pulumi_random as random

from infra.components.alarms import CoordinatorAlarms, CoordinatorAlarmsArgs
from infra.components.coordinator_service import (
    TIMEOUT_SECONDS as COORDINATOR_TIMEOUT_SECONDS,
)
from infra.components.coordinator_service import CoordinatorService, CoordinatorServiceArgs
from infra.components.delivery import DeliveryBucket
from infra.components.edge import EdgeDelivery
from infra.components.mezzanine import MezzanineBucket
from infra.components.package import coordinator_package
from infra.components.r2_credentials import R2Credentials, R2CredentialsArgs
from infra.components.sippy import SippyMigration
from infra.settings import PROJECT, load_settings

settings = load_settings()
tags = {"project": PROJECT, "stack": settings.stack, "jurisdiction": settings.jurisdiction.value}

# Explicit providers: default providers are disabled (Pulumi.yaml), so nothing lands in an
# implicit region or account. allowed_account_ids makes `pulumi up` refuse the wrong AWS account.
aws_provider = aws.Provider(
    "aws",
    region=settings.aws_region,
    allowed_account_ids=[settings.aws_account_id],
    default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
)
# The API token comes from CLOUDFLARE_API_TOKEN, or the secret config cloudflare:apiToken.
cloudflare_provider = cloudflare.Provider(
    "cloudflare", api_token=pulumi.Config("cloudflare").get_secret("apiToken")
)
# Generates keys locally (no cloud); explicit like the others.
random_provider = random.Provider("random")

# Delivery: the R2 bucket behind the CDN, pinned to the stack's jurisdiction.
delivery = DeliveryBucket(
    "delivery",
    settings.delivery,
    opts=pulumi.ResourceOptions(providers=[cloudflare_provider]),
)

# Edge: cache rules, tiered cache, regional hostnames and signed delivery on the delivery zone.
edge = EdgeDelivery(
    "edge",
    settings.edge,
    opts=pulumi.ResourceOptions(providers=[cloudflare_provider, random_provider]),
    # A regional hostname needs its DNS record, which the bucket's custom domain creates.
    dns_records=dict(zip(settings.delivery.hostnames, delivery.custom_domains, strict=True)),
)

# Mezzanine: private, encrypted, versioned S3 bucket for the source masters.
mezzanine = MezzanineBucket(
    "mezzanine",
    settings.mezzanine,
    opts=pulumi.ResourceOptions(providers=[aws_provider]),
)

# Coordinator: the presigning broker on Lambda in the mezzanine's region. Its R2 keys come from
# a token scoped to the delivery bucket's objects (read, list, write, delete: R2 has no
# write-only permission); its secrets live in Secrets
# Manager only. The code is one deterministic zip (build/coordinator.zip, see
# infra/components/package.py).
r2_credentials = R2Credentials(
    "coordinator-r2",
    R2CredentialsArgs(
        account_id=settings.cloudflare_account_id,
        jurisdiction=settings.jurisdiction,
        # The bucket's output, not the name: the token is created once the bucket exists.
        bucket_name=delivery.bucket_name,
        token_name=f"r2-video {settings.stack} coordinator",
    ),
    opts=pulumi.ResourceOptions(providers=[cloudflare_provider]),
)
coordinator = CoordinatorService(
    "coordinator",
    CoordinatorServiceArgs(
        settings=settings.coordinator,
        package=coordinator_package(),
        region=settings.aws_region,
        aws_account_id=settings.aws_account_id,
        r2_account_id=settings.cloudflare_account_id,
        jurisdiction=settings.jurisdiction,
        delivery_bucket=delivery.bucket_name,
        mezzanine_bucket=mezzanine.bucket_name,
        mezzanine_kms_key_arn=mezzanine.kms_key_arn,
        r2_access_key_id=r2_credentials.access_key_id,
        r2_secret_access_key=r2_credentials.secret_access_key,
        # Signed delivery on: the coordinator mints playback URLs with the edge's key and ttl.
        playback_hmac_key=edge.playback_hmac_key,
        playback_token_ttl=edge.playback_token_ttl,
        delivery_base_urls=tuple(settings.delivery.base_urls),
    ),
    opts=pulumi.ResourceOptions(providers=[aws_provider, random_provider]),
)

# Alarms: 5xx rate, throttles and slow requests of the coordinator, to the team's SNS topic.
alarms = CoordinatorAlarms(
    "coordinator-alarms",
    CoordinatorAlarmsArgs(
        function_name=coordinator.function_name,
        timeout_seconds=COORDINATOR_TIMEOUT_SECONDS,
        endpoint_kind=coordinator.kind,
        api_id=coordinator.api_id,
        topic_arn=settings.coordinator.alarm_topic_arn,
    ),
    opts=pulumi.ResourceOptions(providers=[aws_provider]),
)

# Migration (optional): Sippy copies objects from an existing S3 bucket into the delivery bucket
# the first time they are read, so an archive moves to R2 without a bulk egress bill.
if settings.sippy is not None:
    SippyMigration(
        "migration",
        # The bucket's output, not its name: Sippy is enabled once the bucket exists.
        dataclasses.replace(settings.sippy, bucket_name=delivery.bucket_name),
        opts=pulumi.ResourceOptions(providers=[aws_provider, cloudflare_provider]),
    )

pulumi.export("environment", settings.environment.value)
pulumi.export("jurisdiction", delivery.jurisdiction)
pulumi.export("r2_account_id", settings.cloudflare_account_id)
pulumi.export("r2_endpoint", delivery.endpoint)
pulumi.export("delivery_bucket", delivery.bucket_name)
pulumi.export("delivery_base_urls", delivery.base_urls)
if edge.playback_hmac_key is not None:
    # For the coordinator's playback URLs (secret bundle key `playback_hmac_key`).
    pulumi.export("playback_hmac_key", edge.playback_hmac_key)
    pulumi.export("playback_token_ttl", edge.playback_token_ttl)
if edge.signed_delivery_review is not None:
    # The signed-delivery WAF rules hold their keys as literals, so their expressions are
    # secrets and an edit would be invisible in the offline plan and in `pulumi preview --json`
    # alike. This is the same rules rendered with "[key redacted]" for each key: a non-secret
    # stack output both can show, and whose change the review flags (infra/review/risk.py).
    pulumi.export("signed_delivery_rule", edge.signed_delivery_review)
pulumi.export("aws_region", settings.aws_region)
pulumi.export("mezzanine_bucket", mezzanine.bucket_name)
pulumi.export("mezzanine_bucket_arn", mezzanine.arn)
pulumi.export("mezzanine_kms_key_arn", mezzanine.kms_key_arn)
pulumi.export("coordinator_url", coordinator.url)
# Subscribe the on-call address or pager to it (README, "Deploying the coordinator").
pulumi.export("coordinator_alarm_topic_arn", alarms.topic_arn)
# A secret output: `pulumi stack output --show-secrets coordinator_admin_key`.
pulumi.export("coordinator_admin_key", coordinator.admin_key)
