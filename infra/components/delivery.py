"""DeliveryBucket: the R2 bucket that serves renditions, and the edge glue around it.

References: https://developers.cloudflare.com/r2/buckets/ ,
https://github.com/pulumi/pulumi-cloudflare/issues/1174 (children need their own jurisdiction)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_cloudflare as cloudflare

from coordinator.endpoints import (
    ALLOWED_LOCATION_HINTS,
    Jurisdiction,
    is_account_id,
    r2_endpoint,
)

from .validation import (
    Problems,
    check_later,
    check_now,
    cloudflare_id_problem,
    in_zone,
    is_hostname,
    is_origin,
    is_r2_bucket_name,
)

__all__ = ["DeliveryBucket", "DeliveryBucketArgs", "PrefixLifecycle"]

SECONDS_PER_DAY = 86_400
# Players read byte ranges and need the sizes and validators of what they got.
CORS_ALLOWED_METHODS = ("GET", "HEAD")
CORS_ALLOWED_HEADERS = ("Range",)
CORS_EXPOSED_HEADERS = ("Content-Length", "Content-Range", "ETag")
CORS_MAX_AGE_LIMIT = 86_400
MIN_TLS_VERSIONS = ("1.2", "1.3")
STORAGE_CLASSES = ("Standard", "InfrequentAccess")
# R2 Infrequent Access bills at least 30 days of storage; moving objects sooner costs more.
IA_MINIMUM_DAYS = 30


@dataclass(frozen=True, kw_only=True, slots=True)
class PrefixLifecycle:
    """Age-based rules for objects under one key prefix."""

    prefix: str
    """Key prefix the rule applies to, e.g. ``vod/``; empty for the whole bucket."""
    infrequent_access_after_days: int | None = None
    """Move objects to Infrequent Access this many days after upload."""
    expire_after_days: int | None = None
    """Delete objects this many days after upload."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DeliveryBucketArgs:
    """Everything a DeliveryBucket needs; validated on construction."""

    account_id: str
    """Cloudflare account that owns the bucket (32 hex characters)."""
    bucket_name: str
    """R2 bucket name. Changing it replaces the bucket."""
    jurisdiction: Jurisdiction
    """Data-residency jurisdiction. Changing it replaces the bucket (data loss)."""
    location_hint: str | None = None
    """Best-effort placement inside the jurisdiction; honoured only when the name is first
    created. The provider ignores later changes (state wins), and a re-created bucket of the same
    name keeps its first location: the preflight fails when the two differ."""
    storage_class: Literal["Standard", "InfrequentAccess"] = "Standard"
    """Default storage class of new objects."""
    zone_id: pulumi.Input[str]
    """Cloudflare zone of the delivery hostnames; must be in the same account. May be another
    resource's output (the program's own ``cloudflare.Zone``): checked when it resolves."""
    zone_name: str
    """DNS name of that zone, used to check that every hostname belongs to it."""
    hostnames: tuple[str, ...] = ()
    """Custom domains that serve the bucket through the CDN."""
    min_tls: Literal["1.2", "1.3"] = "1.2"
    """Lowest TLS version the custom domains accept (Cloudflare's default is 1.0)."""
    cors_origins: tuple[str, ...] = ()
    """Player origins allowed to read cross-origin (``scheme://host[:port]``)."""
    cors_max_age_seconds: int = 3600
    """How long browsers may cache a preflight answer (at most 86400)."""
    lifecycle: tuple[PrefixLifecycle, ...] = ()
    """Per-prefix transitions and expiries, on top of the multipart abort rule."""
    abort_multipart_after_days: int = 7
    """Abort multipart uploads left incomplete this long (R2's default is 7)."""
    r2_dev_enabled: bool = False
    """Serve the bucket on its rate-limited r2.dev domain (development only)."""
    allow_http_origins: bool = False
    """Accept ``http://`` CORS origins (local players in development)."""
    protect_data: bool = False
    """Protect the bucket against deletion and retain it if removed from the program."""

    def __post_init__(self) -> None:
        problems = Problems("DeliveryBucketArgs")
        problems.check(
            is_account_id(self.account_id), "account_id", "must be 32 lowercase hex characters"
        )
        check_now(problems, "zone_id", self.zone_id, cloudflare_id_problem)
        problems.check(
            is_r2_bucket_name(self.bucket_name),
            "bucket_name",
            "must be 3-63 lowercase letters, digits or hyphens, starting and ending alphanumeric",
        )
        allowed_hints = ALLOWED_LOCATION_HINTS[self.jurisdiction]
        if self.location_hint is not None:
            if self.location_hint != self.location_hint.lower():
                problems.add(
                    "location_hint", f"must be lowercase, e.g. {self.location_hint.lower()!r}"
                )
            elif self.location_hint not in allowed_hints:
                problems.add(
                    "location_hint",
                    f"{self.location_hint!r} is not allowed in jurisdiction"
                    f" {self.jurisdiction.value!r};"
                    f" use one of {', '.join(sorted(allowed_hints))} or none",
                )
        problems.check(
            self.storage_class in STORAGE_CLASSES,
            "storage_class",
            f"must be one of {', '.join(STORAGE_CLASSES)}",
        )
        problems.check(
            is_hostname(self.zone_name), "zone_name", "must be a DNS name like example.com"
        )
        for host in self.hostnames:
            if not is_hostname(host):
                problems.add("hostnames", f"{host!r} is not a valid lowercase hostname")
            elif not in_zone(host, self.zone_name):
                problems.add("hostnames", f"{host!r} is not inside zone {self.zone_name!r}")
        if len(set(self.hostnames)) != len(self.hostnames):
            problems.add("hostnames", "lists a hostname twice")
        problems.check(
            self.min_tls in MIN_TLS_VERSIONS,
            "min_tls",
            f"must be one of {', '.join(MIN_TLS_VERSIONS)}",
        )
        for origin in self.cors_origins:
            problems.check(
                is_origin(origin, allow_http=self.allow_http_origins),
                "cors_origins",
                f"{origin!r} must be exactly scheme://host[:port]"
                + ("" if self.allow_http_origins else " with scheme https"),
            )
        problems.check(
            0 <= self.cors_max_age_seconds <= CORS_MAX_AGE_LIMIT,
            "cors_max_age_seconds",
            f"must be between 0 and {CORS_MAX_AGE_LIMIT}",
        )
        problems.check(
            1 <= self.abort_multipart_after_days <= 365,
            "abort_multipart_after_days",
            "must be between 1 and 365",
        )
        self._check_lifecycle(problems)
        problems.raise_if_any()

    def _check_lifecycle(self, problems: Problems) -> None:
        seen: set[str] = set()
        for rule in self.lifecycle:
            label = f"rule for prefix {rule.prefix!r}"
            if rule.prefix in seen:
                problems.add("lifecycle", f"{label} appears twice")
            seen.add(rule.prefix)
            if rule.prefix.startswith("/"):
                problems.add("lifecycle", f"{label}: a key prefix never starts with '/'")
            if rule.infrequent_access_after_days is None and rule.expire_after_days is None:
                problems.add("lifecycle", f"{label} does nothing: set a transition or an expiry")
            ia, expire = rule.infrequent_access_after_days, rule.expire_after_days
            if ia is not None and not IA_MINIMUM_DAYS <= ia <= 36_500:
                problems.add(
                    "lifecycle",
                    f"{label}: infrequent_access_after_days must be {IA_MINIMUM_DAYS}..36500"
                    " (Infrequent Access bills at least 30 days)",
                )
            if expire is not None and not 1 <= expire <= 36_500:
                problems.add("lifecycle", f"{label}: expire_after_days must be 1..36500")
            if ia is not None and expire is not None and expire <= ia:
                problems.add(
                    "lifecycle", f"{label}: expires before it would move to Infrequent Access"
                )

    @property
    def base_urls(self) -> list[str]:
        return [f"https://{host}/" for host in self.hostnames]


class DeliveryBucket(pulumi.ComponentResource):
    """An R2 bucket for encoded renditions, served through Cloudflare custom domains.

    Every child resource is given the bucket's jurisdiction explicitly: none inherits it, and a
    child without it addresses the same name in the default jurisdiction (404, code 10006).
    """

    bucket_name: pulumi.Output[str]
    jurisdiction: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    base_urls: pulumi.Output[list[str]]

    def __init__(
        self, name: str, args: DeliveryBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("r2-video:storage:DeliveryBucket", name, None, opts)
        jurisdiction = args.jurisdiction.value
        zone_id = check_later("DeliveryBucketArgs", "zone_id", args.zone_id, cloudflare_id_problem)

        self.bucket = cloudflare.R2Bucket(
            f"{name}-bucket",
            account_id=args.account_id,
            name=args.bucket_name,
            jurisdiction=jurisdiction,
            location=args.location_hint,
            storage_class=args.storage_class,
            # Only the bucket holds data; protecting it (and not its edge glue) keeps routine
            # changes such as removing a hostname possible without unprotecting anything.
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.protect_data,
                retain_on_delete=args.protect_data,
                # The provider updates a changed jurisdiction in place (a PATCH with the new
                # cf-r2-jurisdiction header, which addresses a different bucket): no
                # RequiresReplace on it (terraform-provider-cloudflare
                # internal/services/r2_bucket/schema.go, resource.go Update). A bucket in another
                # jurisdiction is another, empty bucket: say so as a replacement.
                replace_on_changes=["jurisdiction"],
                # Delete first: R2 deletes only empty buckets, so a replacement of a bucket that
                # holds objects stops before anything is created, and the stack never depends
                # on whether R2 lets one name exist in two jurisdictions at once (unverified).
                # Prod never gets here: the bucket is protected (see the README, "Replacing the
                # delivery bucket").
                delete_before_replace=True,
            ),
        )
        # Each R2 child names its bucket by name + jurisdiction; the provider has RequiresReplace
        # on bucket_name and account_id only (internal/services/r2_bucket_{cors,lifecycle}/
        # schema.go, r2_managed_domain/, r2_custom_domain/), so a new jurisdiction would be sent
        # as an update of the old bucket's child: replace them with the bucket instead.
        # Jurisdiction `us` on the children is NOT confirmed: terraform-provider-cloudflare v5.23.0
        # (619b24e8ad47) accepts "us" on r2_bucket (schema.go:99-104) but its children's validators
        # are OneOfCaseInsensitive("default", "eu", "fedramp") (r2_bucket_cors/schema.go:41-45,
        # r2_bucket_lifecycle:40-44, r2_custom_domain:48-52, r2_managed_domain:39-43,
        # r2_bucket_sippy:45-49). pulumi-cloudflare 6.23.1 bridges a later, unread release; the
        # README tells a `us` stack to run `pulumi preview` first, where a refusal would show.
        child = pulumi.ResourceOptions(parent=self, replace_on_changes=["jurisdiction"])

        self.lifecycle = cloudflare.R2BucketLifecycle(
            f"{name}-lifecycle",
            account_id=args.account_id,
            bucket_name=self.bucket.name,
            jurisdiction=jurisdiction,
            rules=_lifecycle_rules(args),
            opts=child,
        )
        self.cors = cloudflare.R2BucketCors(
            f"{name}-cors",
            account_id=args.account_id,
            bucket_name=self.bucket.name,
            jurisdiction=jurisdiction,
            rules=_cors_rules(args),
            opts=child,
        )
        # Sets r2.dev on or off at create and update only. The provider's Read and Delete are
        # empty (terraform-provider-cloudflare internal/services/r2_managed_domain/resource.go):
        # a dashboard click that turns r2.dev on never shows in refresh or preview, and removing
        # this resource leaves r2.dev as it was. `python -m infra.cli preflight` reads the real
        # setting (infra/preflight/).
        self.managed_domain = cloudflare.R2ManagedDomain(
            f"{name}-r2dev",
            account_id=args.account_id,
            bucket_name=self.bucket.name,
            jurisdiction=jurisdiction,
            enabled=args.r2_dev_enabled,
            opts=child,
        )
        # Named by hostname, not position, so adding one never renames the others.
        self.custom_domains = [
            cloudflare.R2CustomDomain(
                f"{name}-domain-{host}",
                account_id=args.account_id,
                bucket_name=self.bucket.name,
                jurisdiction=jurisdiction,
                domain=host,
                zone_id=zone_id,
                enabled=True,
                min_tls=args.min_tls,
                # A hostname serves one bucket at a time: detach before re-attaching.
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(delete_before_replace=True)
                ),
            )
            for host in args.hostnames
        ]

        self.bucket_name = self.bucket.name
        self.jurisdiction = pulumi.Output.from_input(jurisdiction)
        self.endpoint = pulumi.Output.from_input(r2_endpoint(args.account_id, args.jurisdiction))
        self.base_urls = pulumi.Output.from_input(args.base_urls)
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "jurisdiction": self.jurisdiction,
                "endpoint": self.endpoint,
                "base_urls": self.base_urls,
            }
        )


def _age(days: int) -> int:
    return days * SECONDS_PER_DAY


def _lifecycle_rules(args: DeliveryBucketArgs) -> list[cloudflare.R2BucketLifecycleRuleArgs]:
    # Writing a lifecycle configuration replaces R2's default abort rule, so we always keep one.
    rules = [
        cloudflare.R2BucketLifecycleRuleArgs(
            id="abort-incomplete-multipart",
            enabled=True,
            conditions=cloudflare.R2BucketLifecycleRuleConditionsArgs(prefix=""),
            abort_multipart_uploads_transition=cloudflare.R2BucketLifecycleRuleAbortMultipartUploadsTransitionArgs(
                condition=cloudflare.R2BucketLifecycleRuleAbortMultipartUploadsTransitionConditionArgs(
                    type="Age", max_age=_age(args.abort_multipart_after_days)
                )
            ),
        )
    ]
    for rule in args.lifecycle:
        transitions = None
        if rule.infrequent_access_after_days is not None:
            transitions = [
                cloudflare.R2BucketLifecycleRuleStorageClassTransitionArgs(
                    storage_class="InfrequentAccess",
                    condition=cloudflare.R2BucketLifecycleRuleStorageClassTransitionConditionArgs(
                        type="Age", max_age=_age(rule.infrequent_access_after_days)
                    ),
                )
            ]
        expiry = None
        if rule.expire_after_days is not None:
            expiry = cloudflare.R2BucketLifecycleRuleDeleteObjectsTransitionArgs(
                condition=cloudflare.R2BucketLifecycleRuleDeleteObjectsTransitionConditionArgs(
                    type="Age", max_age=_age(rule.expire_after_days)
                )
            )
        rules.append(
            cloudflare.R2BucketLifecycleRuleArgs(
                id=f"prefix-{rule.prefix or 'all'}",
                enabled=True,
                conditions=cloudflare.R2BucketLifecycleRuleConditionsArgs(prefix=rule.prefix),
                storage_class_transitions=transitions,
                delete_objects_transition=expiry,
            )
        )
    return rules


def _cors_rules(args: DeliveryBucketArgs) -> list[cloudflare.R2BucketCorsRuleArgs]:
    if not args.cors_origins:
        return []
    return [
        cloudflare.R2BucketCorsRuleArgs(
            id="players",
            allowed=cloudflare.R2BucketCorsRuleAllowedArgs(
                origins=list(args.cors_origins),
                methods=list(CORS_ALLOWED_METHODS),
                headers=list(CORS_ALLOWED_HEADERS),
            ),
            expose_headers=list(CORS_EXPOSED_HEADERS),
            max_age_seconds=args.cors_max_age_seconds,
        )
    ]
