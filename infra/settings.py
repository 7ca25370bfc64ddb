"""One validated StackSettings per stack, read from ``pulumi.Config``.

Every problem in a stack's configuration is reported at once, each naming the config key and the
``pulumi config set`` command that fixes it. Nothing that decides where data lives has a default:
jurisdiction, AWS region and account must be stated.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import pulumi

from coordinator.endpoints import Jurisdiction, r2_endpoint, region_key
from infra.components.coordinator_service import CoordinatorSettings, default_function_name
from infra.components.delivery import DeliveryBucketArgs, PrefixLifecycle
from infra.components.edge import DEFAULT_TOKEN_TTL, ONE_YEAR, CloudflarePlan, EdgeDeliveryArgs
from infra.components.mezzanine import MezzanineBucketArgs
from infra.components.sippy import SippyMigrationArgs
from infra.residency import allowed_region, is_region_name, partition_of, region_rule
from infra.validation import ArgsError

__all__ = ["Environment", "SettingsError", "StackSettings", "load_settings"]

PROJECT = "r2-video"
T = TypeVar("T")


class Environment(StrEnum):
    DEV = "dev"
    PROD = "prod"


class SettingsError(pulumi.RunError):
    """The stack configuration is invalid. A RunError, so Pulumi prints it without a traceback."""

    def __init__(self, stack: str, problems: list[Problem]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = [f"{count} in the configuration of stack {stack!r}:"]
        for p in problems:
            qualified = p.key if ":" in p.key else f"{PROJECT}:{p.key}"
            lines.append(f"  - {qualified}: {p.message}")
            lines.append(f"      fix: {p.fix(stack)}")
        super().__init__("\n".join(lines))


@dataclass(frozen=True, slots=True)
class Problem:
    key: str
    """The key under ``r2-video:``, or a whole ``namespace:key`` of another namespace."""
    message: str
    hint: str | None = None
    """The fix, when it is not ``pulumi config set`` of this key."""

    def fix(self, stack: str) -> str:
        if self.hint is not None:
            return self.hint.format(stack=stack)
        example = EXAMPLES.get(self.key, "<value>")
        if self.key in LIST_KEYS:
            return f"pulumi config set --stack {stack} --path '{PROJECT}:{self.key}[0]' {example}"
        if self.key in OBJECT_LIST_KEYS:
            return f"pulumi config set --stack {stack} --path '{PROJECT}:{self.key}[0].{example}'"
        if self.key in OBJECT_KEYS:
            field, value = example.split(" ", 1)
            path = f"{PROJECT}:{self.key}.{field}"
            return f"pulumi config set --stack {stack} --path '{path}' {value}"
        return f"pulumi config set --stack {stack} {PROJECT}:{self.key} {example}"


# An example value per key, used in the fix hints.
EXAMPLES = {
    "sippy": "sourceBucket example-legacy-renditions",
    "environment": "prod",
    "jurisdiction": "eu",
    "locationHint": "weur",
    "cloudflareAccountId": "0123456789abcdef0123456789abcdef",
    "cloudflareZoneId": "fedcba9876543210fedcba9876543210",
    "zoneName": "example.com",
    "deliveryHostnames": "media.example.com",
    "deliveryBucketName": "video-eu-prod-delivery",
    "storageClass": "Standard",
    "r2DevDomain": "false",
    "corsOrigins": "https://player.example.com",
    "corsMaxAgeSeconds": "3600",
    "minTls": "1.2",
    "deliveryLifecycle": "prefix vod/",
    "abortMultipartAfterDays": "7",
    "awsRegion": "eu-central-1",
    "awsAccountId": "123456789012",
    "mezzanineBucketName": "acme-video-eu-prod-mezzanine",
    "mezzanineEncryption": "aws:kms",
    "mezzanineKmsKeyArn": "arn:aws:kms:eu-central-1:123456789012:key/<key-id>",
    "mezzanineNoncurrentDays": "30",
    "mezzanineArchiveAfterDays": "90",
    "mezzanineArchiveStorageClass": "GLACIER_IR",
    "cloudflarePlan": "enterprise",
    "manifestTtlSeconds": "2",
    "segmentTtlSeconds": "31536000",
    "tieredCache": "true",
    "regionalHostnames": "false",
    "signedDelivery": "true",
    "signedDeliveryTtlSeconds": "86400",
    "signedDeliveryKeyGenerations": "2",
    "adoptCacheRulesetId": "<32-hex ruleset id from preflight>",
    "adoptFirewallRulesetId": "<32-hex ruleset id from preflight>",
    "coordinatorFunctionName": "video-eu-prod-coordinator",
    "coordinatorMemoryMb": "512",
    "coordinatorReservedConcurrency": "50",
    "coordinatorLogRetentionDays": "30",
    "coordinatorTokenKeyIds": "k1",
    "coordinatorAlarmTopicArn": "arn:aws:sns:eu-central-1:123456789012:video-oncall",
}
OBJECT_KEYS = {"sippy"}
LIST_KEYS = {
    "deliveryHostnames",
    "corsOrigins",
    "coordinatorTokenKeyIds",
    "signedDeliveryKeyGenerations",
}
OBJECT_LIST_KEYS = {"deliveryLifecycle"}

# Component-arg fields -> the config key a user edits to change them.
# The message of a required key that is missing: reported alone (load_settings drops what the
# empty value fails besides).
_REQUIRED = "is required"
_DELIVERY_KEYS = {
    "account_id": "cloudflareAccountId",
    "bucket_name": "deliveryBucketName",
    "jurisdiction": "jurisdiction",
    "location_hint": "locationHint",
    "storage_class": "storageClass",
    "zone_id": "cloudflareZoneId",
    "zone_name": "zoneName",
    "hostnames": "deliveryHostnames",
    "min_tls": "minTls",
    "cors_origins": "corsOrigins",
    "cors_max_age_seconds": "corsMaxAgeSeconds",
    "lifecycle": "deliveryLifecycle",
    "abort_multipart_after_days": "abortMultipartAfterDays",
    "r2_dev_enabled": "r2DevDomain",
}
_EDGE_KEYS = {
    "zone_id": "cloudflareZoneId",
    "hostnames": "deliveryHostnames",
    "jurisdiction": "jurisdiction",
    "plan": "cloudflarePlan",
    "manifest_ttl_seconds": "manifestTtlSeconds",
    "segment_ttl_seconds": "segmentTtlSeconds",
    "tiered_cache": "tieredCache",
    "regional_hostnames": "regionalHostnames",
    "signed_delivery": "signedDelivery",
    "token_ttl_seconds": "signedDeliveryTtlSeconds",
    "playback_key_generations": "signedDeliveryKeyGenerations",
    "adopt_cache_ruleset_id": "adoptCacheRulesetId",
    "adopt_firewall_ruleset_id": "adoptFirewallRulesetId",
}
_MEZZANINE_KEYS = {
    "bucket_name": "mezzanineBucketName",
    "encryption": "mezzanineEncryption",
    "kms_key_arn": "mezzanineKmsKeyArn",
    "noncurrent_version_days": "mezzanineNoncurrentDays",
    "abort_multipart_after_days": "abortMultipartAfterDays",
    "archive_after_days": "mezzanineArchiveAfterDays",
    "archive_storage_class": "mezzanineArchiveStorageClass",
}
_COORDINATOR_KEYS = {
    "function_name": "coordinatorFunctionName",
    "memory_mb": "coordinatorMemoryMb",
    "reserved_concurrency": "coordinatorReservedConcurrency",
    "log_retention_days": "coordinatorLogRetentionDays",
    "token_key_ids": "coordinatorTokenKeyIds",
    "alarm_topic_arn": "coordinatorAlarmTopicArn",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class StackSettings:
    """The validated configuration of one stack."""

    stack: str
    environment: Environment
    jurisdiction: Jurisdiction
    cloudflare_account_id: str
    aws_region: str
    aws_account_id: str
    delivery: DeliveryBucketArgs
    edge: EdgeDeliveryArgs
    mezzanine: MezzanineBucketArgs
    coordinator: CoordinatorSettings
    sippy: SippyMigrationArgs | None = None
    """Incremental migration into the delivery bucket from an existing S3 bucket, if set."""

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PROD

    @property
    def aws_partition(self) -> str:
        return partition_of(self.aws_region)

    @property
    def r2_endpoint(self) -> str:
        return r2_endpoint(self.cloudflare_account_id, self.jurisdiction)


class _Reader:
    """Reads raw config values, recording a Problem instead of raising on the first one."""

    def __init__(self, config: pulumi.Config) -> None:
        self.config = config
        self.problems: list[Problem] = []
        self.read: set[str] = set()
        """Every key asked for: the known keys are the ones this reader reads."""

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(key, message))

    def text(self, key: str, *, required: bool = False) -> str | None:
        self.read.add(key)
        value = self.config.get(key)
        if value is None or value == "":
            if required:
                self.problem(key, _REQUIRED)
            return None
        return value

    def choice(
        self, key: str, enum: Callable[[str], T], allowed: list[str], *, default: str | None = None
    ) -> T | None:
        raw = self.text(key, required=default is None)
        raw = default if raw is None else raw
        if raw is None:
            return None
        try:
            return enum(raw)
        except ValueError:
            self.problem(key, f"{raw!r} is not one of {', '.join(allowed)}")
            return None

    def integer(self, key: str, default: int | None) -> int | None:
        raw = self.text(key)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            self.problem(key, f"{raw!r} is not a whole number")
            return default

    def flag(self, key: str, default: bool) -> bool:
        raw = self.text(key)
        if raw is None:
            return default
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        self.problem(key, f"{raw!r} is not true or false")
        return default

    def structured(self, key: str, kind: type) -> Any:
        raw = self.text(key)
        if raw is None:
            return kind()
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, kind):
            self.problem(
                key, f"must be a {'list' if kind is list else 'mapping'} in the stack file"
            )
            return kind()
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.structured(key, list)
        if not all(isinstance(v, str) for v in values):
            self.problem(key, "must be a list of strings")
            return ()
        return tuple(values)


def _lifecycle(reader: _Reader) -> tuple[PrefixLifecycle, ...]:
    rules = []
    fields = {"prefix", "infrequentAccessAfterDays", "expireAfterDays"}
    for i, item in enumerate(reader.structured("deliveryLifecycle", list)):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("prefix"), str)
            or set(item) - fields
        ):
            reader.problem(
                "deliveryLifecycle",
                f"entry {i} must be a mapping with a string 'prefix' and optional"
                " 'infrequentAccessAfterDays', 'expireAfterDays' (whole days)",
            )
            continue
        days = [item.get("infrequentAccessAfterDays"), item.get("expireAfterDays")]
        if not all(d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in days):
            reader.problem("deliveryLifecycle", f"entry {i}: days must be whole numbers")
            continue
        rules.append(
            PrefixLifecycle(
                prefix=item["prefix"],
                infrequent_access_after_days=days[0],
                expire_after_days=days[1],
            )
        )
    return tuple(rules)


def _generations(reader: _Reader) -> tuple[int, ...]:
    """``signedDeliveryKeyGenerations``: whole numbers; EdgeDeliveryArgs checks the rest."""
    if reader.text("signedDeliveryKeyGenerations") is None:
        return (1,)
    raw = reader.structured("signedDeliveryKeyGenerations", list)
    if not all(isinstance(g, int) and not isinstance(g, bool) for g in raw):
        reader.problem("signedDeliveryKeyGenerations", "must be a list of whole numbers")
        return (1,)
    return tuple(raw)


def _build(reader: _Reader, build: Callable[[], T], keys: dict[str, str]) -> T | None:
    try:
        return build()
    except ArgsError as error:
        for name, message in error.problems:
            reader.problem(keys.get(name, name), message)
        return None


_SIPPY_FIELDS = {"sourceBucket", "sourceRegion", "acknowledgeCrossBorder"}


def _sippy(
    r: _Reader,
    stack: str,
    account_id: str,
    jurisdiction: Jurisdiction | None,
    aws_region: str,
    delivery: DeliveryBucketArgs | None,
) -> SippyMigrationArgs | None:
    """The optional ``sippy`` mapping: where the delivery bucket fills itself from."""
    if r.text("sippy") is None:
        return None
    reported = len(r.problems)
    raw = r.structured("sippy", dict)
    if len(r.problems) > reported:
        return None  # not a mapping: no field of it can be judged
    unknown = sorted(set(raw) - _SIPPY_FIELDS)
    if unknown:
        r.problem(
            "sippy",
            f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_SIPPY_FIELDS))}",
        )
    acknowledge = raw.get("acknowledgeCrossBorder", False)
    if not isinstance(acknowledge, bool):
        r.problem("sippy", "acknowledgeCrossBorder must be true or false")
        acknowledge = False
    if jurisdiction is None or delivery is None or not aws_region:
        return None  # the problems that stop us here are reported already
    return _build(
        r,
        lambda: SippyMigrationArgs(
            account_id=account_id,
            jurisdiction=jurisdiction,
            bucket_name=delivery.bucket_name,
            source_bucket=str(raw.get("sourceBucket", "")),
            source_region=str(raw.get("sourceRegion", "")),
            stack_region=aws_region,
            acknowledge_cross_border=acknowledge,
            user_name=f"{PROJECT}-{stack}-sippy",
        ),
        {name: "sippy" for name in ("account_id", "source_bucket", "source_region", "user_name")},
    )


# Keys of this project that other readers own (not `pulumi up`): the cost model's workload.
READ_ELSEWHERE = frozenset({"workload"})  # infra/cost/workload.py CONFIG_KEY
# The only key of a provider's namespace the program reads (infra/__main__.py passes it to the
# explicit Cloudflare provider). Every other `aws:` / `cloudflare:` key configures the *default*
# provider, which Pulumi.yaml disables: the explicit providers take their settings as arguments
# only, so such a key would be silently ignored.
# https://www.pulumi.com/docs/iac/concepts/resources/providers/ (explicit vs default providers)
PROVIDER_KEYS_READ = frozenset({"cloudflare:apiToken"})
_PROVIDER_KEY_INSTEAD = {
    "aws:region": "awsRegion",
    "aws:allowedAccountIds": "awsAccountId",
    "cloudflare:accountId": "cloudflareAccountId",
}


def all_config_keys() -> set[str]:
    """Every ``namespace:key`` the engine handed the program (set in process or via env)."""
    from pulumi.runtime import config as runtime_config

    return set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())


def unknown_key_problems(project: str, keys: Iterable[str], known: Iterable[str]) -> list[Problem]:
    """A problem for each config key nobody reads, with the likely key it was meant to be."""
    known = sorted(set(known) | READ_ELSEWHERE)
    lowered = {k.lower(): k for k in known}
    problems = []
    for full in sorted(keys):
        namespace, _, key = full.partition(":")
        if namespace == project:
            if key in known:
                continue
            close = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.6)
            likely = f"; did you mean {project}:{lowered[close[0]]}?" if close else ""
            problems.append(
                Problem(
                    key,
                    f"is not a setting of this program, so it would be ignored{likely}",
                    f"pulumi config rm --stack {{stack}} {full}"
                    + (f" and set {project}:{lowered[close[0]]} instead" if close else ""),
                )
            )
        elif namespace in ("aws", "cloudflare") and full not in PROVIDER_KEYS_READ:
            instead = _PROVIDER_KEY_INSTEAD.get(full)
            likely = f"; did you mean {project}:{instead}?" if instead else ""
            problems.append(
                Problem(
                    full,
                    "configures only the default provider, which this program disables: the"
                    f" explicit {namespace} provider ignores it{likely}",
                    f"pulumi config rm --stack {{stack}} {full}"
                    + (f" and set {project}:{instead} instead" if instead else ""),
                )
            )
    return problems


def load_settings(config: pulumi.Config | None = None, stack: str | None = None) -> StackSettings:
    """Read and validate the stack's configuration; raise SettingsError listing every problem."""
    config = config or pulumi.Config(PROJECT)
    stack = stack or pulumi.get_stack()
    r = _Reader(config)

    environment = r.choice("environment", Environment, [e.value for e in Environment])
    jurisdiction = r.choice("jurisdiction", Jurisdiction, [j.value for j in Jurisdiction])
    account_id = r.text("cloudflareAccountId", required=True) or ""
    zone_id = r.text("cloudflareZoneId", required=True) or ""
    aws_region = r.text("awsRegion", required=True) or ""
    aws_account_id = r.text("awsAccountId", required=True) or ""
    r2_dev = r.flag("r2DevDomain", default=False)
    hostnames = r.strings("deliveryHostnames")
    production = environment is Environment.PROD

    if aws_account_id and not (aws_account_id.isdigit() and len(aws_account_id) == 12):
        r.problem("awsAccountId", f"{aws_account_id!r} must be 12 digits")
    if aws_region and not is_region_name(aws_region):
        r.problem("awsRegion", f"{aws_region!r} is not an AWS region name like eu-central-1")
    elif jurisdiction is not None and aws_region and not allowed_region(jurisdiction, aws_region):
        r.problem(
            "awsRegion",
            f"{aws_region!r} is not allowed for jurisdiction {jurisdiction.value!r};"
            f" use {region_rule(jurisdiction)}",
        )
    if production and r2_dev:
        r.problem(
            "r2DevDomain", "r2.dev is rate-limited and bypasses edge protection: never on in prod"
        )
    if production and not hostnames:
        r.problem("deliveryHostnames", "a prod stack serves through at least one custom domain")

    lifecycle = _lifecycle(r)
    # Built even when the jurisdiction is missing or wrong (checked against the permissive
    # default then), so every other problem is reported in the same run.
    delivery = _build(
        r,
        lambda: DeliveryBucketArgs(
            account_id=account_id,
            bucket_name=r.text("deliveryBucketName", required=True) or "",
            jurisdiction=jurisdiction or Jurisdiction.DEFAULT,
            location_hint=r.text("locationHint"),
            storage_class=r.text("storageClass") or "Standard",  # type: ignore[arg-type]
            zone_id=zone_id,
            zone_name=r.text("zoneName", required=True) or "",
            hostnames=hostnames,
            min_tls=r.text("minTls") or "1.2",  # type: ignore[arg-type]
            cors_origins=r.strings("corsOrigins"),
            cors_max_age_seconds=r.integer("corsMaxAgeSeconds", 3600) or 0,
            lifecycle=lifecycle,
            abort_multipart_after_days=r.integer("abortMultipartAfterDays", 7) or 0,
            r2_dev_enabled=r2_dev,
            allow_http_origins=not production,
            protect_data=production,
        ),
        _DELIVERY_KEYS,
    )
    plan = r.choice(
        "cloudflarePlan", CloudflarePlan, [p.value for p in CloudflarePlan], default="free"
    )
    edge = _build(
        r,
        lambda: EdgeDeliveryArgs(
            zone_id=zone_id,
            hostnames=hostnames,
            jurisdiction=jurisdiction or Jurisdiction.DEFAULT,
            # An unknown plan is reported above; judged by the permissive plan then (as a
            # missing jurisdiction is), so it does not also raise what the free plan forbids.
            plan=plan or CloudflarePlan.ENTERPRISE,
            manifest_ttl_seconds=r.integer("manifestTtlSeconds", None),
            segment_ttl_seconds=r.integer("segmentTtlSeconds", ONE_YEAR) or 0,
            tiered_cache=r.flag("tieredCache", default=True),
            # On by default where there is a region to pin delivery processing to (EU, FedRAMP).
            regional_hostnames=r.flag(
                "regionalHostnames",
                default=jurisdiction is not None and region_key(jurisdiction) is not None,
            ),
            signed_delivery=r.flag("signedDelivery", default=False),
            token_ttl_seconds=r.integer("signedDeliveryTtlSeconds", DEFAULT_TOKEN_TTL) or 0,
            playback_key_generations=_generations(r),
            # Take over an existing zone entry point (README, "One ruleset per phase").
            adopt_cache_ruleset_id=r.text("adoptCacheRulesetId"),
            adopt_firewall_ruleset_id=r.text("adoptFirewallRulesetId"),
        ),
        _EDGE_KEYS,
    )
    mezzanine = _build(
        r,
        lambda: MezzanineBucketArgs(
            bucket_name=r.text("mezzanineBucketName", required=True) or "",
            encryption=r.text("mezzanineEncryption") or "aws:kms",  # type: ignore[arg-type]
            kms_key_arn=r.text("mezzanineKmsKeyArn"),
            noncurrent_version_days=r.integer("mezzanineNoncurrentDays", 30) or 0,
            abort_multipart_after_days=r.integer("abortMultipartAfterDays", 7) or 0,
            archive_after_days=r.integer("mezzanineArchiveAfterDays", None),
            archive_storage_class=r.text("mezzanineArchiveStorageClass") or "GLACIER_IR",  # type: ignore[arg-type]
            protect_data=production,
        ),
        _MEZZANINE_KEYS,
    )
    coordinator = _build(
        r,
        lambda: CoordinatorSettings(
            function_name=r.text("coordinatorFunctionName") or default_function_name(stack),
            memory_mb=r.integer("coordinatorMemoryMb", 512) or 0,
            reserved_concurrency=r.integer("coordinatorReservedConcurrency", 50) or 0,
            log_retention_days=r.integer("coordinatorLogRetentionDays", 30) or 0,
            token_key_ids=r.strings("coordinatorTokenKeyIds") or ("k1",),
            alarm_topic_arn=r.text("coordinatorAlarmTopicArn"),
        ),
        _COORDINATOR_KEYS,
    )
    sippy = _sippy(r, stack, account_id, jurisdiction, aws_region, delivery)
    topic = r.text("coordinatorAlarmTopicArn")
    if topic and aws_region and f":sns:{aws_region}:" not in topic:
        # CloudWatch notifies only topics in the alarm's own region.
        r.problem(
            "coordinatorAlarmTopicArn", f"the topic must be in the stack's region {aws_region!r}"
        )
    kms_key = r.text("mezzanineKmsKeyArn")
    if kms_key and aws_region and f":kms:{aws_region}:" not in kms_key:
        r.problem("mezzanineKmsKeyArn", f"the key must be in the stack's region {aws_region!r}")

    # Last, once every key has been read: the keys nobody read are mistakes (a typo, a
    # provider key the explicit providers ignore).
    r.problems += unknown_key_problems(config.name, all_config_keys(), r.read)
    # One problem per (key, message): a value read twice must not be reported twice. A required
    # key that is missing is reported as missing only, not also by the checks its empty value
    # fails.
    missing = {p.key for p in r.problems if p.message == _REQUIRED}
    problems = [
        p for p in dict.fromkeys(r.problems) if p.key not in missing or p.message == _REQUIRED
    ]
    if (
        problems
        or environment is None
        or jurisdiction is None
        or delivery is None
        or edge is None
        or mezzanine is None
        or coordinator is None
    ):
        raise SettingsError(stack, problems)
    return StackSettings(
        stack=stack,
        environment=environment,
        jurisdiction=jurisdiction,
        cloudflare_account_id=account_id,
        aws_region=aws_region,
        aws_account_id=aws_account_id,
        delivery=delivery,
        edge=edge,
        mezzanine=mezzanine,
        coordinator=coordinator,
        sippy=sippy,
    )
