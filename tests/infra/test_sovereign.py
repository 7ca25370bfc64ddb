"""R2 `us` and the AWS European Sovereign Cloud: every value a sovereign stack plans is its own.

Expected values are written out from their sources: botocore's data files (installed with boto3),
Cloudflare's changelog, terraform-provider-aws's principal rule, the installed provider SDKs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import botocore
import pulumi_cloudflare
import pytest

from coordinator.endpoints import ALLOWED_LOCATION_HINTS, Jurisdiction, region_key, token_resource
from infra.components.coordinator_service import assume_role_policy, function_urls_available
from infra.residency import PARTITIONS, dns_suffix_of, partition_of, service_principal
from infra.review.diff import BORDER, compare, load_plan
from infra.review.plan import render_json
from tests.infra.test_settings import problems_of, settings_for

BOTOCORE_DATA = Path(botocore.__file__).parent / "data"
ACCOUNT = "0123456789abcdef0123456789abcdef"
R2_CHILD_MODULES = (
    "r2_bucket_cors",
    "r2_bucket_event_notification",
    "r2_bucket_lifecycle",
    "r2_bucket_lock",
    "r2_bucket_sippy",
    "r2_custom_domain",
    "r2_managed_domain",
)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


# --- ground truth: botocore's partitions -------------------------------------------------------


def test_partition_table_is_botocores():
    data = json.loads((BOTOCORE_DATA / "partitions.json").read_text(encoding="utf-8"))
    theirs = {
        p["id"]: (p["regionRegex"], p["outputs"]["dnsSuffix"])
        for p in data["partitions"]
        if p["id"] in {"aws", "aws-us-gov", "aws-cn", "aws-eusc"}
    }
    ours = {p.name: (p.region_regex, p.dns_suffix) for p in PARTITIONS}
    assert ours == theirs


def test_the_sovereign_cloud_is_its_own_partition():
    # partitions.json: aws-eusc, regions ["eusc-de-east-1"], dnsSuffix "amazonaws.eu".
    assert partition_of("eusc-de-east-1") == "aws-eusc"
    assert dns_suffix_of("eusc-de-east-1") == "amazonaws.eu"
    assert partition_of("eu-central-1") == "aws"


def test_botocore_lists_the_services_the_coordinator_uses_in_the_sovereign_cloud():
    data = json.loads((BOTOCORE_DATA / "endpoints.json").read_text(encoding="utf-8"))
    (eusc,) = [p for p in data["partitions"] if p["partition"] == "aws-eusc"]
    # apigateway is the endpoint prefix of apigatewayv2 (HTTP APIs).
    for service in ("lambda", "s3", "kms", "secretsmanager", "logs", "apigateway", "sts"):
        assert "eusc-de-east-1" in eusc["services"][service]["endpoints"], service


def test_principals_are_the_partitions_own():
    # terraform-provider-aws servicePrincipalNameForPartition: "<service>.amazonaws.com" in every
    # partition but for logs/codedeploy/... in aws-cn and the ISO partitions.
    assert service_principal("lambda", "eusc-de-east-1") == "lambda.amazonaws.com"
    assert service_principal("apigateway", "eusc-de-east-1") == "apigateway.amazonaws.com"
    with pytest.raises(ValueError, match="no sourced principal"):
        service_principal("logs", "cn-north-1")
    policy = json.loads(assume_role_policy("444444444444", "eusc-de-east-1"))
    assert policy["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}


def test_no_function_url_where_no_source_says_there_is_one():
    assert function_urls_available("eusc-de-east-1") is False


# --- the eu-sovereign plan --------------------------------------------------------------------


def test_every_arn_and_endpoint_of_the_sovereign_stack_is_in_aws_eusc(planned):
    plan = planned["eu-sovereign"]
    arns, hosts = [], []
    for r in plan.resources:
        for text in _strings(r.inputs):
            arns += re.findall(r"arn:[a-z-]+:[a-z0-9-]+:", text)
            hosts += re.findall(r"[a-z0-9.-]+\.amazonaws\.[a-z.]+", text)
    assert arns and all(a.startswith("arn:aws-eusc:") for a in arns), sorted(set(arns))
    # Service principals are names, not endpoints: "<service>.amazonaws.com" in every partition.
    principals = {"lambda.amazonaws.com", "apigateway.amazonaws.com"}
    endpoints = [h for h in hosts if h not in principals]
    assert endpoints and all(h.endswith(".amazonaws.eu") for h in endpoints), sorted(set(hosts))
    assert plan.outputs["coordinator_url"].endswith(".execute-api.eusc-de-east-1.amazonaws.eu/")
    assert not plan.of_type("aws:lambda/functionUrl:FunctionUrl")
    (provider,) = plan.of_type("pulumi:providers:aws")
    assert provider.inputs["region"] == "eusc-de-east-1"


def test_the_sovereign_stack_keeps_r2_and_delivery_in_the_eu(planned):
    plan = planned["eu-sovereign"]
    (bucket,) = plan.of_type("cloudflare:index/r2Bucket:R2Bucket")
    assert bucket.inputs["jurisdiction"] == "eu"
    (regional,) = plan.of_type("cloudflare:index/regionalHostname:RegionalHostname")
    assert regional.inputs["regionKey"] == "eu"


def _moved(plan_with, tmp_path, stack, **overrides):
    base = tmp_path / "base.json"
    head = tmp_path / "head.json"
    base.write_text(render_json(plan_with(stack)), encoding="utf-8")
    head.write_text(render_json(plan_with(stack, **overrides)), encoding="utf-8")
    return compare(load_plan(base), load_plan(head))


def test_moving_a_stack_out_of_the_sovereign_cloud_raises_border(plan_with, tmp_path):
    diff = _moved(plan_with, tmp_path, "eu-sovereign", awsRegion="eu-central-1")
    borders = [f for f in diff.flags if f.kind == BORDER]
    assert any("partition aws-eusc → aws" in f.message for f in borders), borders


def test_moving_a_stack_into_jurisdiction_us_raises_border(plan_with, tmp_path):
    diff = _moved(
        plan_with,
        tmp_path,
        "dev",
        jurisdiction="us",
        awsRegion="us-east-1",
        locationHint=None,
        regionalHostnames="false",
    )
    borders = [f for f in diff.flags if f.kind == BORDER]
    assert any("`us`" in f.message for f in borders), borders


# --- R2 `us` ------------------------------------------------------------------------------------


def test_us_jurisdiction_endpoint_token_and_region_key():
    # Cloudflare changelog 2026-08-17: https://<account>.us.r2.cloudflarestorage.com; token
    # resource com.cloudflare.edge.r2.bucket.<ACCOUNT>_<JURISDICTION>_<BUCKET> (r2/api/s3/tokens).
    assert token_resource(ACCOUNT, "us", "media") == (
        f"com.cloudflare.edge.r2.bucket.{ACCOUNT}_us_media"
    )
    assert region_key("us") == "us"
    assert ALLOWED_LOCATION_HINTS[Jurisdiction.US] == {"wnam", "enam"}


def test_the_us_stack_plans_us_everywhere(planned):
    plan = planned["us-prod"]
    types = ("r2Bucket", "r2BucketCors", "r2BucketLifecycle", "r2CustomDomain", "r2ManagedDomain")
    for r in plan.resources:
        if any(r.type.endswith(f"/{t}:" + t[0].upper() + t[1:]) for t in types):
            assert r.inputs["jurisdiction"] == "us", r.urn
    assert plan.outputs["r2_endpoint"] == f"https://{ACCOUNT}.us.r2.cloudflarestorage.com"
    (regional,) = plan.of_type("cloudflare:index/regionalHostname:RegionalHostname")
    assert regional.inputs["regionKey"] == "us"


def test_us_refuses_govcloud_and_names_the_key():
    problems = problems_of("us-prod", awsRegion="us-gov-west-1")
    assert "fedramp" in problems["awsRegion"]
    assert settings_for("us-prod").aws_partition == "aws"


def test_the_installed_provider_accepts_us_wherever_it_lists_values():
    """R2Bucket lists "us" (pulumi_cloudflare 6.23.1). The children document no list; if a new
    SDK lists values for one of them without "us", this fails: refuse `us` then."""
    root = Path(pulumi_cloudflare.__file__).parent
    bucket = (root / "r2_bucket.py").read_text(encoding="utf-8")
    assert 'Available values: "default", "eu", "fedramp", "us".' in bucket
    for module in R2_CHILD_MODULES:
        text = (root / f"{module}.py").read_text(encoding="utf-8")
        for doc in re.findall(r"jurisdiction: Jurisdiction of the bucket\n(.*)", text):
            if "Available values" in doc:
                assert '"us"' in doc, module
