"""The Pulumi program: one stack of zero-egress video storage, read as a bill of materials."""

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Pulumi runs this directory as a script, so the project root (home of the `infra` and
    # `coordinator` packages) is not on sys.path yet.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra.components.region import SovereignVideoRegionArgs, compose_region, region_outputs
from infra.settings import PROJECT, load_settings

settings = load_settings()

# One region, composed by the package's SovereignVideoRegion composition (infra/components/
# region.py): explicit providers (default providers are disabled in Pulumi.yaml, and the AWS
# provider refuses any account but the stack's), the R2 delivery bucket and its edge, the S3
# mezzanine, the coordinator's bucket-scoped R2 token, the coordinator on Lambda (one
# deterministic zip, infra/components/package.py), its alarms and, if configured, Sippy.
region = SovereignVideoRegionArgs(
    jurisdiction=settings.jurisdiction,
    cloudflare_account_id=settings.cloudflare_account_id,
    aws_region=settings.aws_region,
    aws_account_id=settings.aws_account_id,
    delivery=settings.delivery,
    edge=settings.edge,
    mezzanine=settings.mezzanine,
    coordinator=settings.coordinator,
    sippy=settings.sippy,
    token_name=f"r2-video {settings.stack} coordinator",
    tags={"project": PROJECT, "stack": settings.stack, "jurisdiction": settings.jurisdiction.value},
    # The API token comes from CLOUDFLARE_API_TOKEN, or the secret config cloudflare:apiToken.
    cloudflare_api_token=pulumi.Config("cloudflare").get_secret("apiToken"),
)
# At the stack's root under the parts' bare names, not inside a SovereignVideoRegion component:
# a new parent would change the URN of every resource of the stacks deployed before it existed.
parts = compose_region(region)

pulumi.export("environment", settings.environment.value)
for key, value in region_outputs(region, parts).items():
    pulumi.export(key, value)
