"""The stack's policy rules, as plain functions over a small neutral view of its resources.

The same rules run in two places:

* offline, in ``python -m infra.cli plan`` (``view.view_from_plan``), where a mandatory violation
  makes the plan exit 1;
* inside ``pulumi preview --policy-pack infra/review/policy`` (``infra/review/policy/pack.py`` turns
  pulumi_policy's ``PolicyResource`` objects into the same view, ``view.py``).

Stack context (environment, jurisdiction) comes from the stack's configuration, the same
``r2-video:environment`` / ``r2-video:jurisdiction`` values the program validates: offline from
``Pulumi.<stack>.yaml``, in the pack from ``pulumi.Config`` (the engine hands a policy pack the
stack's config). Where the config is absent the jurisdiction falls back to the one the R2
buckets agree on and the environment to ``prod``, the strict choice; the report names the
source. Jurisdiction facts come from ``coordinator/endpoints.py`` (R2) and
``infra/residency.py`` (AWS); this module restates none of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from coordinator.endpoints import ALLOWED_LOCATION_HINTS, REGION_KEYS, Jurisdiction
from infra.residency import allowed_region, partition_of, region_rule
from infra.review.policy.view import (
    SECRET,
    UNKNOWN,
    Resource,
    Rule,
    RuleResult,
    StackContext,
    StackView,
    Violation,
    _as_list,
    _json_document,
    _known,
    _label,
    _refers_to,
    _strings,
)
from infra.review.risk import (
    DATA_BEARING,
    KMS_KEY,
    LOG_GROUP,
    R2_BUCKET,
    REGIONAL_HOSTNAME,
    S3_BUCKET,
)

__all__ = [
    "RULES",
    "evaluate",
    "looks_like_secret_key",
    "mandatory_failures",
    "render_results",
]

R2_MANAGED_DOMAIN = "cloudflare:index/r2ManagedDomain:R2ManagedDomain"
R2_CUSTOM_DOMAIN = "cloudflare:index/r2CustomDomain:R2CustomDomain"
AWS_PROVIDER = "pulumi:providers:aws"
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
S3_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
S3_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)
MIN_TLS: tuple[int, ...] = (1, 2)
# Regional Services region keys that stay inside a jurisdiction come from
# coordinator/endpoints.py (REGION_KEYS); a jurisdiction missing there places no constraint.


# --- the rules -----------------------------------------------------------------------------------


def _check_r2_residency(view: StackView) -> Iterator[Violation]:
    j = view.context.jurisdiction
    hints = ALLOWED_LOCATION_HINTS[j]
    for r in view.resources:
        if not r.type.startswith("cloudflare:"):
            continue
        if "jurisdiction" not in r.inputs and r.type != R2_BUCKET:
            continue
        value = r.inputs.get("jurisdiction") or Jurisdiction.DEFAULT.value
        if _known(value) and value != j.value:
            yield Violation(
                f"{_label(r)}: jurisdiction {value!r}, the stack's is {j.value!r}", r.urn
            )
        if r.type == R2_BUCKET:
            hint = r.inputs.get("location")
            if _known(hint) and hint.lower() not in hints:
                yield Violation(
                    f"{_label(r)}: location hint {hint!r} is outside jurisdiction {j.value!r}"
                    f" (allowed: {', '.join(sorted(hints))})",
                    r.urn,
                )


def _expected_partitions(view: StackView) -> set[str]:
    regions = [r.inputs.get("region") for r in view.of_type(AWS_PROVIDER)]
    return {partition_of(region) for region in regions if _known(region)}


_ARN = re.compile(r"^arn:([a-z-]+):([a-z0-9-]+):([a-z0-9-]*):")


def _check_aws_residency(view: StackView) -> Iterator[Violation]:
    j = view.context.jurisdiction
    for r in view.resources:
        if r.type == AWS_PROVIDER or r.type.startswith("aws:"):
            region = r.inputs.get("region") if r.type == AWS_PROVIDER else view.aws_region(r)
            if _known(region) and not allowed_region(j, region):
                yield Violation(
                    f"{_label(r)}: AWS region {region!r} is not allowed for jurisdiction"
                    f" {j.value!r}; use {region_rule(j)}",
                    r.urn,
                )
    partitions = _expected_partitions(view)
    for r in view.resources:
        own_region = view.aws_region(r) if r.type.startswith("aws:") else None
        expected = {partition_of(own_region)} if own_region else partitions
        for path, text in _strings(r.inputs):
            match = _ARN.match(text)
            if not match:
                continue
            partition, _service, region = match.groups()
            if expected and partition not in expected:
                yield Violation(
                    f"{_label(r)}: {path} is an ARN in partition {partition!r}, the stack's"
                    f" AWS resources are in {', '.join(sorted(expected))}",
                    r.urn,
                )
            if region and not allowed_region(j, region):
                yield Violation(
                    f"{_label(r)}: {path} names region {region!r}, not allowed for"
                    f" jurisdiction {j.value!r}",
                    r.urn,
                )


def _check_regional_hostnames(view: StackView) -> Iterator[Violation]:
    allowed = REGION_KEYS.get(view.context.jurisdiction)
    for r in view.of_type(REGIONAL_HOSTNAME):
        key = r.inputs.get("regionKey")
        if allowed is not None and _known(key) and key not in allowed:
            yield Violation(
                f"{_label(r)}: region key {key!r} is outside jurisdiction"
                f" {view.context.jurisdiction.value!r} (allowed: {', '.join(sorted(allowed))})",
                r.urn,
            )


def _check_r2_children(view: StackView) -> Iterator[Violation]:
    buckets = view.of_type(R2_BUCKET)
    for child in view.resources:
        if not child.type.startswith("cloudflare:") or child.type == R2_BUCKET:
            continue
        if "bucketName" not in child.inputs:
            continue
        for bucket in buckets:
            name = bucket.inputs.get("name")
            if not _refers_to(child, bucket, "bucketName", name if _known(name) else None):
                continue
            if child.inputs.get("accountId") not in (None, UNKNOWN, bucket.inputs.get("accountId")):
                continue
            want = bucket.inputs.get("jurisdiction") or Jurisdiction.DEFAULT.value
            got = child.inputs.get("jurisdiction") or Jurisdiction.DEFAULT.value
            if _known(want) and _known(got) and want != got:
                yield Violation(
                    f"{_label(child)}: jurisdiction {got!r} but its bucket {bucket.name} is in"
                    f" {want!r} (every R2 child needs the bucket's jurisdiction: without it the"
                    " API addresses a bucket of that name in another jurisdiction)",
                    child.urn,
                )


def _check_r2_dev(view: StackView) -> Iterator[Violation]:
    if not view.context.production:
        return
    for r in view.of_type(R2_MANAGED_DOMAIN):
        if r.inputs.get("enabled") is not False:
            yield Violation(
                f"{_label(r)}: r2.dev is on in a prod stack (rate-limited, bypasses the edge)",
                r.urn,
            )


def _tls_version(value: Any) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in str(value).split("."))
    except ValueError:
        return None


def _check_min_tls(view: StackView) -> Iterator[Violation]:
    for r in view.of_type(R2_CUSTOM_DOMAIN):
        value = r.inputs.get("minTls")
        if value == UNKNOWN:
            continue
        version: tuple[int, ...] | None = _tls_version(value) if value is not None else (1, 0)
        if version is None or version < MIN_TLS:
            shown = "unset (Cloudflare's default is 1.0)" if value is None else repr(value)
            yield Violation(f"{_label(r)}: minTls {shown}, needs 1.2 or higher", r.urn)


def _s3_children(view: StackView, bucket: Resource, type_token: str) -> list[Resource]:
    name = bucket.inputs.get("bucket")
    return [
        c
        for c in view.of_type(type_token)
        if _refers_to(c, bucket, "bucket", name if _known(name) else None)
    ]


def _check_public_access_block(view: StackView) -> Iterator[Violation]:
    for bucket in view.of_type(S3_BUCKET):
        blocks = _s3_children(view, bucket, S3_PUBLIC_ACCESS_BLOCK)
        if not blocks:
            yield Violation(f"{_label(bucket)}: no BucketPublicAccessBlock", bucket.urn)
        for block in blocks:
            off = [f for f in PUBLIC_ACCESS_FLAGS if block.inputs.get(f) is not True]
            if off:
                yield Violation(f"{_label(block)}: not true: {', '.join(off)}", block.urn)


def _check_encryption(view: StackView) -> Iterator[Violation]:
    for bucket in view.of_type(S3_BUCKET):
        configs = _s3_children(view, bucket, S3_ENCRYPTION)
        if not configs:
            yield Violation(
                f"{_label(bucket)}: no BucketServerSideEncryptionConfiguration", bucket.urn
            )
        for config in configs:
            algorithms = [
                (rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm")
                for rule in _as_list(config.inputs.get("rules"))
                if isinstance(rule, Mapping)
            ]
            if not any(a in ("aws:kms", "aws:kms:dsse", "AES256", UNKNOWN) for a in algorithms):
                yield Violation(f"{_label(config)}: no default encryption rule", config.urn)


def _check_versioning(view: StackView) -> Iterator[Violation]:
    for bucket in view.of_type(S3_BUCKET):
        configs = _s3_children(view, bucket, S3_VERSIONING)
        statuses = [(c.inputs.get("versioningConfiguration") or {}).get("status") for c in configs]
        if not any(s in ("Enabled", UNKNOWN) for s in statuses):
            yield Violation(f"{_label(bucket)}: versioning is not Enabled", bucket.urn)


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if not isinstance(document, Mapping):
        return []
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]


def _denies_plain_http(statement: Mapping[str, Any]) -> bool:
    condition = statement.get("Condition") or {}
    secure = (condition.get("Bool") or {}).get("aws:SecureTransport")
    actions = _as_list(statement.get("Action"))
    return (
        statement.get("Effect") == "Deny"
        and str(secure).lower() == "false"
        and any(a in ("s3:*", "*") for a in actions)
    )


def _check_tls_only(view: StackView) -> Iterator[Violation]:
    for bucket in view.of_type(S3_BUCKET):
        policies = _s3_children(view, bucket, S3_POLICY)
        documents = [p.inputs.get("policy") for p in policies]
        if any(d == UNKNOWN for d in documents):
            continue
        parsed = [_json_document(d) if isinstance(d, str) else d for d in documents]
        if not any(_denies_plain_http(s) for d in parsed for s in _statements(d)):
            yield Violation(
                f"{_label(bucket)}: no bucket policy denying requests without TLS"
                " (Deny s3:* when aws:SecureTransport is false)",
                bucket.urn,
            )


# Inputs that hold IAM policy documents. KMS key policies are left out: there "Resource": "*"
# means the key itself.
_POLICY_INPUTS = ("policy", "assumeRolePolicy", "inlinePolicies")


def _check_iam_wildcards(view: StackView) -> Iterator[Violation]:
    for r in view.resources:
        if not r.type.startswith("aws:") or r.type == KMS_KEY:
            continue
        for prop in _POLICY_INPUTS:
            for raw in _as_list(r.inputs.get(prop)):
                if isinstance(raw, Mapping) and "policy" in raw:  # inlinePolicies entries
                    raw = raw["policy"]
                document = _json_document(raw) if isinstance(raw, str) else raw
                for i, statement in enumerate(_statements(document)):
                    if statement.get("Effect") != "Allow":
                        continue
                    where = f"{_label(r)}: {prop} statement {statement.get('Sid') or i}"
                    actions = _as_list(statement.get("Action"))
                    # Any wildcard, not only "*" and "s3:*": "s3:Get*" grants actions that
                    # did not exist when the policy was reviewed.
                    wild = [a for a in actions if "*" in str(a)]
                    if wild or "NotAction" in statement:
                        shown = ", ".join(map(str, wild)) or "NotAction"
                        yield Violation(f"{where} allows every action ({shown})", r.urn)
                    resources = _as_list(statement.get("Resource"))
                    if "*" in resources and not statement.get("Condition"):
                        yield Violation(
                            f"{where} allows Resource '*' with no Condition to scope it", r.urn
                        )


def _check_log_retention(view: StackView) -> Iterator[Violation]:
    for r in view.of_type(LOG_GROUP):
        days = r.inputs.get("retentionInDays")
        if days == UNKNOWN:
            continue
        if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
            yield Violation(f"{_label(r)}: retentionInDays is not set (logs kept forever)", r.urn)


def _check_data_protected(view: StackView) -> Iterator[Violation]:
    if not view.context.production:
        return
    for r in view.resources:
        if r.type not in DATA_BEARING:
            continue
        if not r.protect:
            yield Violation(f"{_label(r)}: not protected in a prod stack", r.urn)
        if r.retain_on_delete is False:
            yield Violation(f"{_label(r)}: not retained on delete in a prod stack", r.urn)


_SECRET_WORDS = re.compile(
    r"(secret|password|passwd|passphrase|token|privatekey|apikey|accesskey|credential|signingkey)"
)
# A key naming a reference to a secret, or a property of one, rather than the secret itself.
_NOT_A_SECRET = re.compile(
    r"(arn|arns|id|ids|name|names|type|length|count|ttl|seconds|days|version|path|enabled|url"
    r"|uri|header|location|policy|rotation|expiry|expiration|validation|check|checks)$"
    r"|^(skip|enable|disable|require|use|allow)"
)
# Values no secret looks like: flags and numbers.
_PLAIN_VALUE = re.compile(r"(?i)(true|false|-?\d+(\.\d+)?)")
_PEM_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_AWS_ACCESS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")


def looks_like_secret_key(key: str) -> bool:
    """True for an input name that usually holds a secret (``apiToken``, ``db_password``...)."""
    flat = re.sub(r"[^a-z0-9]", "", key.rsplit(".", 1)[-1].split("[", 1)[0].lower())
    return bool(_SECRET_WORDS.search(flat)) and not _NOT_A_SECRET.search(flat)


def _check_plain_secrets(view: StackView) -> Iterator[Violation]:
    for r in view.resources:
        for path, text in _strings(r.inputs):
            if text in (SECRET, UNKNOWN) or not text:
                continue
            if _PEM_PRIVATE_KEY.search(text):
                yield Violation(f"{_label(r)}: {path} holds a PEM private key", r.urn)
            elif _AWS_ACCESS_KEY_ID.search(text):
                yield Violation(f"{_label(r)}: {path} holds an AWS access key id", r.urn)
            elif (
                view.context.secrets_masked
                and looks_like_secret_key(path)
                and not _PLAIN_VALUE.fullmatch(text)
            ):
                yield Violation(
                    f"{_label(r)}: {path} looks like a secret but is a plain value: pass it"
                    " with pulumi.Output.secret() or `pulumi config set --secret`",
                    r.urn,
                )


RULES: tuple[Rule, ...] = (
    Rule(
        "residency-r2",
        "Every R2 resource is in the stack's jurisdiction; location hints lie inside it.",
        _check_r2_residency,
    ),
    Rule(
        "residency-aws",
        "AWS resources are in regions the jurisdiction allows; every ARN is in their partition.",
        _check_aws_residency,
    ),
    Rule(
        "residency-regional-hostname",
        "A regional hostname's region key lies inside the stack's jurisdiction.",
        _check_regional_hostnames,
    ),
    Rule(
        "r2-children-bucket-jurisdiction",
        "Every R2 child resource carries its bucket's jurisdiction.",
        _check_r2_children,
    ),
    Rule("r2-dev-off-in-prod", "r2.dev is off in prod stacks.", _check_r2_dev),
    Rule("custom-domain-min-tls", "Custom domains accept TLS 1.2 or higher only.", _check_min_tls),
    Rule(
        "s3-public-access-block",
        "Every S3 bucket blocks public access (all four flags).",
        _check_public_access_block,
    ),
    Rule("s3-encryption", "Every S3 bucket has default encryption.", _check_encryption),
    Rule("s3-versioning", "Every S3 bucket is versioned.", _check_versioning),
    Rule("s3-tls-only", "Every S3 bucket denies requests made without TLS.", _check_tls_only),
    Rule(
        "iam-no-wildcards",
        "No IAM Allow statement grants every action or an unscoped '*' resource.",
        _check_iam_wildcards,
    ),
    Rule("log-retention", "CloudWatch log groups set a retention.", _check_log_retention),
    Rule(
        "data-protected-in-prod",
        "In prod, data-bearing resources are protected and retained on delete.",
        _check_data_protected,
    ),
    Rule(
        "no-plain-secrets",
        "No secret-looking value sits in a plain (unencrypted) input.",
        _check_plain_secrets,
    ),
)


def evaluate(view: StackView, rules: tuple[Rule, ...] = RULES) -> list[RuleResult]:
    """Run every rule over the view."""
    return [RuleResult(rule, tuple(rule.check(view))) for rule in rules]


def mandatory_failures(results: list[RuleResult]) -> list[RuleResult]:
    return [r for r in results if r.rule.mandatory and not r.passed]


def render_results(results: list[RuleResult], context: StackContext) -> str:
    """The policy section printed after the offline plan."""
    failed = mandatory_failures(results)
    lines = [
        f"Policy: {len(results) - len([r for r in results if not r.passed])}/{len(results)}"
        f" rules pass (environment {context.environment}, jurisdiction"
        f" {context.jurisdiction.value}: {context.source})",
    ]
    width = max(len(r.rule.name) for r in results)
    for result in results:
        status = "pass" if result.passed else ("FAIL" if result.rule.mandatory else "warn")
        lines.append(f"  {status}  {result.rule.name.ljust(width)}  {result.rule.description}")
        lines.extend(f"          - {v.message}" for v in result.violations)
    if failed:
        lines.append(f"{len(failed)} mandatory rule(s) failed: the plan is refused.")
    return "\n".join(lines) + "\n"
