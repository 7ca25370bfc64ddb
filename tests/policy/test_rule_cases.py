"""Each policy rule on small, hand-built stacks: one fault per case, the exact violation (message
and resource) it raises, and the look-alikes it must leave alone (issue 17).

Region and partition facts are written out from their sources (see tests/infra/test_residency.py);
Regional Services keys from https://developers.cloudflare.com/data-localization/regional-services/.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from coordinator.endpoints import Jurisdiction
from infra.review.policy.rules import (
    RULES,
    evaluate,
    looks_like_secret_key,
    mandatory_failures,
    render_results,
)
from infra.review.policy.view import (
    SECRET,
    UNKNOWN,
    Resource,
    Rule,
    RuleResult,
    StackContext,
    StackView,
    Violation,
)

R2_BUCKET = "cloudflare:index/r2Bucket:R2Bucket"
R2_CORS = "cloudflare:index/r2BucketCors:R2BucketCors"
R2_CUSTOM_DOMAIN = "cloudflare:index/r2CustomDomain:R2CustomDomain"
R2_MANAGED_DOMAIN = "cloudflare:index/r2ManagedDomain:R2ManagedDomain"
REGIONAL_HOSTNAME = "cloudflare:index/regionalHostname:RegionalHostname"
AWS_PROVIDER = "pulumi:providers:aws"
S3_BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
KMS_KEY = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"

EU_RULE = (
    "an EU region: eu-central-1, eu-north-1, eu-south-1, eu-south-2, eu-west-1, eu-west-3"
    " (partition aws) or eusc-de-east-1 (AWS European Sovereign Cloud, partition aws-eusc)"
)


def res(type_token: str, name: str, inputs: dict[str, Any] | None = None, **options) -> Resource:
    return Resource(urn=f"urn:{name}", type=type_token, name=name, inputs=inputs or {}, **options)


def view(
    *resources: Resource,
    environment: str = "prod",
    jurisdiction: str = "eu",
    secrets_masked: bool = True,
) -> StackView:
    context = StackContext(environment, Jurisdiction(jurisdiction), "test", secrets_masked)
    return StackView(resources, context)


def violations(stack: StackView, rule: str) -> list[tuple[str, str | None]]:
    (result,) = [r for r in evaluate(stack) if r.rule.name == rule]
    return [(v.message, v.urn) for v in result.violations]


def provider(region: str, name: str = "aws") -> Resource:
    return res(AWS_PROVIDER, name, {"region": region})


# --- residency-r2 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        # A bucket without a jurisdiction is in the default one.
        (res(R2_BUCKET, "b"), "b (R2Bucket): jurisdiction 'default', the stack's is 'eu'"),
        (
            res(R2_BUCKET, "b", {"jurisdiction": "fedramp"}),
            "b (R2Bucket): jurisdiction 'fedramp', the stack's is 'eu'",
        ),
        (
            res(R2_CORS, "c", {"jurisdiction": ""}),
            "c (R2BucketCors): jurisdiction 'default', the stack's is 'eu'",
        ),
        (
            res(R2_BUCKET, "b", {"jurisdiction": "eu", "location": "enam"}),
            "b (R2Bucket): location hint 'enam' is outside jurisdiction 'eu' (allowed: eeur, weur)",
        ),
        (
            res(R2_BUCKET, "b", {"jurisdiction": "eu", "location": "APAC"}),
            "b (R2Bucket): location hint 'APAC' is outside jurisdiction 'eu' (allowed: eeur, weur)",
        ),
    ],
)
def test_residency_r2_refuses(resource, expected):
    assert violations(view(resource), "residency-r2") == [(expected, resource.urn)]


@pytest.mark.parametrize(
    "resource",
    [
        res(R2_BUCKET, "b", {"jurisdiction": "eu", "location": "weur"}),
        res(R2_BUCKET, "b", {"jurisdiction": "eu", "location": "EEUR"}),  # the API lowercases
        res(R2_BUCKET, "b", {"jurisdiction": "eu", "location": UNKNOWN}),
        res(R2_BUCKET, "b", {"jurisdiction": UNKNOWN}),
        res(R2_CORS, "c"),  # a child that names no jurisdiction is judged by its bucket rule
        res(R2_CORS, "c", {"jurisdiction": "eu", "location": "enam"}),  # hints are buckets' only
        res(S3_BUCKET, "s", {"jurisdiction": "default"}),  # not Cloudflare
    ],
)
def test_residency_r2_leaves_alone(resource):
    assert violations(view(resource), "residency-r2") == []


def test_residency_r2_in_the_default_jurisdiction_allows_every_hint():
    buckets = [res(R2_BUCKET, h, {"location": h}) for h in ("wnam", "enam", "weur", "eeur")]
    buckets += [res(R2_BUCKET, h, {"location": h}) for h in ("apac", "oc")]
    assert violations(view(*buckets, jurisdiction="default"), "residency-r2") == []


# --- residency-aws --------------------------------------------------------------------------------


def test_residency_aws_refuses_the_provider_and_every_resource_it_places():
    london = provider("eu-west-2")
    bucket = res(S3_BUCKET, "m", provider=london.urn)
    found = violations(view(london, bucket), "residency-aws")
    assert found == [
        (
            f"aws (aws): AWS region 'eu-west-2' is not allowed for jurisdiction 'eu';"
            f" use {EU_RULE}",
            london.urn,
        ),
        (
            f"m (Bucket): AWS region 'eu-west-2' is not allowed for jurisdiction 'eu';"
            f" use {EU_RULE}",
            bucket.urn,
        ),
    ]


def test_residency_aws_refuses_a_resource_region_override():
    frankfurt = provider("eu-central-1")
    bucket = res(S3_BUCKET, "m", {"region": "eu-central-2"}, provider=frankfurt.urn)
    assert violations(view(frankfurt, bucket), "residency-aws") == [
        (
            f"m (Bucket): AWS region 'eu-central-2' is not allowed for jurisdiction 'eu';"
            f" use {EU_RULE}",
            bucket.urn,
        )
    ]


@pytest.mark.parametrize(
    "resource",
    [
        res(R2_BUCKET, "b", {"jurisdiction": "eu", "region": "us-east-1"}),  # not an AWS resource
        res(S3_BUCKET, "m", {"region": UNKNOWN}),
        res(S3_BUCKET, "m", {"region": "eusc-de-east-1"}),
        res(AWS_PROVIDER, "p", {"region": UNKNOWN}),
    ],
)
def test_residency_aws_leaves_alone(resource):
    assert violations(view(resource), "residency-aws") == []


def test_an_arn_outside_the_stack_partitions_is_refused():
    sovereign = provider("eusc-de-east-1", "sovereign")
    frankfurt = provider("eu-central-1")
    arn = "arn:aws-cn:s3:::legacy"
    sippy = res("cloudflare:index/r2BucketSippy:R2BucketSippy", "s", {"source": {"bucket": arn}})
    assert violations(view(frankfurt, sovereign, sippy), "residency-aws") == [
        (
            "s (R2BucketSippy): source.bucket is an ARN in partition 'aws-cn', the stack's AWS"
            " resources are in aws, aws-eusc",
            sippy.urn,
        )
    ]


def test_an_aws_resource_arn_must_be_in_its_own_partition():
    frankfurt = provider("eu-central-1")
    key = "arn:aws:kms:eusc-de-east-1:123456789012:key/k"
    bucket = res(S3_BUCKET, "m", {"region": "eusc-de-east-1", "kmsKeyArn": key})
    same = res(S3_BUCKET, "n", {"region": "eu-central-1", "kmsKeyArn": key})
    assert violations(view(frankfurt, bucket, same), "residency-aws") == [
        (
            "m (Bucket): kmsKeyArn is an ARN in partition 'aws', the stack's AWS resources are in"
            " aws-eusc",
            bucket.urn,
        )
    ]


def test_an_arn_naming_a_region_outside_the_jurisdiction_is_refused():
    # No provider: no partition to compare with, but the region is still judged.
    topic = "arn:aws:sns:eu-west-2:123456789012:oncall"
    alarm = res("cloudflare:index/notification:Notification", "n", {"topics": [topic, "x"]})
    assert violations(view(alarm), "residency-aws") == [
        (
            "n (Notification): topics[0] names region 'eu-west-2', not allowed for"
            " jurisdiction 'eu'",
            alarm.urn,
        )
    ]


def test_an_arn_without_a_region_is_judged_by_partition_only():
    frankfurt = provider("eu-central-1")
    other = res("cloudflare:index/x:X", "x", {"arn": "arn:aws:s3:::bucket", "note": "arn-like"})
    assert violations(view(frankfurt, other), "residency-aws") == []


# --- residency-regional-hostname ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jurisdiction", "key", "allowed"),
    [
        ("eu", "us", "de, eu, isoeu"),
        ("fedramp", "us", "fedramp"),  # "us" includes data centers without FedRAMP
        ("us", "eu", "fedramp, us"),
    ],
)
def test_a_regional_hostname_outside_the_jurisdiction_fails(jurisdiction, key, allowed):
    host = res(REGIONAL_HOSTNAME, "h", {"regionKey": key})
    assert violations(view(host, jurisdiction=jurisdiction), "residency-regional-hostname") == [
        (
            f"h (RegionalHostname): region key {key!r} is outside jurisdiction {jurisdiction!r}"
            f" (allowed: {allowed})",
            host.urn,
        )
    ]


@pytest.mark.parametrize(
    ("jurisdiction", "key"),
    [
        ("eu", "eu"),
        ("eu", "de"),
        ("eu", "isoeu"),
        ("us", "fedramp"),
        ("eu", UNKNOWN),
        ("default", "us"),  # no jurisdiction: nothing to stay inside
    ],
)
def test_a_regional_hostname_inside_the_jurisdiction_passes(jurisdiction, key):
    host = res(REGIONAL_HOSTNAME, "h", {"regionKey": key})
    assert violations(view(host, jurisdiction=jurisdiction), "residency-regional-hostname") == []


# --- r2-children-bucket-jurisdiction --------------------------------------------------------------

ACCOUNT_A, ACCOUNT_B = "a" * 32, "b" * 32


def _child_message(child: Resource, got: str, bucket: str, want: str) -> str:
    return (
        f"{child.name} (R2BucketCors): jurisdiction {got!r} but its bucket {bucket} is in"
        f" {want!r} (every R2 child needs the bucket's jurisdiction: without it the API"
        " addresses a bucket of that name in another jurisdiction)"
    )


def test_a_child_without_its_bucket_jurisdiction_fails():
    bucket = res(
        R2_BUCKET, "media", {"name": "media", "accountId": ACCOUNT_A, "jurisdiction": "eu"}
    )
    child = res(R2_CORS, "cors", {"bucketName": "media", "accountId": ACCOUNT_A})
    assert violations(view(bucket, child), "r2-children-bucket-jurisdiction") == [
        (_child_message(child, "default", "media", "eu"), child.urn)
    ]


def test_a_child_is_matched_to_its_bucket_by_account_and_name():
    # Two buckets named alike in two accounts; the child belongs to the second.
    first = res(R2_BUCKET, "a", {"name": "media", "accountId": ACCOUNT_A, "jurisdiction": "eu"})
    other = res(R2_BUCKET, "o", {"name": "other", "accountId": ACCOUNT_B})
    second = res(R2_BUCKET, "b", {"name": "media", "accountId": ACCOUNT_B})
    child = res(
        R2_CORS, "cors", {"bucketName": "media", "accountId": ACCOUNT_B, "jurisdiction": "eu"}
    )
    stack = view(first, other, second, child, jurisdiction="default")
    assert violations(stack, "r2-children-bucket-jurisdiction") == [
        (_child_message(child, "eu", "b", "default"), child.urn)
    ]


def test_a_child_refers_to_a_bucket_of_unknown_name_through_its_dependency():
    bucket = res(R2_BUCKET, "media", {"name": UNKNOWN, "jurisdiction": "eu"})
    child = res(R2_CORS, "cors", {"bucketName": UNKNOWN}, depends_on=(bucket.urn,))
    assert violations(view(bucket, child), "r2-children-bucket-jurisdiction") == [
        (_child_message(child, "default", "media", "eu"), child.urn)
    ]


@pytest.mark.parametrize(
    "child",
    [
        res(R2_CORS, "cors", {"bucketName": "media", "jurisdiction": "eu"}),
        res(R2_CORS, "cors", {"bucketName": "media", "accountId": UNKNOWN, "jurisdiction": "eu"}),
        res(R2_CORS, "cors", {"bucketName": "media", "jurisdiction": UNKNOWN}),
        res(R2_CORS, "cors", {"bucketName": "other"}),
        res(R2_CORS, "cors", {"bucketName": "media", "accountId": ACCOUNT_B}),
        res(R2_CORS, "cors", {"jurisdiction": "default"}),  # names no bucket
        res("aws:s3/bucketCors:BucketCors", "s3", {"bucketName": "media"}),  # not R2
        res(R2_BUCKET, "media2", {"bucketName": "media"}),  # a bucket is no child
    ],
)
def test_r2_children_left_alone(child):
    bucket = res(
        R2_BUCKET, "media", {"name": "media", "accountId": ACCOUNT_A, "jurisdiction": "eu"}
    )
    assert violations(view(bucket, child), "r2-children-bucket-jurisdiction") == []


# --- r2.dev, TLS ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "environment", "fails"),
    [
        ({"enabled": True}, "prod", True),
        ({}, "prod", True),  # unset: not shown to be off
        ({"enabled": False}, "prod", False),
        ({"enabled": True}, "dev", False),
    ],
)
def test_r2_dev_in_prod(inputs, environment, fails):
    domain = res(R2_MANAGED_DOMAIN, "dev", inputs)
    expected = [
        (
            "dev (R2ManagedDomain): r2.dev is on in a prod stack (rate-limited, bypasses the edge)",
            domain.urn,
        )
    ]
    found = violations(view(domain, environment=environment), "r2-dev-off-in-prod")
    assert found == (expected if fails else [])


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("1.1", "'1.1'"),
        ("1.0", "'1.0'"),
        ("TLS1.3", "'TLS1.3'"),  # not a version: refused, never guessed
        (None, "unset (Cloudflare's default is 1.0)"),
    ],
)
def test_min_tls_below_1_2_fails(value, shown):
    domain = res(R2_CUSTOM_DOMAIN, "d", {} if value is None else {"minTls": value})
    assert violations(view(domain), "custom-domain-min-tls") == [
        (f"d (R2CustomDomain): minTls {shown}, needs 1.2 or higher", domain.urn)
    ]


@pytest.mark.parametrize("value", ["1.2", "1.3", "1.10", "2", UNKNOWN])
def test_min_tls_of_1_2_or_more_passes(value):
    domain = res(R2_CUSTOM_DOMAIN, "d", {"minTls": value})
    assert violations(view(domain), "custom-domain-min-tls") == []


# --- S3 buckets -----------------------------------------------------------------------------------

FLAGS = {
    f: True
    for f in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
}
KMS_RULE = {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}


def _bucket_with(name: str, *children: tuple[str, dict[str, Any]]) -> list[Resource]:
    bucket = res(S3_BUCKET, name, {"bucket": name})
    made = [
        res(t, f"{name}-{i}", {"bucket": name, **inputs}) for i, (t, inputs) in enumerate(children)
    ]
    return [bucket, *made]


def test_each_bucket_needs_its_own_public_access_block():
    guarded = _bucket_with("guarded", (PUBLIC_ACCESS_BLOCK, FLAGS))
    bare = _bucket_with("bare")
    assert violations(view(*guarded, *bare), "s3-public-access-block") == [
        ("bare (Bucket): no BucketPublicAccessBlock", "urn:bare")
    ]


def test_a_public_access_block_of_a_bucket_of_unknown_name_counts_through_its_dependency():
    bucket = res(S3_BUCKET, "m", {"bucket": UNKNOWN})
    block = res(PUBLIC_ACCESS_BLOCK, "pab", {"bucket": UNKNOWN, **FLAGS}, depends_on=(bucket.urn,))
    assert violations(view(bucket, block), "s3-public-access-block") == []


def test_a_block_with_every_flag_off_names_them_all():
    stack = view(*_bucket_with("m", (PUBLIC_ACCESS_BLOCK, {})))
    assert violations(stack, "s3-public-access-block") == [
        (
            "m-0 (BucketPublicAccessBlock): not true: blockPublicAcls, blockPublicPolicy,"
            " ignorePublicAcls, restrictPublicBuckets",
            "urn:m-0",
        )
    ]


@pytest.mark.parametrize(
    "rules",
    [
        [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": a}}]
        for a in ("aws:kms", "aws:kms:dsse", "AES256", UNKNOWN)
    ]
    + [KMS_RULE, ["not a rule", KMS_RULE]],
)
def test_default_encryption_passes(rules):
    stack = view(*_bucket_with("m", (ENCRYPTION, {"rules": rules})))
    assert violations(stack, "s3-encryption") == []


@pytest.mark.parametrize(
    "rules",
    [
        None,
        [],
        [{"bucketKeyEnabled": True}],
        [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "none"}}],
    ],
)
def test_no_default_encryption_rule_fails(rules):
    stack = view(*_bucket_with("m", (ENCRYPTION, {} if rules is None else {"rules": rules})))
    assert violations(stack, "s3-encryption") == [
        ("m-0 (BucketServerSideEncryptionConfiguration): no default encryption rule", "urn:m-0")
    ]


def test_each_bucket_needs_its_own_encryption_configuration():
    stack = view(*_bucket_with("a", (ENCRYPTION, {"rules": [KMS_RULE]})), *_bucket_with("b"))
    assert violations(stack, "s3-encryption") == [
        ("b (Bucket): no BucketServerSideEncryptionConfiguration", "urn:b")
    ]


@pytest.mark.parametrize(
    ("configuration", "fails"),
    [
        ({"versioningConfiguration": {"status": "Enabled"}}, False),
        ({"versioningConfiguration": {"status": UNKNOWN}}, False),
        ({"versioningConfiguration": {"status": "Suspended"}}, True),
        ({"versioningConfiguration": {"status": "enabled"}}, True),  # the API's value is exact
        ({}, True),
        (None, True),  # no BucketVersioning at all
    ],
)
def test_versioning(configuration, fails):
    children = () if configuration is None else ((VERSIONING, configuration),)
    stack = view(*_bucket_with("m", *children))
    expected = [("m (Bucket): versioning is not Enabled", "urn:m")]
    assert violations(stack, "s3-versioning") == (expected if fails else [])


TLS_ONLY = {
    "Effect": "Deny",
    "Action": "s3:*",
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def test_an_unknown_policy_skips_only_its_own_bucket():
    unknown = _bucket_with("a", (BUCKET_POLICY, {"policy": UNKNOWN}))
    bare = _bucket_with("b", (BUCKET_POLICY, {"policy": json.dumps({"Statement": []})}))
    assert violations(view(*unknown, *bare), "s3-tls-only") == [
        (
            "b (Bucket): no bucket policy denying requests without TLS (Deny s3:* when"
            " aws:SecureTransport is false)",
            "urn:b",
        )
    ]


@pytest.mark.parametrize(
    "policy",
    [
        json.dumps({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}, TLS_ONLY]}),
        json.dumps({"Statement": TLS_ONLY}),  # one statement need not be a list
        {"Statement": [TLS_ONLY]},
    ],
)
def test_the_tls_only_statement_is_found_wherever_it_is(policy):
    stack = view(*_bucket_with("m", (BUCKET_POLICY, {"policy": policy})))
    assert violations(stack, "s3-tls-only") == []


@pytest.mark.parametrize("policy", ["not json", json.dumps(["x"]), json.dumps({"Statement": "x"})])
def test_a_policy_that_is_not_a_document_denies_nothing(policy):
    stack = view(*_bucket_with("m", (BUCKET_POLICY, {"policy": policy})))
    assert len(violations(stack, "s3-tls-only")) == 1


# --- IAM ------------------------------------------------------------------------------------------

SCOPED = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::m/*"}


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_every_wildcard_statement_is_named_by_sid_or_position():
    deny_all = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    wild = {
        "Sid": "Wild",
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:Put*"],
        "Resource": "*",
    }
    not_action = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::m"}
    policy = res(ROLE_POLICY, "p", {"policy": _policy(deny_all, SCOPED, wild, not_action)})
    assert violations(view(policy), "iam-no-wildcards") == [
        ("p (RolePolicy): policy statement Wild allows every action (s3:Put*)", policy.urn),
        (
            "p (RolePolicy): policy statement Wild allows Resource '*' with no Condition to"
            " scope it",
            policy.urn,
        ),
        ("p (RolePolicy): policy statement 3 allows every action (NotAction)", policy.urn),
    ]


def test_inline_policies_and_trust_policies_are_read_too():
    wild = {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::m"}
    trust = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Principal": {"Service": "lambda.amazonaws.com"},
    }
    role = res(
        ROLE,
        "r",
        {
            "assumeRolePolicy": _policy(trust),
            "inlinePolicies": [
                {"name": "a", "policy": _policy(SCOPED)},
                {"name": "b", "policy": _policy(wild)},
            ],
        },
    )
    assert violations(view(role), "iam-no-wildcards") == [
        ("r (Role): inlinePolicies statement 0 allows every action (s3:*)", role.urn)
    ]


@pytest.mark.parametrize(
    "resource",
    [
        # A key policy's Resource "*" means the key itself.
        res(
            KMS_KEY,
            "k",
            {"policy": _policy({"Effect": "Allow", "Action": "kms:*", "Resource": "*"})},
        ),
        res("cloudflare:index/x:X", "x", {"policy": _policy({"Effect": "Allow", "Action": "*"})}),
        res(ROLE_POLICY, "p", {"policy": {"Statement": [SCOPED]}}),
        res(
            ROLE_POLICY,
            "p",
            {"policy": _policy({**SCOPED, "Resource": "*", "Condition": {"Bool": {"x": "y"}}})},
        ),
    ],
)
def test_iam_left_alone(resource):
    assert violations(view(resource), "iam-no-wildcards") == []


def test_a_policy_given_as_a_mapping_is_read():
    policy = res(ROLE_POLICY, "p", {"policy": {"Statement": [{"Effect": "Allow", "Action": "*"}]}})
    assert violations(view(policy), "iam-no-wildcards") == [
        ("p (RolePolicy): policy statement 0 allows every action (*)", policy.urn)
    ]


# --- logs, protection -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "fails"),
    [(30, False), (1, False), (UNKNOWN, False), (0, True), (-1, True), (True, True), ("30", True)],
)
def test_log_retention(days, fails):
    group = res(LOG_GROUP, "g", {"retentionInDays": days})
    expected = [("g (LogGroup): retentionInDays is not set (logs kept forever)", group.urn)]
    assert violations(view(group), "log-retention") == (expected if fails else [])


def test_data_bearing_resources_in_prod():
    resources = [
        res(R2_BUCKET, "open", {"jurisdiction": "eu"}, protect=False, retain_on_delete=False),
        res(S3_BUCKET, "guarded", protect=True, retain_on_delete=True),
        res(KMS_KEY, "unsaid", protect=True, retain_on_delete=None),  # the pack cannot tell
        res(LOG_GROUP, "logs", protect=False, retain_on_delete=False),  # holds no data we keep
    ]
    assert violations(view(*resources), "data-protected-in-prod") == [
        ("open (R2Bucket): not protected in a prod stack", "urn:open"),
        ("open (R2Bucket): not retained on delete in a prod stack", "urn:open"),
    ]
    assert violations(view(*resources, environment="dev"), "data-protected-in-prod") == []


# --- plain secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "masked", "expected"),
    [
        (
            {"dbPassword": "hunter22"},
            True,
            "x (X): dbPassword looks like a secret but is a plain value: pass it with"
            " pulumi.Output.secret() or `pulumi config set --secret`",
        ),
        ({"dbPassword": "hunter22"}, False, None),  # the pack sees plaintext secrets
        ({"dbPassword": "true"}, True, None),
        ({"dbPassword": "-12.5"}, True, None),
        ({"dbPassword": ""}, True, None),
        ({"dbPassword": SECRET}, True, None),
        (
            {"nested": {"key": "-----BEGIN PRIVATE KEY-----"}},
            False,
            "x (X): nested.key holds a PEM private key",
        ),
        ({"id": "ASIAABCDEFGHIJKLMNOP"}, False, "x (X): id holds an AWS access key id"),
    ],
)
def test_plain_secrets(inputs, masked, expected):
    thing = res("cloudflare:index/x:X", "x", inputs)
    found = violations(view(thing, secrets_masked=masked), "no-plain-secrets")
    assert found == ([(expected, thing.urn)] if expected else [])


# --- the report -----------------------------------------------------------------------------------


def test_render_results_and_mandatory_failures():
    context = StackContext("prod", Jurisdiction.EU, "from the stack config")

    def never(stack):
        return iter(())

    strict = Rule("strict-rule", "Must hold.", never)
    advisory = Rule("advice", "Should hold.", never, mandatory=False)
    results = [
        RuleResult(strict, (Violation("a is wrong", "urn:a"), Violation("b is wrong"))),
        RuleResult(advisory, (Violation("c could be better"),)),
        RuleResult(Rule("ok", "Holds.", never), ()),
    ]
    assert mandatory_failures(results) == [results[0]]
    assert render_results(results, context) == (
        "Policy: 1/3 rules pass (environment prod, jurisdiction eu: from the stack config)\n"
        "  FAIL  strict-rule  Must hold.\n"
        "          - a is wrong\n"
        "          - b is wrong\n"
        "  warn  advice       Should hold.\n"
        "          - c could be better\n"
        "  pass  ok           Holds.\n"
        "1 mandatory rule(s) failed: the plan is refused.\n"
    )
    passing = [RuleResult(advisory, ()), RuleResult(strict, ())]
    assert mandatory_failures(passing) == []
    assert render_results(passing, context).splitlines()[-1] == "  pass  strict-rule  Must hold."


def test_every_rule_is_listed_once_and_mandatory():
    assert len({r.name for r in RULES}) == len(RULES) == 14
    assert all(r.mandatory for r in RULES)


# --- edges found by mutation testing ---------------------------------------------------------


def test_an_unknown_value_skips_only_its_own_resource():
    domains = [
        res(R2_CUSTOM_DOMAIN, "a", {"minTls": UNKNOWN}),
        res(R2_CUSTOM_DOMAIN, "b", {"minTls": "1.0"}),
    ]
    assert [u for _m, u in violations(view(*domains), "custom-domain-min-tls")] == ["urn:b"]
    groups = [
        res(LOG_GROUP, "a", {"retentionInDays": UNKNOWN}),
        res(LOG_GROUP, "b", {"retentionInDays": 0}),
    ]
    assert [u for _m, u in violations(view(*groups), "log-retention")] == ["urn:b"]
    thing = res("cloudflare:index/x:X", "x", {"a": SECRET, "b": "-----BEGIN PRIVATE KEY-----"})
    assert violations(view(thing), "no-plain-secrets") == [
        ("x (X): b holds a PEM private key", "urn:x")
    ]


def test_every_wildcard_action_of_a_statement_is_named():
    statement = {
        "Effect": "Allow",
        "Action": ["s3:Get*", "s3:ListBucket", "s3:Put*"],
        "Resource": "arn:aws:s3:::m",
    }
    policy = res(ROLE_POLICY, "p", {"policy": _policy(statement)})
    assert violations(view(policy), "iam-no-wildcards") == [
        ("p (RolePolicy): policy statement 0 allows every action (s3:Get*, s3:Put*)", policy.urn)
    ]


def test_a_non_aws_resource_is_judged_by_the_stack_partitions_whatever_its_inputs_say():
    frankfurt = provider("eu-central-1")
    other = res("cloudflare:index/x:X", "x", {"region": "cn-north-1", "target": "arn:aws:s3:::m"})
    assert violations(view(frankfurt, other), "residency-aws") == []


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("private_key", True),  # separators do not hide a secret word
        ("api-token", True),
        ("secretIds[0]", False),  # a list of references, by index
        ("secretIds[0][1]", False),
        ("secretStore.region", False),  # only the last key of a path counts
        ("x.secretStore.region", False),
        ("config.apiToken", True),
    ],
)
def test_secret_key_names(key, secret):
    assert looks_like_secret_key(key) is secret
