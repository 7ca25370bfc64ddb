"""SovereignVideoRegion: one sovereign region of zero-egress video, composed from the parts.

One typed args object gives the whole region the way this repository's program builds a stack:
explicit providers (AWS region and account, Cloudflare, random), the R2 delivery bucket, the edge
rules on its zone, the S3 mezzanine, the coordinator's bucket-scoped R2 credentials, the
coordinator on Lambda, its alarms and, optionally, Sippy. Its outputs are the stack outputs of
``infra/__main__.py``.

Two ways to use the same composition (``compose_region``):

* ``SovereignVideoRegion(name, args)``: a component whose parts are its children, named
  ``<name>-delivery``, ``<name>-mezzanine``... so a program can hold several regions.
* ``compose_region(args, prefix="", parent=None)``: the parts at the program's root under their
  bare names. This repository's program does that, so the URNs of stacks deployed before the
  component existed stay what they were (a new parent changes every URN below it; see the
  README, "Use it in your own program").

References: https://www.pulumi.com/docs/iac/concepts/components/ ,
https://www.pulumi.com/docs/iac/concepts/options/aliases/
"""

import dataclasses
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_cloudflare as cloudflare
import pulumi_random as random

from coordinator.endpoints import Jurisdiction, is_account_id

from .alarms import CoordinatorAlarms, CoordinatorAlarmsArgs
from .coordinator_service import TIMEOUT_SECONDS as COORDINATOR_TIMEOUT_SECONDS
from .coordinator_service import CoordinatorService, CoordinatorServiceArgs, CoordinatorSettings
from .delivery import DeliveryBucket, DeliveryBucketArgs
from .edge import EdgeDelivery, EdgeDeliveryArgs
from .mezzanine import MezzanineBucket, MezzanineBucketArgs
from .package import LambdaPackage, coordinator_package
from .r2_credentials import R2Credentials, R2CredentialsArgs
from .residency import allowed_region, is_region_name, region_rule
from .sippy import SippyMigration, SippyMigrationArgs
from .validation import ArgsError, Problems, check_types, is_known, names_missing_fields

__all__ = [
    "TYPE_TOKEN",
    "RegionParts",
    "SovereignVideoRegion",
    "SovereignVideoRegionArgs",
    "aws_region_problem",
    "compose_region",
    "region_outputs",
]

TYPE_TOKEN = "r2-video:index:SovereignVideoRegion"  # noqa: S105 - a type token
_OWNER = "SovereignVideoRegionArgs"


def aws_region_problem(jurisdiction: Jurisdiction, region: Any) -> str | None:
    """What is wrong with ``region`` for the AWS side of a ``jurisdiction`` region, or None.
    One text for a region known now and one an Input resolves to later."""
    if not isinstance(region, str) or not is_region_name(region):
        return f"{region!r} is not an AWS region name like eu-central-1"
    if not allowed_region(jurisdiction, region):
        return (
            f"{region!r} is not allowed for jurisdiction {jurisdiction.value!r};"
            f" use {region_rule(jurisdiction)}"
        )
    return None


_FIXES = {
    "jurisdiction": "where the region's data lives, e.g. jurisdiction=Jurisdiction.EU",
    "cloudflare_account_id": "the account of the delivery bucket (32 hex characters)",
    "aws_region": "an AWS region that fits the jurisdiction, e.g. aws_region='eu-central-1'",
    "aws_account_id": "the only AWS account the region may act in (12 digits)",
    "delivery": "delivery=DeliveryBucketArgs(...) with the region's jurisdiction",
    "edge": "edge=EdgeDeliveryArgs(...) on the delivery bucket's zone and hostnames",
    "mezzanine": "mezzanine=MezzanineBucketArgs(bucket_name=...)",
    "coordinator": "coordinator=CoordinatorSettings(function_name=...)",
    "token_name": "a name for the coordinator's R2 token, e.g. 'acme eu coordinator'",
}


@names_missing_fields(_OWNER, _FIXES)
@dataclass(frozen=True, kw_only=True, slots=True)
class SovereignVideoRegionArgs:
    """Everything one region needs; checked whole on construction (every problem at once)."""

    jurisdiction: Jurisdiction
    """Where the region's data lives: drives the R2 bucket, every R2 child, the token, the R2
    endpoint, the allowed AWS regions and the regional hostnames. Never changes in place."""
    cloudflare_account_id: str
    """Cloudflare account of the delivery bucket and its token (32 hex characters)."""
    aws_region: str
    """AWS region of the mezzanine and the coordinator; must fit the jurisdiction."""
    aws_account_id: str
    """The only AWS account the region's AWS provider may act in (12 digits)."""
    delivery: DeliveryBucketArgs
    """The R2 delivery bucket; its jurisdiction and account must be the region's."""
    edge: EdgeDeliveryArgs
    """Cache rules, tiered cache, regional hostnames, signed delivery on the delivery zone."""
    mezzanine: MezzanineBucketArgs
    """The S3 bucket of the source masters."""
    coordinator: CoordinatorSettings
    """The presigning broker's function name, memory, concurrency, logs, keys and alarm topic."""
    token_name: str
    """Name of the coordinator's R2 account token, as the Cloudflare dashboard lists it."""
    sippy: SippyMigrationArgs | None = None
    """Incremental migration into the delivery bucket from an existing S3 bucket, if set. Its
    bucket is the region's delivery bucket (the name here is replaced by the bucket's output)."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Default tags of every AWS resource the region's own AWS provider creates."""
    cloudflare_api_token: pulumi.Input[str] | None = None
    """API token of the region's Cloudflare provider; None reads CLOUDFLARE_API_TOKEN."""
    aws_provider: aws.Provider | None = None
    """An AWS provider the program owns, instead of one the region makes. Its region must be
    ``aws_region`` (checked when it resolves)."""
    cloudflare_provider: cloudflare.Provider | None = None
    """A Cloudflare provider the program owns, instead of one the region makes."""
    package: LambdaPackage | None = None
    """The coordinator's Lambda zip; None builds it from the installed ``coordinator``."""

    def __post_init__(self) -> None:
        problems = Problems(_OWNER)
        if not check_types(self, problems):
            problems.raise_if_any()  # the checks below would only fail on the wrong types
        j = self.jurisdiction
        problems.check(
            is_account_id(self.cloudflare_account_id),
            "cloudflare_account_id",
            "must be 32 lowercase hex characters",
        )
        problems.check(
            self.aws_account_id.isdigit() and len(self.aws_account_id) == 12,
            "aws_account_id",
            f"{self.aws_account_id!r} must be 12 digits",
        )
        region = aws_region_problem(j, self.aws_region)
        if region is not None:
            problems.add("aws_region", region)
        # One jurisdiction value: a part built for another one is a border crossing.
        for name, part in (("delivery", self.delivery), ("edge", self.edge), ("sippy", self.sippy)):
            if part is not None and part.jurisdiction is not j:
                problems.add(
                    f"{name}.jurisdiction",
                    f"is {part.jurisdiction.value!r} but the region's is {j.value!r}:"
                    f" build the {name} args with jurisdiction=Jurisdiction.{j.name}",
                )
        for name, account in (
            ("delivery.account_id", self.delivery.account_id),
            ("sippy.account_id", self.sippy.account_id if self.sippy else None),
        ):
            if account is not None and account != self.cloudflare_account_id:
                problems.add(name, "must be the region's cloudflare_account_id")
        if self.edge.zone_id is not self.delivery.zone_id and (
            not is_known(self.edge.zone_id) or self.edge.zone_id != self.delivery.zone_id
        ):
            problems.add("edge.zone_id", "must be the delivery bucket's zone_id")
        if tuple(self.edge.hostnames) != tuple(self.delivery.hostnames):
            problems.add("edge.hostnames", "must be the delivery bucket's hostnames, in order")
        if self.sippy is not None and self.sippy.stack_region != self.aws_region:
            problems.add("sippy.stack_region", "must be the region's aws_region")
        problems.raise_if_any()


@dataclass(frozen=True, slots=True)
class RegionParts:
    """The components one region is made of, and the region's outputs."""

    aws_provider: aws.Provider
    cloudflare_provider: cloudflare.Provider
    random_provider: random.Provider
    delivery: DeliveryBucket
    edge: EdgeDelivery
    mezzanine: MezzanineBucket
    r2_credentials: R2Credentials
    coordinator: CoordinatorService
    alarms: CoordinatorAlarms
    sippy: SippyMigration | None
    aws_region: pulumi.Output[str]
    """The AWS provider's region, checked against the jurisdiction once it resolves."""


def _named(prefix: str, part: str) -> str:
    return f"{prefix}-{part}" if prefix else part


def _checked_region(args: SovereignVideoRegionArgs, provider: aws.Provider) -> pulumi.Output[str]:
    """The consumer's provider region, refused (with the text a known value gets) when it is not
    ``aws_region`` or not allowed for the jurisdiction."""

    def check(region: str | None) -> str:
        problem = aws_region_problem(args.jurisdiction, region)
        if problem is None and region != args.aws_region:
            problem = f"the AWS provider's region {region!r} is not aws_region {args.aws_region!r}"
        if problem is not None:
            raise ArgsError(_OWNER, [("aws_provider.region", problem)])
        return args.aws_region

    region = provider.region  # Output[str | None]
    return region.apply(check)


def compose_region(
    args: SovereignVideoRegionArgs,
    *,
    prefix: str = "",
    parent: pulumi.Resource | None = None,
) -> RegionParts:
    """Create one region's parts, named ``<prefix>-<part>`` (or bare with no prefix), as
    children of ``parent`` (or of the stack)."""

    def opts(*providers: pulumi.ProviderResource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=parent, providers=list(providers))

    # Explicit providers: nothing lands in an implicit region or account; allowed_account_ids
    # makes `pulumi up` refuse the wrong AWS account.
    aws_provider = args.aws_provider or aws.Provider(
        _named(prefix, "aws"),
        region=args.aws_region,
        allowed_account_ids=[args.aws_account_id],
        default_tags=aws.ProviderDefaultTagsArgs(tags=dict(args.tags)),
        opts=pulumi.ResourceOptions(parent=parent),
    )
    cloudflare_provider = args.cloudflare_provider or cloudflare.Provider(
        _named(prefix, "cloudflare"),
        api_token=args.cloudflare_api_token,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    # Generates keys locally (no cloud); explicit like the others.
    random_provider = random.Provider(
        _named(prefix, "random"), opts=pulumi.ResourceOptions(parent=parent)
    )
    aws_region = (
        pulumi.Output.from_input(args.aws_region)
        if args.aws_provider is None
        else _checked_region(args, aws_provider)
    )

    # Delivery: the R2 bucket behind the CDN, pinned to the region's jurisdiction.
    delivery = DeliveryBucket(
        _named(prefix, "delivery"), args.delivery, opts=opts(cloudflare_provider)
    )
    # Edge: cache rules, tiered cache, regional hostnames and signed delivery on the zone.
    edge = EdgeDelivery(
        _named(prefix, "edge"),
        args.edge,
        opts=opts(cloudflare_provider, random_provider),
        # A regional hostname needs its DNS record, which the bucket's custom domain creates.
        dns_records=dict(zip(args.delivery.hostnames, delivery.custom_domains, strict=True)),
    )
    # Mezzanine: private, encrypted, versioned S3 bucket for the source masters.
    mezzanine = MezzanineBucket(
        _named(prefix, "mezzanine"), args.mezzanine, opts=opts(aws_provider)
    )
    # The coordinator's R2 keys: a token scoped to the delivery bucket's objects.
    r2_credentials = R2Credentials(
        _named(prefix, "coordinator-r2"),
        R2CredentialsArgs(
            account_id=args.cloudflare_account_id,
            jurisdiction=args.jurisdiction,
            # The bucket's output, not the name: the token is created once the bucket exists.
            bucket_name=delivery.bucket_name,
            token_name=args.token_name,
        ),
        opts=opts(cloudflare_provider),
    )
    # Coordinator: the presigning broker on Lambda in the mezzanine's region.
    coordinator = CoordinatorService(
        _named(prefix, "coordinator"),
        CoordinatorServiceArgs(
            settings=args.coordinator,
            package=args.package or coordinator_package(),
            region=args.aws_region,
            aws_account_id=args.aws_account_id,
            r2_account_id=args.cloudflare_account_id,
            jurisdiction=args.jurisdiction,
            delivery_bucket=delivery.bucket_name,
            mezzanine_bucket=mezzanine.bucket_name,
            mezzanine_kms_key_arn=mezzanine.kms_key_arn,
            r2_access_key_id=r2_credentials.access_key_id,
            r2_secret_access_key=r2_credentials.secret_access_key,
            # Signed delivery on: the coordinator mints playback URLs with the edge's key.
            playback_hmac_key=edge.playback_hmac_key,
            playback_token_ttl=edge.playback_token_ttl,
            delivery_base_urls=tuple(args.delivery.base_urls),
        ),
        opts=opts(aws_provider, random_provider),
    )
    # Alarms: 5xx rate, throttles and slow requests of the coordinator, to an SNS topic.
    alarms = CoordinatorAlarms(
        _named(prefix, "coordinator-alarms"),
        CoordinatorAlarmsArgs(
            function_name=coordinator.function_name,
            timeout_seconds=COORDINATOR_TIMEOUT_SECONDS,
            endpoint_kind=coordinator.kind,
            api_id=coordinator.api_id,
            topic_arn=args.coordinator.alarm_topic_arn,
        ),
        opts=opts(aws_provider),
    )
    # Migration (optional): Sippy fills the delivery bucket from an S3 bucket on first read.
    sippy = None
    if args.sippy is not None:
        sippy = SippyMigration(
            _named(prefix, "migration"),
            # The bucket's output, not its name: Sippy is enabled once the bucket exists.
            dataclasses.replace(args.sippy, bucket_name=delivery.bucket_name),
            opts=opts(aws_provider, cloudflare_provider),
        )
    return RegionParts(
        aws_provider=aws_provider,
        cloudflare_provider=cloudflare_provider,
        random_provider=random_provider,
        delivery=delivery,
        edge=edge,
        mezzanine=mezzanine,
        r2_credentials=r2_credentials,
        coordinator=coordinator,
        alarms=alarms,
        sippy=sippy,
        aws_region=aws_region,
    )


def region_outputs(args: SovereignVideoRegionArgs, parts: RegionParts) -> dict[str, Any]:
    """The region's outputs, named as ``infra/__main__.py`` exports them (the optional
    signed-delivery ones only when signed delivery is on)."""
    edge = parts.edge
    outputs: dict[str, Any] = {
        "jurisdiction": parts.delivery.jurisdiction,
        "r2_account_id": args.cloudflare_account_id,
        "r2_endpoint": parts.delivery.endpoint,
        "delivery_bucket": parts.delivery.bucket_name,
        "delivery_base_urls": parts.delivery.base_urls,
    }
    if edge.playback_hmac_key is not None:
        # For the coordinator's playback URLs (secret bundle key `playback_hmac_key`).
        outputs["playback_hmac_key"] = edge.playback_hmac_key
        outputs["playback_token_ttl"] = edge.playback_token_ttl
    if edge.signed_delivery_review is not None:
        # The signed-delivery WAF rules with "[key redacted]" for each key: a non-secret output
        # whose change the review flags (infra/review/risk.py).
        outputs["signed_delivery_rule"] = edge.signed_delivery_review
    outputs |= {
        "aws_region": parts.aws_region,
        "mezzanine_bucket": parts.mezzanine.bucket_name,
        "mezzanine_bucket_arn": parts.mezzanine.arn,
        "mezzanine_kms_key_arn": parts.mezzanine.kms_key_arn,
        "coordinator_url": parts.coordinator.url,
        # Subscribe the on-call address or pager to it (README, "Deploying the coordinator").
        "coordinator_alarm_topic_arn": parts.alarms.topic_arn,
        # Secret: `pulumi stack output --show-secrets coordinator_admin_key`.
        "coordinator_admin_key": parts.coordinator.admin_key,
    }
    return outputs


# The region names used so far, per program run (the root Stack of a run is the key), so a
# second region of the same name fails before any of its children is created, naming the fix,
# instead of at the engine's duplicate-URN check after the first children exist.
_NAMES: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _claim(name: str) -> None:
    root = pulumi.runtime.get_root_resource()
    if root is None:
        return
    names = _NAMES.setdefault(root, set())
    if name in names:
        raise ArgsError(
            "SovereignVideoRegion",
            [
                (
                    "name",
                    f"{name!r} is the name of another region of this program: its parts would"
                    f" have the same names; give each region its own, e.g. {name + '-2'!r}",
                )
            ],
        )
    names.add(name)


class SovereignVideoRegion(pulumi.ComponentResource):
    """One sovereign region of zero-egress video: the R2 delivery bucket and its edge, the S3
    mezzanine, and the presigning coordinator, pinned to one jurisdiction."""

    jurisdiction: pulumi.Output[str]
    """The R2 jurisdiction every R2 resource of the region carries."""
    r2_account_id: pulumi.Output[str]
    """The Cloudflare account of the delivery bucket."""
    r2_endpoint: pulumi.Output[str]
    """The R2 S3 endpoint of the bucket's jurisdiction."""
    delivery_bucket: pulumi.Output[str]
    """The R2 delivery bucket's name."""
    delivery_base_urls: pulumi.Output[list[str]]
    """``https://<hostname>/`` of each delivery hostname."""
    aws_region: pulumi.Output[str]
    """The AWS region of the mezzanine and the coordinator."""
    mezzanine_bucket: pulumi.Output[str]
    """The S3 mezzanine bucket's name."""
    mezzanine_bucket_arn: pulumi.Output[str]
    """The S3 mezzanine bucket's ARN."""
    mezzanine_kms_key_arn: pulumi.Output[str | None]
    """The mezzanine's KMS key (none with SSE-S3)."""
    coordinator_url: pulumi.Output[str]
    """The coordinator's HTTPS endpoint (function URL or HTTP API)."""
    coordinator_alarm_topic_arn: pulumi.Output[str]
    """The SNS topic the coordinator's alarms notify: subscribe the on-call to it."""
    coordinator_admin_key: pulumi.Output[str]
    """The coordinator's admin key (secret): the control plane creates jobs with it."""
    playback_hmac_key: pulumi.Output[str] | None
    """The signing key of playback URLs (secret), with signed delivery on."""
    playback_token_ttl: pulumi.Output[int] | None
    """The longest a playback URL lives, in seconds, with signed delivery on."""
    signed_delivery_rule: pulumi.Output[str] | None
    """The signed-delivery WAF rules with each key redacted, for review."""
    _parts: RegionParts

    def __init__(
        self,
        name: str,
        args: SovereignVideoRegionArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not isinstance(args, SovereignVideoRegionArgs):
            raise ArgsError(
                "SovereignVideoRegion",
                [("args", f"must be a SovereignVideoRegionArgs, not {type(args).__name__}")],
            )
        _claim(name)
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._parts = compose_region(args, prefix=name, parent=self)
        outputs = region_outputs(args, self._parts)
        self.playback_hmac_key = None
        self.playback_token_ttl = None
        self.signed_delivery_rule = None
        for key, value in outputs.items():
            setattr(self, key, pulumi.Output.from_input(value))
        self.register_outputs(outputs)

    @property
    def parts(self) -> RegionParts:
        """The region's components and providers, for a program that wires more to them."""
        return self._parts
