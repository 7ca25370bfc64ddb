"""SovereignVideoRegion under Pulumi's mocks: what a consumer's program gets, and what a consumer's
mistake gets (one clear error naming the field and the fix; nothing created when it is known)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_cloudflare as cloudflare
import pytest
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from coordinator.endpoints import Jurisdiction
from infra.components import (
    ArgsError,
    CloudflarePlan,
    CoordinatorSettings,
    DeliveryBucketArgs,
    EdgeDeliveryArgs,
    MezzanineBucketArgs,
    SippyMigrationArgs,
    SovereignVideoRegion,
    SovereignVideoRegionArgs,
)
from infra.components.package import LambdaPackage
from infra.review.offline import OfflineMocks

ACCOUNT = "0123456789abcdef0123456789abcdef"
ZONE = "112233445566778899aabbccddeeff00"
HOSTS = ("media.example.eu",)
PACKAGE = LambdaPackage(
    path=Path("coordinator.zip"),
    digest="00" * 32,
    sha256="00" * 32,
    size=1,
    files=1,
    distributions=(),
)


class _Recorder(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registered: list[Any] = []
        self.outputs: dict[str, dict[str, Any]] = {}

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method's name
        self.registered.append(request)
        return super().RegisterResource(request)

    def RegisterResourceOutputs(self, request: Any) -> Any:
        from google.protobuf import json_format

        self.outputs[request.urn] = json_format.MessageToDict(request.outputs)
        return super().RegisterResourceOutputs(request)


# The recorder of the latest run, for a test whose program fails.
_LAST: list[_Recorder] = []


def run(program: Callable[[], None]) -> _Recorder:
    """Run ``program`` under the offline plan's mocks; the recorder keeps every registration."""
    _ensure_event_loop()
    pulumi_settings.reset_options(project="acme", stack="eu")  # a new root Stack: a new program
    mocks = OfflineMocks()
    recorder = _Recorder(mocks)
    _LAST[:] = [recorder]
    pulumi.runtime.set_mocks(mocks, project="acme", stack="eu", preview=False, monitor=recorder)
    _sync_await(run_pulumi_func(program))
    return recorder


def created(recorder: _Recorder) -> list[str]:
    return [r.name for r in recorder.registered if r.type != "pulumi:pulumi:Stack"]


def eu_args(zone_id: Any = ZONE, **changes: Any) -> SovereignVideoRegionArgs:
    fields: dict[str, Any] = {
        "jurisdiction": Jurisdiction.EU,
        "cloudflare_account_id": ACCOUNT,
        "aws_region": "eu-central-1",
        "aws_account_id": "123456789012",
        "delivery": DeliveryBucketArgs(
            account_id=ACCOUNT,
            bucket_name="acme-eu-delivery",
            jurisdiction=Jurisdiction.EU,
            zone_id=zone_id,
            zone_name="example.eu",
            hostnames=HOSTS,
        ),
        "edge": EdgeDeliveryArgs(
            zone_id=zone_id,
            hostnames=HOSTS,
            jurisdiction=Jurisdiction.EU,
            plan=CloudflarePlan.ENTERPRISE,
            regional_hostnames=True,
        ),
        "mezzanine": MezzanineBucketArgs(bucket_name="acme-eu-mezzanine"),
        "coordinator": CoordinatorSettings(function_name="acme-eu-coordinator"),
        "token_name": "acme eu coordinator",
        "package": PACKAGE,
    }
    return SovereignVideoRegionArgs(**(fields | changes))


def problems(error: ArgsError) -> dict[str, str]:
    return dict(error.problems)


def test_a_region_registers_its_outputs_and_its_parts_are_its_children() -> None:
    recorder = run(lambda: SovereignVideoRegion("eu", eu_args()))
    regions = [r for r in recorder.registered if r.type == "r2-video:index:SovereignVideoRegion"]
    assert len(regions) == 1
    urn = next(u for u in recorder.outputs if u.endswith("SovereignVideoRegion::eu"))
    outputs = recorder.outputs[urn]
    assert outputs["jurisdiction"] == "eu", outputs
    assert outputs["r2_endpoint"] == f"https://{ACCOUNT}.eu.r2.cloudflarestorage.com", outputs
    assert outputs["delivery_bucket"] == "acme-eu-delivery", outputs
    assert outputs["aws_region"] == "eu-central-1", outputs
    children = {r.name for r in recorder.registered if r.parent.endswith("::eu")}
    assert {"eu-delivery", "eu-edge", "eu-mezzanine", "eu-coordinator", "eu-aws"} <= children


def test_every_component_registers_real_outputs() -> None:
    """No component registers ``{}``: each one's outputs are in the engine's state."""
    recorder = run(lambda: SovereignVideoRegion("eu", eu_args()))
    components = {r.type for r in recorder.registered if r.type.startswith("r2-video:")}
    assert len(components) >= 7, components
    for urn, outputs in recorder.outputs.items():
        if "::pulumi:pulumi:Stack::" not in urn:  # the stack's outputs are the program's exports
            assert outputs, f"{urn} registered no outputs"


def test_a_wrong_type_names_the_field_and_the_fix() -> None:
    with pytest.raises(ArgsError) as caught:
        eu_args(jurisdiction="eu")
    message = problems(caught.value)["jurisdiction"]
    assert "Jurisdiction.DEFAULT or Jurisdiction('default')" in message, message
    assert "got str 'eu'" in message
    with pytest.raises(ArgsError) as caught:
        eu_args(aws_account_id=123456789012)
    assert "expected a str, got int" in problems(caught.value)["aws_account_id"]


def test_every_missing_required_field_is_named_with_its_fix() -> None:
    fields = {f.name: getattr(eu_args(), f.name) for f in dataclasses.fields(eu_args())}
    del fields["aws_region"], fields["token_name"]
    with pytest.raises(ArgsError) as caught:
        SovereignVideoRegionArgs(**fields)
    found = problems(caught.value)
    assert set(found) == {"aws_region", "token_name"}, found
    assert "is required: an AWS region that fits the jurisdiction" in found["aws_region"]
    assert "e.g. aws_region='eu-central-1'" in found["aws_region"]


def test_a_known_region_outside_the_jurisdiction_is_refused_before_anything_is_created() -> None:
    def program() -> None:
        SovereignVideoRegion("eu", eu_args(aws_region="us-east-1"))

    with pytest.raises(Exception) as caught:
        run(program)
    assert "aws_region: 'us-east-1' is not allowed for jurisdiction 'eu'" in str(caught.value)
    assert "use an EU region" in str(caught.value)


def test_nothing_is_created_when_the_args_are_wrong() -> None:
    def program() -> None:
        with contextlib.suppress(ArgsError):
            SovereignVideoRegion("eu", eu_args(aws_region="us-east-1"))

    recorder = run(program)
    assert created(recorder) == []


def test_a_part_of_another_jurisdiction_is_a_border_crossing() -> None:
    delivery = dataclasses.replace(eu_args().delivery, jurisdiction=Jurisdiction.DEFAULT)
    with pytest.raises(ArgsError) as caught:
        eu_args(delivery=delivery)
    assert "jurisdiction=Jurisdiction.EU" in problems(caught.value)["delivery.jurisdiction"]


def _provider_region_error(region: str) -> str:
    def program() -> None:
        provider = aws.Provider("theirs", region=region, allowed_account_ids=["123456789012"])
        SovereignVideoRegion("eu", eu_args(aws_provider=provider))

    with pytest.raises(Exception) as caught:
        run(program)
    return str(caught.value)


def test_a_provider_resolving_outside_the_jurisdiction_fails_with_the_known_value_text() -> None:
    with pytest.raises(ArgsError) as known:
        eu_args(aws_region="us-east-1")
    later = _provider_region_error("us-east-1")
    assert "aws_provider.region" in later
    assert problems(known.value)["aws_region"] in later, later


def test_a_provider_in_the_jurisdiction_plans() -> None:
    def program() -> None:
        provider = aws.Provider("theirs", region="eu-central-1")
        SovereignVideoRegion("eu", eu_args(aws_provider=provider))

    recorder = run(program)
    assert "eu-aws" not in created(recorder)  # the consumer's provider serves the region


def test_a_zone_id_output_is_checked_when_it_resolves_with_the_known_value_text() -> None:
    with pytest.raises(ArgsError) as known:
        eu_args(zone_id="not-a-zone")
    expected = problems(known.value)["zone_id"]

    def program() -> None:
        # The mocks give a resource the id "<name>-id": not a Cloudflare zone id.
        zone = cloudflare.Zone("theirs", account={"id": ACCOUNT}, name="example.eu")
        SovereignVideoRegion("eu", eu_args(zone_id=zone.id))

    with pytest.raises(Exception) as caught:
        run(program)
    assert f"zone_id: {expected}" in str(caught.value), str(caught.value)


def test_a_zone_id_output_that_is_right_plans() -> None:
    def program() -> None:
        zone_id = pulumi.Output.from_input(ZONE)
        SovereignVideoRegion("eu", eu_args(zone_id=zone_id))

    recorder = run(program)
    domains = [r for r in recorder.registered if r.type.endswith("r2CustomDomain:R2CustomDomain")]
    assert domains


def test_two_regions_with_one_name_fail_before_the_second_creates_anything() -> None:
    def program() -> None:
        SovereignVideoRegion("eu", eu_args())
        SovereignVideoRegion("eu", eu_args())

    with pytest.raises(Exception) as caught:
        run(program)
    text = str(caught.value)
    assert "name: 'eu' is the name of another region of this program" in text, text
    assert "give each region its own" in text
    # The second region refused itself before registering itself or any part: no name twice.
    names = created(_LAST[0])
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_two_regions_with_their_own_names_plan() -> None:
    def program() -> None:
        SovereignVideoRegion("eu", eu_args())
        second = dataclasses.replace(
            eu_args(),
            delivery=dataclasses.replace(eu_args().delivery, bucket_name="acme-eu2-delivery"),
        )
        SovereignVideoRegion("eu-2", second)

    recorder = run(program)
    names = created(recorder)
    assert "eu-delivery" in names and "eu-2-delivery" in names
    assert len(names) == len(set(names))


def test_a_region_with_sippy_registers_the_migrations_outputs() -> None:
    """SippyMigration registered ``{}`` before 0.2.0; now its reader and bucket."""
    sippy = SippyMigrationArgs(
        account_id=ACCOUNT,
        jurisdiction=Jurisdiction.EU,
        bucket_name="acme-eu-delivery",
        source_bucket="acme-legacy-renditions",
        source_region="eu-west-1",
        stack_region="eu-central-1",
        user_name="acme-eu-sippy",
    )
    recorder = run(lambda: SovereignVideoRegion("eu", eu_args(sippy=sippy)))
    (urn,) = [u for u in recorder.outputs if u.endswith("SippyMigration::eu-migration")]
    outputs = recorder.outputs[urn]
    assert outputs.get("reader_user_name") == "acme-eu-sippy", outputs
    assert outputs.get("bucket_name") == "acme-eu-delivery", outputs


def test_a_required_field_without_a_fix_is_refused_when_the_class_is_made() -> None:
    from infra.components.validation import names_missing_fields

    with pytest.raises(TypeError, match="no fix given for size"):

        @names_missing_fields("Args", {"name": "a name"})
        @dataclasses.dataclass(frozen=True, kw_only=True)
        class Args:
            name: str
            size: int
