"""The coordinator's deployment under mocks: least privilege, bucket-scoped R2 token, secrets.

Every example stack is planned once (the session's ``planned`` fixture); the mocks answer
AccountToken.value with ``FAKE_R2_TOKEN_VALUE`` and RandomPassword with stand-ins, so the tests
can assert that no secret, nor a value derived from one, reaches the plan.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi
import pytest

from coordinator.config import load_settings as coordinator_settings
from coordinator.endpoints import token_resource
from coordinator.secrets import bundle_environment
from infra.components.coordinator_service import (
    LAMBDA_RUNTIME,
    LOG_RETENTION_DAYS,
    CoordinatorSettings,
    _bundle_json,
    function_urls_available,
)
from infra.components.r2_credentials import BUCKET_ITEM_WRITE, pick_permission_group
from infra.review.offline import FAKE_PERMISSION_GROUPS, FAKE_R2_TOKEN_VALUE, SECRET, Synthesis
from infra.review.plan import load_stack_config, render_json
from infra.review.policy.rules import evaluate, mandatory_failures
from infra.review.policy.view import view_from_plan
from infra.settings import SettingsError, load_settings
from infra.validation import ArgsError
from tests.infra.conftest import EXAMPLE_STACKS

FUNCTION = "aws:lambda/function:Function"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SECRET_VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
SECRET_RESOURCE = "aws:secretsmanager/secret:Secret"
TOKEN = "cloudflare:index/accountToken:AccountToken"
PASSWORD = "random:index/randomPassword:RandomPassword"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
PERMISSION = "aws:lambda/permission:Permission"
HTTP_API = "aws:apigatewayv2/api:Api"
KMS_KEY = "aws:kms/key:Key"
PARTITIONS = {"dev": "aws", "eu-prod": "aws", "fedramp": "aws-us-gov"}


def only(plan: Synthesis, type_token: str):
    found = plan.of_type(type_token)
    assert len(found) == 1, f"{plan.stack}: expected one {type_token}, found {len(found)}"
    return found[0]


def config_of(stack: str) -> dict[str, str]:
    return dict(load_stack_config(stack).values)


def statements(plan: Synthesis) -> dict[str, dict[str, Any]]:
    policy = json.loads(only(plan, ROLE_POLICY).inputs["policy"])
    assert policy["Version"] == "2012-10-17"
    return {s["Sid"]: s for s in policy["Statement"]}


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_role_policy_allows_exactly_what_the_coordinator_does(planned, stack):
    plan = planned[stack]
    config = config_of(stack)
    partition, region = PARTITIONS[stack], config["r2-video:awsRegion"]
    account = config["r2-video:awsAccountId"]
    function = only(plan, FUNCTION).inputs
    found = statements(plan)
    expected = {
        "ReadMezzanineObjects": (
            "s3:GetObject",
            f"arn:{partition}:s3:::{plan.outputs['mezzanine_bucket']}/*",
        ),
        "ReadOwnSecret": (
            "secretsmanager:GetSecretValue",
            function["environment"]["variables"]["COORDINATOR_SECRET_ARN"],
        ),
        "WriteOwnLogs": (
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            f"arn:{partition}:logs:{region}:{account}:log-group:/aws/lambda/{function['name']}:*",
        ),
    }
    kms_key = plan.outputs["mezzanine_kms_key_arn"]
    if kms_key:  # SSE-KMS stacks (eu-prod, fedramp); dev uses AES256
        expected["DecryptMezzanineThroughS3"] = ("kms:Decrypt", kms_key)
        condition = found["DecryptMezzanineThroughS3"]["Condition"]
        assert condition == {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}
    assert set(found) == set(expected), f"{plan.stack}: {sorted(found)}"
    for sid, (action, resource) in expected.items():
        statement = found[sid]
        assert statement["Effect"] == "Allow", sid
        assert statement["Action"] == action, sid
        assert statement["Resource"] == resource, sid
        assert resource.startswith(f"arn:{partition}:"), sid
    text = json.dumps(list(found.values()))
    assert '"*"' not in text and ':*"' not in text.replace(f"{function['name']}:*", "")


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_only_lambda_of_this_account_may_assume_the_role(planned, stack):
    plan = planned[stack]
    trust = json.loads(only(plan, ROLE).inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    account = config_of(stack)["r2-video:awsAccountId"]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
    assert only(plan, FUNCTION).inputs["role"].endswith(":role/coordinator-role")


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_r2_token_may_write_objects_in_exactly_the_delivery_bucket(planned, stack):
    plan = planned[stack]
    # Only the coordinator's token here: a stack with Sippy has its own (tests/infra/test_sippy.py).
    (token,) = [r.inputs for r in plan.of_type(TOKEN) if r.name == "coordinator-r2-token"]
    (policy,) = token["policies"]
    assert policy["effect"] == "allow"
    assert policy["permissionGroups"] == [{"id": FAKE_PERMISSION_GROUPS[BUCKET_ITEM_WRITE]}]
    resource = token_resource(
        plan.outputs["r2_account_id"], plan.outputs["jurisdiction"], plan.outputs["delivery_bucket"]
    )
    assert json.loads(policy["resources"]) == {resource: "*"}
    assert f"_{plan.outputs['jurisdiction']}_{plan.outputs['delivery_bucket']}" in resource


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_r2_token_resources_are_sent_compact_and_key_sorted(planned, stack):
    # The provider stores the raw JSON the API returns (terraform-provider-cloudflare
    # internal/services/account_token/custom.go); its tests send Terraform's jsonencode() form,
    # compact with sorted keys: `{"<resource>":"*"}`, no spaces.
    plan = planned[stack]
    for token in plan.of_type(TOKEN):
        (policy,) = token.inputs["policies"]
        (resource,) = json.loads(policy["resources"])
        assert policy["resources"] == '{"' + resource + '":"*"}', token.urn


def test_permission_group_is_picked_by_name_and_bucket_scope():
    groups = [
        {"id": "a", "name": BUCKET_ITEM_WRITE, "scopes": ["com.cloudflare.api.account"]},
        {"id": "b", "name": BUCKET_ITEM_WRITE, "scopes": ["com.cloudflare.edge.r2.bucket"]},
        {"id": "c", "name": "Workers R2 Storage Bucket Item Read", "scopes": ["x"]},
    ]
    assert pick_permission_group(groups) == "b"
    with pytest.raises(ValueError, match="found 0"):
        pick_permission_group(groups[:1])


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_no_secret_or_derived_value_reaches_the_plan(planned, stack):
    plan = planned[stack]
    text = render_json(plan)
    fakes = {
        "token value": FAKE_R2_TOKEN_VALUE,
        "S3 secret key": hashlib.sha256(FAKE_R2_TOKEN_VALUE.encode()).hexdigest(),
        "access key id (token id)": hashlib.shake_256(b"coordinator-r2-token").hexdigest(16),
    }
    for password in plan.of_type(PASSWORD):  # the mocks' stand-in for each random key
        length = password.inputs["length"]
        fakes[password.name] = hashlib.shake_256(password.name.encode()).hexdigest(length)[:length]
    for what, value in fakes.items():
        assert value not in text, f"{stack}: the {what} is in the plan"
    assert only(plan, SECRET_VERSION).inputs["secretString"] == SECRET
    assert plan.outputs["coordinator_admin_key"] == SECRET
    assert {p.inputs["length"] for p in plan.of_type(PASSWORD)} == {64}


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_function_environment_holds_no_secret_and_configures_the_coordinator(planned, stack):
    plan = planned[stack]
    variables = only(plan, FUNCTION).inputs["environment"]["variables"]
    signed_delivery = "playback_hmac_key" in plan.outputs
    assert set(variables) == {
        "COORDINATOR_SECRET_ARN",
        "COORDINATOR_SECRET_VERSION",
        "R2_JURISDICTION",
        "R2_ACCOUNT_ID",
        "DELIVERY_BUCKET",
        "DELIVERY_BASE_URLS",
        "MEZZANINE_BUCKET",
        *(["COORDINATOR_PLAYBACK_TOKEN_TTL"] if signed_delivery else []),
    }
    assert variables["DELIVERY_BASE_URLS"] == ",".join(plan.outputs["delivery_base_urls"])
    # What the secret bundle adds on Lambda, and what Lambda itself sets (AWS_REGION, role keys).
    bundle = _bundle_json(
        {
            "admin_key": "a" * 64,
            "token_keys": {"k1": "t" * 64},
            "r2_access_key_id": "0" * 32,
            "r2_secret_access_key": "f" * 64,
            "playback_hmac_key": "p" * 64 if signed_delivery else None,
        },
        "k1",
    )
    env = {
        **{k: v for k, v in variables.items() if not k.startswith("COORDINATOR_SECRET")},
        **bundle_environment(bundle, variables["COORDINATOR_SECRET_ARN"]),
        "AWS_REGION": plan.outputs["aws_region"],
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE00",
        "AWS_SECRET_ACCESS_KEY": "example",
        "AWS_SESSION_TOKEN": "example",
    }
    settings = coordinator_settings(env)
    assert settings.delivery.endpoint == plan.outputs["r2_endpoint"]
    assert settings.delivery.bucket == plan.outputs["delivery_bucket"]
    assert settings.mezzanine.bucket == plan.outputs["mezzanine_bucket"]
    assert settings.mezzanine.region == plan.outputs["aws_region"]
    assert settings.jurisdiction.value == plan.outputs["jurisdiction"]
    if signed_delivery:  # POST /v1/playback works with the key from the secret
        assert settings.playback is not None
        assert str(settings.playback.rule_ttl) == variables["COORDINATOR_PLAYBACK_TOKEN_TTL"]
    else:
        assert settings.playback is None


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_function_is_sized_logged_and_ordered(planned, stack):
    plan = planned[stack]
    function = only(plan, FUNCTION)
    inputs = function.inputs
    assert inputs["runtime"] == LAMBDA_RUNTIME == "python3.13"
    assert inputs["architectures"] == ["arm64"]
    assert inputs["handler"] == "coordinator.lambda_handler.handler"
    assert (inputs["memorySize"], inputs["timeout"], inputs["reservedConcurrentExecutions"]) == (
        512,
        20,
        50,
    )
    assert inputs["code"] == {"archive": "build/coordinator.zip"}
    assert len(inputs["sourceCodeHash"]) == 44  # base64 of a SHA-256
    logs = only(plan, LOG_GROUP)
    assert logs.inputs == {"name": f"/aws/lambda/{inputs['name']}", "retentionInDays": 30}
    assert logs.urn in function.depends_on, "the log group must exist before the function"
    assert only(plan, ROLE_POLICY).urn in function.depends_on


@pytest.mark.parametrize(
    ("stack", "kind"), [("dev", "url"), ("eu-prod", "url"), ("fedramp", "api")]
)
def test_function_url_where_offered_http_api_in_govcloud(planned, stack, kind):
    plan = planned[stack]
    permissions = {p.inputs["action"]: p.inputs for p in plan.of_type(PERMISSION)}
    if kind == "url":
        assert only(plan, FUNCTION_URL).inputs["authorizationType"] == "NONE"
        assert not plan.of_type(HTTP_API)
        assert permissions["lambda:InvokeFunctionUrl"]["functionUrlAuthType"] == "NONE"
        assert permissions["lambda:InvokeFunction"]["invokedViaFunctionUrl"] is True
        assert ".lambda-url." in plan.outputs["coordinator_url"]
    else:
        assert not plan.of_type(FUNCTION_URL)
        assert only(plan, HTTP_API).inputs["protocolType"] == "HTTP"
        (permission,) = permissions.values()
        assert permission["principal"] == "apigateway.amazonaws.com"
        assert permission["sourceArn"].startswith("arn:aws-us-gov:execute-api:us-gov-west-1:")
        assert permission["sourceArn"].endswith("/*/*")
        assert ".execute-api.us-gov-west-1." in plan.outputs["coordinator_url"]


def test_an_eu_region_without_function_urls_gets_an_http_api(plan_with):
    plan = plan_with("eu-prod", awsRegion="eu-south-2", mezzanineKmsKeyArn=None)
    assert not plan.of_type(FUNCTION_URL) and plan.of_type(HTTP_API)


@pytest.mark.parametrize(
    ("region", "available"),
    [
        ("eu-central-1", True),
        ("us-east-1", True),
        ("eu-south-2", False),
        ("eu-central-2", False),
        ("us-gov-west-1", False),
        ("us-gov-east-1", False),
    ],
)
def test_function_url_rule(region, available):
    assert function_urls_available(region) is available


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_policy_rules_pass_with_the_coordinator(planned, stack):
    view = view_from_plan(json.loads(render_json(planned[stack])), config_of(stack))
    failures = mandatory_failures(evaluate(view))
    assert not failures, [v.message for f in failures for v in f.violations]


def test_adding_a_token_key_id_keeps_the_old_key_and_signs_with_the_new(plan_with):
    before = {p.urn for p in plan_with("dev").of_type(PASSWORD)}
    after = {
        p.urn for p in plan_with("dev", coordinatorTokenKeyIds='["k1", "k2"]').of_type(PASSWORD)
    }
    assert before < after and len(after - before) == 1
    assert next(iter(after - before)).endswith("::coordinator-token-key-k2")
    assert CoordinatorSettings(function_name="f", token_key_ids=("k1", "k2")).signing_kid == "k2"


def test_settings_defaults_and_overrides(plan_with):
    plan = plan_with(
        "dev",
        coordinatorMemoryMb="1024",
        coordinatorReservedConcurrency="5",
        coordinatorLogRetentionDays="90",
        coordinatorFunctionName="my-coordinator",
    )
    inputs = only(plan, FUNCTION).inputs
    assert (inputs["memorySize"], inputs["reservedConcurrentExecutions"]) == (1024, 5)
    assert inputs["name"] == "my-coordinator"
    assert only(plan, LOG_GROUP).inputs == {
        "name": "/aws/lambda/my-coordinator",
        "retentionInDays": 90,
    }


def _problems(**overrides: str) -> dict[str, str]:
    values = dict(load_stack_config("dev").values)
    values.update({f"r2-video:{k}": v for k, v in overrides.items()})
    pulumi.runtime.set_all_config(values, [])
    with pytest.raises(SettingsError) as caught:
        load_settings(pulumi.Config("r2-video"), stack="dev")
    return {p.key: p.message for p in caught.value.problems}


def test_bad_coordinator_settings_are_all_named_with_their_key():
    problems = _problems(
        coordinatorLogRetentionDays="10",
        coordinatorReservedConcurrency="0",
        coordinatorMemoryMb="64",
        coordinatorTokenKeyIds='["k1", "k1", "no spaces"]',
        coordinatorFunctionName="has.dots",
    )
    assert "10 is not a CloudWatch retention" in problems["coordinatorLogRetentionDays"]
    assert "between 1 and 10000" in problems["coordinatorReservedConcurrency"]
    assert "between 128 and 10240" in problems["coordinatorMemoryMb"]
    assert "coordinatorTokenKeyIds" in problems
    assert "1-64 letters" in problems["coordinatorFunctionName"]


def test_a_stack_name_too_long_for_lambda_asks_for_a_function_name():
    with pytest.raises(ArgsError) as caught:
        CoordinatorSettings(function_name="r2-video-" + "x" * 60 + "-coordinator")
    assert caught.value.problems[0][0] == "function_name"
    assert 0 not in LOG_RETENTION_DAYS  # "never expire" is not offered
