"""The component provider: SovereignVideoRegion for a TypeScript, Go, C#, Java or YAML program.

``pulumi package add`` runs this module (``PulumiPlugin.yaml``); Pulumi's experimental host
(``pulumi.provider.experimental``) infers the schema from the annotations below, and
``schema.json`` is that schema, committed (``python -m infra.components.provider --schema``
regenerates it; tests/infra/test_provider_schema.py fails when it drifts).

What the host cannot express, and what this module does about it (README, "Use it in your own
program"):

* Its analyzer reads plain annotations only: no union but ``X | None``, no tuple, no frozen
  dataclass with a ``__post_init__`` check, no ``Literal``; and the constructor receives a plain
  dict. So the args here are a flat ``TypedDict`` of strings, lists, bools and the two enums;
  ``region_args`` turns it into the frozen, self-checking ``SovereignVideoRegionArgs``, whose
  checks raise with the same text as in Python.
* It has no ``secret`` marker: a schema property is secret only if the host is told. The
  provider adds ``"secret": true`` to the outputs named in ``SECRET_OUTPUTS`` (the schema
  test fails when a secret output is not marked).
* It hosts module ``index`` only (type tokens ``r2-video:index:<Class>``): the parts keep their
  tokens (``r2-video:storage:DeliveryBucket``...), which name the URNs of deployed stacks, so
  only the region is offered to other languages; its parts are its children as in Python.

References: https://www.pulumi.com/docs/iac/guides/building-extending/components/ ,
https://www.pulumi.com/docs/reference/pulumiplugin-yaml/
"""

import json
import sys
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import pulumi

if __package__ in (None, ""):
    # Run as the plugin's entry point (PulumiPlugin.yaml `main`): the project root holds the
    # `infra` and `coordinator` packages.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from infra.components import region
    from infra.components.coordinator_service import CoordinatorSettings
    from infra.components.delivery import DeliveryBucketArgs
    from infra.components.edge import CloudflarePlan, EdgeDeliveryArgs
    from infra.components.mezzanine import MezzanineBucketArgs
else:
    from . import region
    from .coordinator_service import CoordinatorSettings
    from .delivery import DeliveryBucketArgs
    from .edge import CloudflarePlan, EdgeDeliveryArgs
    from .mezzanine import MezzanineBucketArgs

from coordinator.endpoints import Jurisdiction

__all__ = ["NAME", "SECRET_OUTPUTS", "SovereignVideoRegion", "main", "region_args", "schema"]

NAME = "r2-video"
SCHEMA_PATH = Path(__file__).with_name("schema.json")
# The outputs that carry a key: marked secret in the schema (the host has no way to say it).
SECRET_OUTPUTS = frozenset({"coordinatorAdminKey", "playbackHmacKey"})


class SovereignVideoRegionInputs(TypedDict):
    """The inputs of a SovereignVideoRegion, flat for every Pulumi language."""

    jurisdiction: Jurisdiction
    """Where the region's data lives (default, eu, fedramp, us); never changes in place."""
    cloudflare_account_id: str
    """Cloudflare account of the delivery bucket and its token (32 hex characters)."""
    aws_region: str
    """AWS region of the mezzanine and the coordinator; must fit the jurisdiction."""
    aws_account_id: str
    """The only AWS account the region's AWS provider may act in (12 digits)."""
    zone_id: pulumi.Input[str]
    """Cloudflare zone of the delivery hostnames (may be the program's own zone's id)."""
    zone_name: str
    """DNS name of that zone; every hostname must be inside it."""
    delivery_bucket_name: str
    """R2 bucket name (3-63 of a-z0-9-). Changing it replaces the bucket."""
    mezzanine_bucket_name: str
    """S3 bucket name of the source masters (globally unique, no dots)."""
    coordinator_function_name: str
    """Name of the coordinator's Lambda function."""
    token_name: str
    """Name of the coordinator's R2 account token, as the Cloudflare dashboard lists it."""
    hostnames: NotRequired[list[str]]
    """Custom domains that serve the bucket through the CDN (a production region needs one)."""
    location_hint: NotRequired[str]
    """Best-effort placement inside the jurisdiction (eu: weur or eeur), at creation only."""
    cloudflare_plan: NotRequired[CloudflarePlan]
    """The zone's plan (default free): decides which edge features are allowed."""
    regional_hostnames: NotRequired[bool]
    """Pin TLS and processing of the hostnames to the jurisdiction (Enterprise, DLS)."""
    signed_delivery: NotRequired[bool]
    """The WAF refuses delivery requests without a playback token (Pro plan or higher)."""
    cors_origins: NotRequired[list[str]]
    """Player origins allowed to read cross-origin (https://host[:port])."""
    protect_data: NotRequired[bool]
    """Protect the buckets and the key against deletion and retain them (production)."""
    tags: NotRequired[dict[str, str]]
    """Default tags of every AWS resource of the region."""


def region_args(
    inputs: SovereignVideoRegionInputs | dict[str, Any],
) -> region.SovereignVideoRegionArgs:
    """The frozen, checked args of the Python component from the provider's flat inputs."""
    jurisdiction = Jurisdiction(inputs["jurisdiction"])
    hosts = tuple(inputs.get("hostnames") or ())
    protect = bool(inputs.get("protect_data", False))
    plan = CloudflarePlan(inputs.get("cloudflare_plan") or CloudflarePlan.FREE)
    return region.SovereignVideoRegionArgs(
        jurisdiction=jurisdiction,
        cloudflare_account_id=inputs["cloudflare_account_id"],
        aws_region=inputs["aws_region"],
        aws_account_id=inputs["aws_account_id"],
        delivery=DeliveryBucketArgs(
            account_id=inputs["cloudflare_account_id"],
            bucket_name=inputs["delivery_bucket_name"],
            jurisdiction=jurisdiction,
            location_hint=inputs.get("location_hint"),
            zone_id=inputs["zone_id"],
            zone_name=inputs["zone_name"],
            hostnames=hosts,
            cors_origins=tuple(inputs.get("cors_origins") or ()),
            allow_http_origins=not protect,
            protect_data=protect,
        ),
        edge=EdgeDeliveryArgs(
            zone_id=inputs["zone_id"],
            hostnames=hosts,
            jurisdiction=jurisdiction,
            plan=plan,
            regional_hostnames=bool(inputs.get("regional_hostnames", False)),
            signed_delivery=bool(inputs.get("signed_delivery", False)),
        ),
        mezzanine=MezzanineBucketArgs(
            bucket_name=inputs["mezzanine_bucket_name"], protect_data=protect
        ),
        coordinator=CoordinatorSettings(function_name=inputs["coordinator_function_name"]),
        token_name=inputs["token_name"],
        tags=dict(inputs.get("tags") or {}),
    )


class SovereignVideoRegion(region.SovereignVideoRegion):
    """One sovereign region of zero-egress video: the R2 delivery bucket and its edge, the S3
    mezzanine, and the presigning coordinator, pinned to one jurisdiction."""

    def __init__(
        self,
        name: str,
        args: SovereignVideoRegionInputs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, region_args(args), opts)


def schema(version: str | None = None) -> dict[str, Any]:
    """The schema the host serves: the analyzer's, with the secret outputs marked."""
    from pulumi.provider.experimental.component import ComponentProvider

    provider = ComponentProvider([SovereignVideoRegion], NAME, None, version or _version())
    return _mark_secrets(json.loads(provider.schema or "{}"))


def _mark_secrets(document: dict[str, Any]) -> dict[str, Any]:
    for resource in document.get("resources", {}).values():
        for key in SECRET_OUTPUTS & set(resource.get("properties", {})):
            resource["properties"][key]["secret"] = True
    return document


def main() -> None:
    if sys.argv[1:] == ["--schema"]:
        text = json.dumps(schema(), indent=2, sort_keys=True) + "\n"
        SCHEMA_PATH.write_text(text, encoding="utf-8")
        print(f"wrote {SCHEMA_PATH}")
        return
    from pulumi.provider import main as serve
    from pulumi.provider.experimental.component import ComponentProvider

    class _Provider(ComponentProvider):
        def __init__(self) -> None:
            super().__init__([SovereignVideoRegion], NAME, None, _version())
            self.schema = json.dumps(_mark_secrets(json.loads(self.schema or "{}")))

    serve(_Provider(), sys.argv[1:])


def _version() -> str:
    """The installed package's version, or a checkout's (pyproject.toml)."""
    import tomllib
    from importlib import metadata

    try:
        return metadata.version("r2-video")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]


if __name__ == "__main__":
    main()
