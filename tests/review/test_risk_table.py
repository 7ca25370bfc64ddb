"""One test per entry of infra/review/risk.py: the diff flags it, and the provider SDK knows the
property.

The SDK check catches a misspelt property (the diff would silently never flag it); whether a
change really replaces the resource is recorded per entry in ``ReplaceRule.source``.
"""

from __future__ import annotations

import importlib
import re

import pytest

from infra.review.diff import BORDER, DATA_LOSS, REPLACE, Plan, compare
from infra.review.risk import (
    BORDER_PROPERTIES,
    DATA_BEARING,
    REPLACE_ON_CHANGE,
    ReplaceRule,
    _r2_child_rules,
    border_properties,
    border_warning,
    is_data_bearing,
    replace_rules,
    sippy_crossing,
)

REPLACE_ENTRIES = [(t, p) for t, props in REPLACE_ON_CHANGE.items() for p in props]
BORDER_ENTRIES = [
    (t, p) for t, props in BORDER_PROPERTIES.items() if not t.endswith(":*") for p in props
]
WILDCARD_EXAMPLES = {
    "cloudflare:*": "cloudflare:index/r2CustomDomain:R2CustomDomain",
    "aws:*": "aws:cloudwatch/logGroup:LogGroup",
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def sdk_args_class(type_token: str) -> type:
    """The installed SDK's ``<Name>Args`` class for a Pulumi type token."""
    package, module, name = type_token.split(":")
    if package == "pulumi" and module == "providers":
        return importlib.import_module(f"pulumi_{name}").ProviderArgs
    sdk = importlib.import_module(f"pulumi_{package}")
    folder = module.split("/")[0]
    if folder != "index":
        sdk = importlib.import_module(
            f"pulumi_{package}.{folder}_" if folder == "lambda" else f"pulumi_{package}.{folder}"
        )
    return getattr(sdk, f"{name}Args")


def _plan(resources: list[dict]) -> Plan:
    return Plan("x.json", "r2-video", "s", {r["urn"]: r for r in resources}, {})


def _resource(type_token: str, inputs: dict, **options) -> dict:
    return {
        "urn": f"urn:pulumi:s::r2-video::{type_token}::thing",
        "type": type_token,
        "name": "thing",
        "inputs": inputs,
        **options,
    }


@pytest.mark.parametrize(("type_token", "prop"), REPLACE_ENTRIES)
def test_replace_entry_is_flagged(type_token, prop):
    before = _resource(type_token, {prop: "before"})
    after = _resource(type_token, {prop: "after"})
    diff = compare(_plan([before]), _plan([after]))
    kinds = {f.kind for f in diff.flags}
    assert REPLACE in kinds
    (replace,) = [f for f in diff.flags if f.kind == REPLACE]
    assert f"`{prop}`" in replace.message
    assert (DATA_LOSS in kinds) is (type_token in DATA_BEARING)


@pytest.mark.parametrize(("type_token", "prop"), REPLACE_ENTRIES)
def test_replace_entry_names_a_real_sdk_property(type_token, prop):
    args = sdk_args_class(type_token)
    assert hasattr(args, _snake(prop)), f"{args.__module__}.{args.__name__} has no {prop}"
    assert REPLACE_ON_CHANGE[type_token][prop].source


@pytest.mark.parametrize(("type_token", "prop"), BORDER_ENTRIES)
def test_border_entry_is_flagged_and_names_a_real_sdk_property(type_token, prop):
    assert hasattr(sdk_args_class(type_token), _snake(prop))
    diff = compare(
        _plan([_resource(type_token, {prop: "eu"})]), _plan([_resource(type_token, {prop: "us"})])
    )
    assert BORDER in {f.kind for f in diff.flags}
    assert diff.exit_status == 1


@pytest.mark.parametrize(("wildcard", "example"), sorted(WILDCARD_EXAMPLES.items()))
def test_border_wildcards_apply_to_every_type_of_their_package(wildcard, example):
    (prop,) = BORDER_PROPERTIES[wildcard]
    assert hasattr(sdk_args_class(example), _snake(prop))
    diff = compare(
        _plan([_resource(example, {prop: "eu"})]), _plan([_resource(example, {prop: "us"})])
    )
    assert BORDER in {f.kind for f in diff.flags}


@pytest.mark.parametrize("type_token", sorted(DATA_BEARING))
def test_data_bearing_entry_removed_is_data_loss(type_token):
    sdk_args_class(type_token)  # a real type
    diff = compare(_plan([_resource(type_token, {})]), _plan([]))
    assert [f.kind for f in diff.flags] == [DATA_LOSS]


def test_any_protected_resource_counts_as_data_bearing():
    token = "aws:dynamodb/table:Table"
    diff = compare(_plan([_resource(token, {}, protect=True)]), _plan([]))
    assert [f.kind for f in diff.flags] == [DATA_LOSS]
    assert compare(_plan([_resource(token, {})]), _plan([])).flags == []


# --- the risk helpers, each stated on its own (issue 17) ----------------------------------------

R2_SIPPY = "cloudflare:index/r2BucketSippy:R2BucketSippy"


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ({"jurisdiction": "eu", "source": {"region": "eu-central-1"}}, None),
        ({"jurisdiction": "eu", "source": {"region": "eusc-de-east-1"}}, None),
        (
            # Zurich: Switzerland is not in the EU
            # (https://european-union.europa.eu/principles-countries-history/eu-countries_en).
            {"jurisdiction": "eu", "source": {"region": "eu-central-2"}},
            "Sippy copies from eu-central-2 into a 'eu' bucket: outside the jurisdiction (an EU"
            " region: eu-central-1, eu-north-1, eu-south-1, eu-south-2, eu-west-1, eu-west-3"
            " (partition aws) or eusc-de-east-1 (AWS European Sovereign Cloud, partition"
            " aws-eusc))",
        ),
        (
            {"jurisdiction": "fedramp", "source": {"region": "us-east-1"}},
            "Sippy copies from us-east-1 into a 'fedramp' bucket: outside the jurisdiction"
            " (a GovCloud region: us-gov-east-1, us-gov-west-1)",
        ),
        # No jurisdiction is the default one: any commercial region, no sovereign partition.
        ({"source": {"region": "ap-south-1"}}, None),
        (
            {"jurisdiction": None, "source": {"region": "cn-north-1"}},
            "Sippy copies from cn-north-1 into a 'default' bucket: outside the jurisdiction"
            " (a commercial AWS region (partition aws), e.g. us-east-1)",
        ),
        (
            {"jurisdiction": "mars", "source": {"region": "us-east-1"}},
            "Sippy into an unknown jurisdiction 'mars'",
        ),
        ({"jurisdiction": "eu", "source": "us-east-1"}, None),  # not the provider's shape
        ({"jurisdiction": "eu", "source": {"region": ["us-east-1"]}}, None),
        ({"jurisdiction": "eu"}, None),
    ],
)
def test_sippy_crossing(inputs, expected):
    assert sippy_crossing(inputs) == expected
    head = compare(_plan([]), _plan([_resource(R2_SIPPY, inputs)]))
    assert [f.message for f in head.flags if f.kind == BORDER] == ([expected] if expected else [])


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Sippy: data crosses a border (us-east-1 -> eu)", "Sippy migration across a border"),
        ("DATA CROSSES A BORDER", "Sippy migration across a border"),
        (
            "regionalHostnames is false: processing is not pinned to the EU",
            "delivery processing not pinned to the region",
        ),
        ("Processing Is Not Pinned To eu", "delivery processing not pinned to the region"),
        ("tiered cache is off", None),
        ("", None),
    ],
)
def test_border_warning(message, expected):
    assert border_warning(message) == expected


@pytest.mark.parametrize(
    ("type_token", "expected"),
    [
        (
            "cloudflare:index/r2Bucket:R2Bucket",
            {"jurisdiction": "R2 jurisdiction (data-residency boundary)", "location": ...},
        ),
        (
            "cloudflare:index/r2BucketCors:R2BucketCors",
            {"jurisdiction": "R2 jurisdiction (data-residency boundary)"},
        ),
        (
            "cloudflare:index/regionalHostname:RegionalHostname",
            {
                "jurisdiction": "R2 jurisdiction (data-residency boundary)",
                "regionKey": "regional hostname region (where TLS is terminated and content"
                " processed)",
            },
        ),
        ("aws:kms/key:Key", {"region": "AWS region of the resource"}),
        (
            "pulumi:providers:aws",
            {"region": "AWS provider region (every AWS resource of the stack)"},
        ),
        ("pulumi:pulumi:Stack", {}),
        ("random:index/randomId:RandomId", {}),
    ],
)
def test_border_properties(type_token, expected):
    found = border_properties(type_token)
    assert set(found) == set(expected)
    assert {k: v for k, v in found.items() if expected[k] is not ...} == {
        k: v for k, v in expected.items() if v is not ...
    }


def test_replace_rules_of_an_unlisted_type_are_none():
    assert replace_rules("random:index/randomId:RandomId") == {}
    assert set(replace_rules("aws:s3/bucket:Bucket")) == {
        "bucket",
        "bucketPrefix",
        "objectLockEnabled",
        "region",
    }


@pytest.mark.parametrize(
    ("type_token", "protected", "expected"),
    [
        ("cloudflare:index/r2Bucket:R2Bucket", False, True),
        ("aws:s3/bucket:Bucket", False, True),
        ("aws:kms/key:Key", False, True),
        ("aws:lambda/function:Function", False, False),
        ("aws:lambda/function:Function", True, True),
    ],
)
def test_is_data_bearing(type_token, protected, expected):
    assert is_data_bearing(type_token, protected=protected) is expected


@pytest.mark.parametrize(
    ("type_token", "what", "service"),
    [
        ("cloudflare:index/r2BucketCors:R2BucketCors", "CORS configuration", "r2_bucket_cors"),
        (
            "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle",
            "lifecycle configuration",
            "r2_bucket_lifecycle",
        ),
        ("cloudflare:index/r2ManagedDomain:R2ManagedDomain", "r2.dev setting", "r2_managed_domain"),
    ],
)
def test_an_r2_child_is_replaced_when_its_bucket_changes(type_token, what, service):
    schema = f"terraform-provider-cloudflare internal/services/{service}/schema.go: RequiresReplace"
    expected = {
        "accountId": ReplaceRule(f"the {what} is re-created", schema),
        "bucketName": ReplaceRule(f"the {what} is re-created on another bucket", schema),
        "jurisdiction": ReplaceRule(
            f"the {what} is re-created on the bucket in the new jurisdiction",
            "infra/components/delivery.py replace_on_changes (the provider schema would update"
            " in place)",
        ),
    }
    assert REPLACE_ON_CHANGE[type_token] == expected
    # The table is built at import; the builder itself must say the same.
    assert _r2_child_rules(what, service) == expected


def test_a_type_alone_is_data_bearing_only_if_listed():
    assert is_data_bearing("aws:lambda/function:Function") is False
    assert is_data_bearing("aws:kms/key:Key") is True
