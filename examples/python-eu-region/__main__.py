"""An existing Pulumi program (its own AWS provider and Cloudflare zone) that adds one EU region.

``pulumi up`` creates the region's R2 bucket in jurisdiction ``eu``, its custom domain on the
zone this program already manages, the S3 mezzanine and the coordinator in Frankfurt through
this program's own AWS provider. tests/infra/test_package.py plans it under mocks in a venv that
has only the r2-video wheel.
"""

import pulumi
import pulumi_aws as aws
import pulumi_cloudflare as cloudflare
from r2_video import (
    CloudflarePlan,
    CoordinatorSettings,
    DeliveryBucketArgs,
    EdgeDeliveryArgs,
    Jurisdiction,
    MezzanineBucketArgs,
    SovereignVideoRegion,
    SovereignVideoRegionArgs,
)

CLOUDFLARE_ACCOUNT = "0123456789abcdef0123456789abcdef"  # fake: use yours
AWS_ACCOUNT = "123456789012"  # fake: use yours
HOSTS = ("media.example.eu",)

# What the program had before: its AWS provider in Frankfurt, its Cloudflare provider and zone.
frankfurt = aws.Provider("frankfurt", region="eu-central-1", allowed_account_ids=[AWS_ACCOUNT])
cf = cloudflare.Provider("cloudflare")  # CLOUDFLARE_API_TOKEN
zone = cloudflare.Zone(
    "example-eu",
    account=cloudflare.ZoneAccountArgs(id=CLOUDFLARE_ACCOUNT),
    name="example.eu",
    opts=pulumi.ResourceOptions(provider=cf),
)

# The region: the zone id and the AWS provider are this program's (checked when they resolve).
eu = SovereignVideoRegion(
    "eu",
    SovereignVideoRegionArgs(
        jurisdiction=Jurisdiction.EU,
        cloudflare_account_id=CLOUDFLARE_ACCOUNT,
        aws_region="eu-central-1",
        aws_account_id=AWS_ACCOUNT,
        delivery=DeliveryBucketArgs(
            account_id=CLOUDFLARE_ACCOUNT,
            bucket_name="acme-video-eu-delivery",
            jurisdiction=Jurisdiction.EU,
            location_hint="weur",
            zone_id=zone.id,
            zone_name="example.eu",
            hostnames=HOSTS,
            protect_data=True,
        ),
        edge=EdgeDeliveryArgs(
            zone_id=zone.id,
            hostnames=HOSTS,
            jurisdiction=Jurisdiction.EU,
            # Regional hostnames (on for an EU region) need the Data Localization Suite.
            plan=CloudflarePlan.ENTERPRISE,
            regional_hostnames=True,
        ),
        mezzanine=MezzanineBucketArgs(bucket_name="acme-video-eu-mezzanine", protect_data=True),
        coordinator=CoordinatorSettings(function_name="acme-video-eu-coordinator"),
        token_name="acme-video eu coordinator",  # noqa: S106 - the token's display name
        aws_provider=frankfurt,
        cloudflare_provider=cf,
    ),
)

pulumi.export("eu_r2_endpoint", eu.r2_endpoint)
pulumi.export("eu_delivery_base_urls", eu.delivery_base_urls)
pulumi.export("eu_coordinator_url", eu.coordinator_url)
pulumi.export("eu_coordinator_admin_key", eu.coordinator_admin_key)
