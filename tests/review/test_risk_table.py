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
from infra.review.risk import BORDER_PROPERTIES, DATA_BEARING, REPLACE_ON_CHANGE

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
