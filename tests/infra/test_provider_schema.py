"""The component provider's schema: what Pulumi's analyzer infers, committed, and complete.

Regenerated offline from the component classes (``python -m infra.components.provider
--schema`` writes it); the examples/yaml-region program is checked against it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.sync_await import _sync_await

from infra.components import provider
from tests.infra.test_region import ACCOUNT, PACKAGE, ZONE, run

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "infra" / "components" / "schema.json"
TOKEN = "r2-video:index:SovereignVideoRegion"
YAML_EXAMPLE = ROOT / "examples" / "yaml-region" / "Pulumi.yaml"


def _region() -> dict[str, Any]:
    return json.loads(COMMITTED.read_text(encoding="utf-8"))["resources"][TOKEN]


def test_the_committed_schema_is_what_the_analyzer_infers() -> None:
    regenerated = json.dumps(provider.schema(), indent=2, sort_keys=True) + "\n"
    assert regenerated == COMMITTED.read_text(encoding="utf-8"), (
        "infra/components/schema.json is stale: python -m infra.components.provider --schema"
    )


def test_every_input_has_a_type_and_a_description() -> None:
    inputs = _region()["inputProperties"]
    assert inputs
    for name, spec in inputs.items():
        assert spec.get("type") or spec.get("$ref"), f"input {name} has no type"
        assert (spec.get("description") or "").strip(), f"input {name} has no description"


def test_every_output_has_a_type() -> None:
    for name, spec in _region()["properties"].items():
        assert spec.get("type") or spec.get("$ref"), f"output {name} has no type"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def test_every_secret_output_is_marked_secret_and_no_other() -> None:
    """What the component really makes secret (run under mocks, signed delivery on, so every
    optional output exists) against what the schema marks."""
    found: dict[str, bool] = {}

    def program() -> None:
        inputs = {
            "jurisdiction": "eu",
            "cloudflare_account_id": ACCOUNT,
            "aws_region": "eu-central-1",
            "aws_account_id": "123456789012",
            "zone_id": ZONE,
            "zone_name": "example.eu",
            "hostnames": ["media.example.eu"],
            "delivery_bucket_name": "acme-eu-delivery",
            "mezzanine_bucket_name": "acme-eu-mezzanine",
            "coordinator_function_name": "acme-eu-coordinator",
            "token_name": "acme eu coordinator",
            "cloudflare_plan": "enterprise",
            "regional_hostnames": True,
            "signed_delivery": True,
        }
        args = provider.region_args(inputs)
        region = provider.region.SovereignVideoRegion(
            "eu", dataclasses.replace(args, package=PACKAGE)
        )
        for name in _region()["properties"]:
            snake = "".join("_" + c.lower() if c.isupper() else c for c in name)
            value = getattr(region, snake)
            assert value is not None, snake
            found[name] = _sync_await(pulumi.Output.from_input(value).is_secret())

    run(program)
    marked = {name: bool(spec.get("secret")) for name, spec in _region()["properties"].items()}
    assert found == marked, {k: (found[k], marked[k]) for k in found if found[k] != marked[k]}
    assert found["coordinatorAdminKey"] and found["playbackHmacKey"]


def test_the_yaml_example_uses_only_the_schemas_inputs_and_all_required_ones() -> None:
    program = yaml.safe_load(YAML_EXAMPLE.read_text(encoding="utf-8"))
    spec = _region()
    schema = json.loads(COMMITTED.read_text(encoding="utf-8"))
    (resource,) = program["resources"].values()
    assert resource["type"] == TOKEN
    properties = resource["properties"]
    assert set(properties) <= set(spec["inputProperties"]), set(properties) - set(
        spec["inputProperties"]
    )
    assert set(spec["requiredInputs"]) <= set(properties)
    for name, value in properties.items():
        ref = spec["inputProperties"][name].get("$ref", "")
        if ref.startswith("#/types/"):
            enum = schema["types"][ref.removeprefix("#/types/")]["enum"]
            assert value in [e["value"] for e in enum], (name, value)
    # And the same values build a valid region in Python (the provider's own conversion).
    snake = {
        "".join("_" + c.lower() if c.isupper() else c for c in k): v for k, v in properties.items()
    }
    provider.region_args(snake)
    for output in program["outputs"].values():
        assert output.removeprefix("${eu.").removesuffix("}") in spec["properties"], output


def test_the_provider_offers_the_python_components_type_token() -> None:
    # One token in every language: a Python program and a YAML one make the same URNs.
    assert provider.region.TYPE_TOKEN == TOKEN
    assert _camel("coordinator_admin_key") in _region()["properties"]
