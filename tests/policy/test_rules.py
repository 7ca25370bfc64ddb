"""Each policy rule passes on the example stacks and fails on a plan broken in its own way."""

from __future__ import annotations

import json

import pytest

from coordinator.endpoints import Jurisdiction
from infra.review.policy.rules import RULES, evaluate, looks_like_secret_key
from infra.review.policy.view import SECRET, Resource, StackView, resolve_context
from tests.policy.conftest import EXAMPLE_STACKS, resource

RULE_NAMES = {rule.name for rule in RULES}
R2_CHILD_NAMES = ("delivery-cors", "delivery-lifecycle", "delivery-r2dev")


def failures(view: StackView, rule: str) -> list[str]:
    assert rule in RULE_NAMES
    (result,) = [r for r in evaluate(view) if r.rule.name == rule]
    return [v.message for v in result.violations]


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_rule_passes_on_every_example_stack(view_of, stack):
    results = evaluate(view_of(stack))
    assert [r.rule.name for r in results if not r.passed] == []
    assert len(results) == len(RULES) >= 14


# --- residency ----------------------------------------------------------------------------------


def test_residency_r2_fails_on_a_bucket_outside_the_stack_jurisdiction(view_of):
    def edit(plan, config):
        resource(plan, "R2Bucket")["inputs"]["jurisdiction"] = "default"

    (message,) = failures(view_of("eu-prod", edit), "residency-r2")
    assert "jurisdiction 'default', the stack's is 'eu'" in message


def test_residency_r2_fails_on_a_location_hint_outside_the_jurisdiction(view_of):
    def edit(plan, config):
        resource(plan, "R2Bucket")["inputs"]["location"] = "enam"

    (message,) = failures(view_of("eu-prod", edit), "residency-r2")
    assert "location hint 'enam'" in message and "eeur, weur" in message


def test_residency_aws_fails_on_a_region_outside_the_jurisdiction(view_of):
    def edit(plan, config):
        resource(plan, "providers:aws")["inputs"]["region"] = "eu-west-2"  # London: not EU

    messages = failures(view_of("eu-prod", edit), "residency-aws")
    assert any("AWS region 'eu-west-2' is not allowed for jurisdiction 'eu'" in m for m in messages)


def test_residency_aws_fails_on_a_resource_region_override(view_of):
    def edit(plan, config):
        resource(plan, "s3/bucket:Bucket")["inputs"]["region"] = "us-east-1"

    messages = failures(view_of("eu-prod", edit), "residency-aws")
    assert any("mezzanine-bucket" in m and "'us-east-1'" in m for m in messages)


def test_residency_aws_fails_on_an_arn_in_another_partition(view_of):
    def edit(plan, config):
        policy = resource(plan, "BucketPolicy")
        policy["inputs"]["policy"] = policy["inputs"]["policy"].replace(
            "arn:aws-us-gov:", "arn:aws:"
        )

    assert failures(view_of("fedramp"), "residency-aws") == []
    messages = failures(view_of("fedramp", edit), "residency-aws")
    assert messages and all("partition 'aws'" in m and "aws-us-gov" in m for m in messages)


def test_residency_aws_fails_on_an_arn_naming_a_region_outside_the_jurisdiction(view_of):
    def edit(plan, config):
        encryption = resource(plan, "BucketServerSideEncryptionConfiguration")
        rule = encryption["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]
        rule["kmsMasterKeyId"] = rule["kmsMasterKeyId"].replace("eu-central-1", "us-east-1")

    (message,) = failures(view_of("eu-prod", edit), "residency-aws")
    assert "names region 'us-east-1'" in message


REGIONAL_HOSTNAME = "cloudflare:index/regionalHostname:RegionalHostname"


def _with_regional_hostname(key: str):
    def edit(plan, config):
        plan["resources"].append(
            {
                "urn": f"urn:pulumi:eu-prod::r2-video::{REGIONAL_HOSTNAME}::media",
                "type": REGIONAL_HOSTNAME,
                "name": "media",
                "inputs": {"hostname": "media.example.eu", "regionKey": key, "zoneId": "z"},
            }
        )

    return edit


def test_regional_hostname_inside_the_jurisdiction_passes(view_of):
    assert (
        failures(view_of("eu-prod", _with_regional_hostname("eu")), "residency-regional-hostname")
        == []
    )


def test_regional_hostname_outside_the_jurisdiction_fails(view_of):
    (message,) = failures(
        view_of("eu-prod", _with_regional_hostname("us")), "residency-regional-hostname"
    )
    assert "region key 'us' is outside jurisdiction 'eu'" in message


# --- R2 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("child", R2_CHILD_NAMES)
def test_an_r2_child_without_its_bucket_jurisdiction_fails(view_of, child):
    def edit(plan, config):
        del resource(plan, "", child)["inputs"]["jurisdiction"]

    (message,) = failures(view_of("eu-prod", edit), "r2-children-bucket-jurisdiction")
    assert child in message and "'default' but its bucket delivery-bucket is in 'eu'" in message


def test_r2_children_pass_when_they_carry_the_bucket_jurisdiction(view_of):
    assert failures(view_of("fedramp"), "r2-children-bucket-jurisdiction") == []


def test_r2_dev_on_fails_in_prod_only(view_of):
    def enable(plan, config):
        resource(plan, "R2ManagedDomain")["inputs"]["enabled"] = True

    assert failures(view_of("dev"), "r2-dev-off-in-prod") == []  # dev has it on, allowed
    (message,) = failures(view_of("eu-prod", enable), "r2-dev-off-in-prod")
    assert "r2.dev is on in a prod stack" in message


@pytest.mark.parametrize(("value", "shown"), [("1.0", "'1.0'"), ("1.1", "'1.1'"), (None, "unset")])
def test_a_custom_domain_below_tls_1_2_fails(view_of, value, shown):
    def edit(plan, config):
        inputs = resource(plan, "R2CustomDomain", "delivery-domain-media.example.eu")["inputs"]
        if value is None:
            del inputs["minTls"]
        else:
            inputs["minTls"] = value

    (message,) = failures(view_of("eu-prod", edit), "custom-domain-min-tls")
    assert shown in message and "needs 1.2 or higher" in message


def test_a_custom_domain_at_tls_1_3_passes(view_of):
    assert failures(view_of("fedramp"), "custom-domain-min-tls") == []


# --- S3 ---------------------------------------------------------------------------------------


def _drop(type_suffix: str):
    def edit(plan, config):
        plan["resources"].remove(resource(plan, type_suffix))

    return edit


def test_public_access_block_with_a_flag_off_fails(view_of):
    def edit(plan, config):
        resource(plan, "BucketPublicAccessBlock")["inputs"]["restrictPublicBuckets"] = False

    (message,) = failures(view_of("dev", edit), "s3-public-access-block")
    assert "not true: restrictPublicBuckets" in message


def test_a_bucket_without_a_public_access_block_fails(view_of):
    (message,) = failures(
        view_of("dev", _drop("BucketPublicAccessBlock")), "s3-public-access-block"
    )
    assert "no BucketPublicAccessBlock" in message


def test_a_bucket_without_default_encryption_fails(view_of):
    assert failures(view_of("dev"), "s3-encryption") == []  # AES256 is encryption too
    (message,) = failures(
        view_of("eu-prod", _drop("BucketServerSideEncryptionConfiguration")), "s3-encryption"
    )
    assert "no BucketServerSideEncryptionConfiguration" in message


def test_a_bucket_with_versioning_suspended_fails(view_of):
    def edit(plan, config):
        resource(plan, "BucketVersioning")["inputs"]["versioningConfiguration"]["status"] = (
            "Suspended"
        )

    (message,) = failures(view_of("eu-prod", edit), "s3-versioning")
    assert "versioning is not Enabled" in message


def test_a_bucket_without_the_tls_only_policy_fails(view_of):
    def edit(plan, config):
        policy = resource(plan, "BucketPolicy")
        document = json.loads(policy["inputs"]["policy"])
        document["Statement"][0]["Condition"] = {"Bool": {"aws:SecureTransport": "true"}}
        policy["inputs"]["policy"] = json.dumps(document)

    (message,) = failures(view_of("eu-prod", edit), "s3-tls-only")
    assert "no bucket policy denying requests without TLS" in message
    assert failures(view_of("eu-prod", _drop("BucketPolicy")), "s3-tls-only")


# --- IAM, logs --------------------------------------------------------------------------------

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def _with_role_policy(statement: dict):
    def edit(plan, config):
        plan["resources"].append(
            {
                "urn": f"urn:pulumi:eu-prod::r2-video::{ROLE_POLICY}::coordinator-policy",
                "type": ROLE_POLICY,
                "name": "coordinator-policy",
                "inputs": {
                    "role": "coordinator",
                    "policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
                },
            }
        )

    return edit


SCOPED = {
    "Effect": "Allow",
    "Action": ["s3:GetObject"],
    "Resource": "arn:aws:s3:::example-video-eu-prod-mezzanine/*",
}


def test_scoped_allow_statements_and_the_tls_only_deny_pass(view_of):
    # The TLS-only bucket policy denies s3:* on the bucket: a Deny, so it is fine.
    assert failures(view_of("eu-prod", _with_role_policy(SCOPED)), "iam-no-wildcards") == []
    scoped_by_condition = {
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-central-1.amazonaws.com"}},
    }
    assert (
        failures(view_of("eu-prod", _with_role_policy(scoped_by_condition)), "iam-no-wildcards")
        == []
    )


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            {"Effect": "Allow", "Action": "*", "Resource": SCOPED["Resource"]},
            "allows every action (*)",
        ),
        ({"Effect": "Allow", "Action": ["s3:*"], "Resource": SCOPED["Resource"]}, "(s3:*)"),
        # Cloudflare's Sippy example grants these; a partial wildcard is still a wildcard.
        ({"Effect": "Allow", "Action": ["s3:Get*"], "Resource": SCOPED["Resource"]}, "(s3:Get*)"),
        ({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, "Resource '*' with no"),
        ({"Effect": "Allow", "NotAction": "iam:*", "Resource": SCOPED["Resource"]}, "NotAction"),
    ],
)
def test_wildcard_allow_statements_fail(view_of, statement, expected):
    messages = failures(view_of("eu-prod", _with_role_policy(statement)), "iam-no-wildcards")
    assert any(expected in m and "coordinator-policy" in m for m in messages), messages


LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


def _with_log_group(**inputs):
    def edit(plan, config):
        plan["resources"].append(
            {
                "urn": f"urn:pulumi:eu-prod::r2-video::{LOG_GROUP}::coordinator-logs",
                "type": LOG_GROUP,
                "name": "coordinator-logs",
                "inputs": {"name": "/aws/lambda/coordinator", **inputs},
            }
        )

    return edit


def test_log_groups_with_a_retention_pass(view_of):
    assert failures(view_of("eu-prod"), "log-retention") == []  # none yet: nothing to check
    assert failures(view_of("eu-prod", _with_log_group(retentionInDays=30)), "log-retention") == []


@pytest.mark.parametrize("inputs", [{}, {"retentionInDays": 0}])
def test_a_log_group_kept_forever_fails(view_of, inputs):
    (message,) = failures(view_of("eu-prod", _with_log_group(**inputs)), "log-retention")
    assert "coordinator-logs" in message and "retentionInDays is not set" in message


# --- protection, secrets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_suffix", "flag"),
    [
        ("R2Bucket", "protect"),
        ("s3/bucket:Bucket", "protect"),
        ("kms/key:Key", "protect"),
        ("s3/bucket:Bucket", "retain_on_delete"),
    ],
)
def test_an_unprotected_data_resource_fails_in_prod(view_of, type_suffix, flag):
    def edit(plan, config):
        resource(plan, type_suffix)[flag] = False

    (message,) = failures(view_of("eu-prod", edit), "data-protected-in-prod")
    assert ("not protected" if flag == "protect" else "not retained") in message


def test_dev_stacks_need_no_protection(plans, view_of):
    dev_plan, _config = plans["dev"]
    assert resource(dev_plan, "R2Bucket")["protect"] is False
    assert failures(view_of("dev"), "data-protected-in-prod") == []


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("dbPassword", "hunter22", "looks like a secret but is a plain value"),
        ("environment", "-----BEGIN RSA PRIVATE KEY-----\nMIIB...", "PEM private key"),
        ("note", "key AKIAIOSFODNN7EXAMPLE here", "AWS access key id"),
    ],
)
def test_a_plain_secret_looking_input_fails(view_of, key, value, expected):
    def edit(plan, config):
        resource(plan, "R2Bucket")["inputs"][key] = value

    (message,) = failures(view_of("eu-prod", edit), "no-plain-secrets")
    assert expected in message and "delivery-bucket" in message


def test_masked_secrets_and_secret_references_pass(view_of):
    def edit(plan, config):
        inputs = resource(plan, "R2Bucket")["inputs"]
        inputs["apiToken"] = SECRET
        inputs["secretArn"] = "arn:aws:secretsmanager:eu-central-1:222222222222:secret:x"
        inputs["tokenTtlSeconds"] = "3600"
        inputs["skipCredentialsValidation"] = "false"

    assert failures(view_of("eu-prod", edit), "no-plain-secrets") == []


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("apiToken", True),
        ("client_secret", True),
        ("privateKey", True),
        ("secretArn", False),
        ("passwordLength", False),
        ("skipCredentialsValidation", False),
        ("rules[0].allowed.origins[1]", False),
    ],
)
def test_secret_key_heuristic(key, secret):
    assert looks_like_secret_key(key) is secret


# --- where the stack context comes from -------------------------------------------------------


def _bucket(jurisdiction: str) -> Resource:
    return Resource(
        urn=f"urn:{jurisdiction}",
        type="cloudflare:index/r2Bucket:R2Bucket",
        name="b",
        inputs={"jurisdiction": jurisdiction},
    )


def test_context_comes_from_the_stack_config():
    config = {"r2-video:environment": "dev", "r2-video:jurisdiction": "fedramp"}
    context = resolve_context(config, (_bucket("eu"),))
    assert (context.environment, context.jurisdiction) == ("dev", Jurisdiction.FEDRAMP)
    assert "from the stack config" in context.source


def test_without_config_the_bucket_gives_the_jurisdiction_and_prod_rules_apply():
    context = resolve_context({}, (_bucket("eu"),))
    assert (context.environment, context.jurisdiction) == ("prod", Jurisdiction.EU)
    assert "from the R2 bucket" in context.source and "prod rules apply" in context.source
    disagreeing = resolve_context({}, (_bucket("eu"), _bucket("default")))
    assert disagreeing.jurisdiction is Jurisdiction.DEFAULT
    assert "unknown" in disagreeing.source


# --- sharper cases (issue 17): each rule's edges, one fault per case ---------------------------


def _edit_tls_statement(**changes):
    """Edit the TLS-only statement of eu-prod's bucket policy (None removes a field)."""

    def edit(plan, config):
        policy = resource(plan, "BucketPolicy")
        document = json.loads(policy["inputs"]["policy"])
        statement = document["Statement"][0]
        for key, value in changes.items():
            if value is None:
                statement.pop(key, None)
            else:
                statement[key] = value
        policy["inputs"]["policy"] = json.dumps(document)

    return edit


@pytest.mark.parametrize(
    "changes",
    [
        {"Action": "s3:GetObject"},  # denies one action only: plain-HTTP PUTs still pass
        {"Action": ["s3:PutObject", "s3:GetObject"]},
        {"Action": None},
        {"Effect": "Allow"},
        {"Condition": None},
        {"Condition": {"Bool": {"aws:SecureTransport": "true"}}},
        {"Condition": {"StringEquals": {"aws:SecureTransport": "false"}}},
    ],
)
def test_a_tls_only_statement_that_does_not_deny_all_plain_http_fails(view_of, changes):
    (message,) = failures(view_of("eu-prod", _edit_tls_statement(**changes)), "s3-tls-only")
    assert message == (
        "mezzanine-bucket (Bucket): no bucket policy denying requests without TLS"
        " (Deny s3:* when aws:SecureTransport is false)"
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"Action": "*"},
        {"Action": ["s3:GetObject", "s3:*"]},
        # IAM condition values are strings, but a JSON boolean is accepted by AWS too.
        {"Condition": {"Bool": {"aws:SecureTransport": False}}},
        {"Condition": {"Bool": {"aws:SecureTransport": "False"}}},
    ],
)
def test_a_tls_only_statement_denying_every_action_passes(view_of, changes):
    assert failures(view_of("eu-prod", _edit_tls_statement(**changes)), "s3-tls-only") == []


def test_a_tls_only_policy_given_as_a_mapping_passes(view_of):
    def edit(plan, config):
        policy = resource(plan, "BucketPolicy")
        policy["inputs"]["policy"] = json.loads(policy["inputs"]["policy"])

    assert failures(view_of("eu-prod", edit), "s3-tls-only") == []


def test_an_unknown_bucket_policy_is_not_judged(view_of):
    def edit(plan, config):
        resource(plan, "BucketPolicy")["inputs"]["policy"] = "[unknown]"

    assert failures(view_of("eu-prod", edit), "s3-tls-only") == []


PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)


@pytest.mark.parametrize("flag", PUBLIC_ACCESS_FLAGS)
@pytest.mark.parametrize("value", [None, False, "true", "[unknown]"])
def test_a_public_access_flag_that_is_not_true_fails(view_of, flag, value):
    # Missing means the provider's default, false (pulumi_aws s3.BucketPublicAccessBlock).
    def edit(plan, config):
        inputs = resource(plan, "BucketPublicAccessBlock")["inputs"]
        if value is None:
            del inputs[flag]
        else:
            inputs[flag] = value

    (message,) = failures(view_of("eu-prod", edit), "s3-public-access-block")
    assert message == f"mezzanine-public-access-block (BucketPublicAccessBlock): not true: {flag}"


def test_a_public_access_block_for_another_bucket_does_not_count(view_of):
    def edit(plan, config):
        resource(plan, "BucketPublicAccessBlock")["inputs"]["bucket"] = "some-other-bucket"

    (message,) = failures(view_of("eu-prod", edit), "s3-public-access-block")
    assert message == "mezzanine-bucket (Bucket): no BucketPublicAccessBlock"
