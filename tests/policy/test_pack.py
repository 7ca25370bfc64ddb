"""The CrossGuard pack: the same rules, driven the way the Pulumi engine drives a policy pack.

No Pulumi CLI here, so these tests stand in for the engine at two levels: calling the
pulumi_policy policy objects directly (``StackValidationArgs`` of ``PolicyResource``), and
starting the pack exactly as the CLI does (``python -m pulumi.policy <engine> infra/review/policy``)
and talking to it over its gRPC analyzer interface.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import (
    EnforcementLevel,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.policy import PolicyCustomTimeouts
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from infra.review.policy.pack import PACK_NAME, policies, view_from_policy_resources
from infra.review.policy.rules import RULES
from infra.review.policy.view import UNKNOWN
from tests.policy.conftest import EXAMPLE_STACKS, resource

ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = ROOT / "infra" / "review" / "policy"
EU_PROD = {"r2-video:environment": "prod", "r2-video:jurisdiction": "eu"}


def _options(r: dict[str, Any]) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        bool(r.get("protect")), [], None, [], PolicyCustomTimeouts(0, 0, 0), [], r.get("parent")
    )


def policy_resources(plan: dict[str, Any]) -> list[PolicyResource]:
    """The plan's resources as pulumi_policy builds them for a stack policy."""
    by_urn = {r["urn"]: r for r in plan["resources"]}
    built: dict[str, PolicyResource] = {}
    for r in plan["resources"]:
        provider = by_urn.get(r.get("provider") or "")
        built[r["urn"]] = PolicyResource(
            r["type"],
            unknown_checking_proxy(copy.deepcopy(r["inputs"])),
            r["urn"],
            r["name"],
            _options(r),
            PolicyProviderResource(
                provider["type"], provider["inputs"], provider["urn"], provider["name"]
            )
            if provider
            else None,
            None,
            [],
            {},
        )
    for r in plan["resources"]:
        built[r["urn"]].dependencies = [built[d] for d in r["depends_on"] if d in built]
        built[r["urn"]].parent = built.get(r.get("parent") or "")
    return list(built.values())


def run_policies(plan: dict[str, Any], config: dict[str, str]) -> list[tuple[str, str, str]]:
    """(policy, message, urn) for every violation the pack reports."""
    reported = []
    for policy in policies(lambda: config):
        assert isinstance(policy, StackValidationPolicy)

        def report(message: str, urn: str | None = None, name: str = policy.name) -> None:
            reported.append((name, message, urn or ""))

        policy.validate(StackValidationArgs(policy_resources(plan)), report)
    return reported


def test_one_stack_policy_per_rule_mandatory_except_where_the_pack_is_blind():
    built = policies(lambda: {})
    assert [p.name for p in built] == [r.name for r in RULES]
    levels = {p.name: p.enforcement_level for p in built}
    assert levels["no-plain-secrets"] is EnforcementLevel.ADVISORY
    assert levels["residency-r2"] is EnforcementLevel.MANDATORY
    assert all(p.description for p in built)


def test_the_policy_pack_yaml_runs_in_the_project_virtualenv():
    spec = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text(encoding="utf-8"))
    assert spec["runtime"]["name"] == "python"
    venv = (PACK_DIR / spec["runtime"]["options"]["virtualenv"]).resolve()
    assert venv == (ROOT / ".venv").resolve()


def test_the_pack_passes_the_example_stacks(plans):
    for stack in EXAMPLE_STACKS:
        plan, config = plans[stack]
        assert run_policies(plan, config) == [], stack


def test_the_pack_reports_violations_against_the_resource(plans):
    plan, _ = copy.deepcopy(plans["eu-prod"])
    bucket = resource(plan, "R2Bucket")
    bucket["protect"] = False
    bucket["inputs"]["jurisdiction"] = "default"
    reported = run_policies(plan, EU_PROD)
    names = {name for name, _message, urn in reported if urn == bucket["urn"]}
    assert {"residency-r2", "data-protected-in-prod"} <= names


def test_the_pack_learns_the_jurisdiction_from_the_bucket_without_config(plans):
    plan, _ = plans["fedramp"]
    view = view_from_policy_resources(policy_resources(plan), {})
    assert view.context.jurisdiction.value == "fedramp"
    assert not view.context.secrets_masked
    assert run_policies(plan, {}) == []  # environment unknown: prod rules, and they hold


def test_the_pack_does_not_flag_plaintext_secrets_by_name_it_cannot_tell_them_apart(plans):
    plan, config = copy.deepcopy(plans["eu-prod"])
    resource(plan, "providers:cloudflare")["inputs"]["apiToken"] = "a-real-token-in-plaintext"
    assert run_policies(plan, config) == []


def test_values_unknown_during_preview_are_skipped_not_fatal(plans):
    plan, config = copy.deepcopy(plans["eu-prod"])
    resource(plan, "BucketPublicAccessBlock")["inputs"]["bucket"] = UNKNOWN_STRING_VALUE
    view = view_from_policy_resources(policy_resources(plan), config)
    block = next(r for r in view.resources if r.type.endswith("BucketPublicAccessBlock"))
    assert block.inputs["bucket"] == UNKNOWN
    # Linked to its bucket through the recorded dependency instead of the (unknown) name.
    assert run_policies(plan, config) == []


# --- the pack as the engine sees it -------------------------------------------------------------


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    json_format.ParseDict(values, message)
    return message


def analyze_stack_request(plan: dict[str, Any]) -> analyzer_pb2.AnalyzeStackRequest:
    by_urn = {r["urn"]: r for r in plan["resources"]}
    request = analyzer_pb2.AnalyzeStackRequest()
    for r in plan["resources"]:
        provider = by_urn.get(r.get("provider") or "")
        item = analyzer_pb2.AnalyzerResource(
            type=r["type"],
            properties=_struct(r["inputs"]),
            urn=r["urn"],
            name=r["name"],
            options=analyzer_pb2.AnalyzerResourceOptions(protect=bool(r.get("protect"))),
            parent=r.get("parent") or "",
            dependencies=r["depends_on"],
        )
        if provider:
            item.provider.CopyFrom(
                analyzer_pb2.AnalyzerProviderResource(
                    type=provider["type"],
                    properties=_struct(provider["inputs"]),
                    urn=provider["urn"],
                    name=provider["name"],
                )
            )
        request.resources.append(item)
    return request


@pytest.fixture(scope="module")
def analyzer():
    """The pack started like the CLI starts it, with the eu-prod stack's config."""
    env = {**os.environ, "PULUMI_CONFIG": json.dumps(EU_PROD)}
    process = subprocess.Popen(
        [sys.executable, "-m", "pulumi.policy", "127.0.0.1:0", str(PACK_DIR)],
        cwd=PACK_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().decode().strip()
        if not port.isdigit():
            process.kill()
            raise AssertionError(f"pack did not start: {port!r} {process.stderr.read()!r}")
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_pack_starts_like_the_cli_starts_it_and_lists_its_policies(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == PACK_NAME
    assert [p.name for p in info.policies] == [r.name for r in RULES]


def test_the_engine_gets_no_diagnostics_for_eu_prod(analyzer, plans):
    plan, _ = plans["eu-prod"]
    response = analyzer.AnalyzeStack(analyze_stack_request(plan), timeout=60)
    assert [d.message for d in response.diagnostics] == []


def test_the_engine_gets_a_mandatory_diagnostic_for_a_border_crossing(analyzer, plans):
    plan, _ = copy.deepcopy(plans["eu-prod"])
    resource(plan, "providers:aws")["inputs"]["region"] = "us-east-1"
    response = analyzer.AnalyzeStack(analyze_stack_request(plan), timeout=60)
    found = [(d.policyName, d.enforcementLevel) for d in response.diagnostics]
    assert ("residency-aws", analyzer_pb2.MANDATORY) in found, found


def test_numbers_from_the_engine_arrive_as_doubles_and_are_read_as_ints():
    # The engine's wire format (protobuf Struct) carries every number as a double; a log group's
    # retentionInDays of 30 arrives as 30.0 and must still satisfy the log-retention rule.
    from infra.review.policy.pack import _plain

    assert _plain({"retentionInDays": 30.0, "ratio": 0.5, "list": [1.0]}) == {
        "retentionInDays": 30,
        "ratio": 0.5,
        "list": [1],
    }
    assert type(_plain(30.0)) is int
