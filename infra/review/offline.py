"""Run the real Pulumi program without a cloud, the CLI or credentials, and record what it asks for.

Pulumi's mocks (``pulumi.runtime.set_mocks``) stand in for the engine; the mocks here answer
the way the providers would for the values the program reads back (ids, ARNs, the partition of
the provider's region). A recording monitor keeps each registration's options (parent,
provider, protect, retain) that the mocks API does not pass on, and secrets stay masked.

References: https://www.pulumi.com/docs/iac/guides/testing/unit/
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import runpy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from infra.residency import dns_suffix_of, partition_of
from infra.settings import PROJECT
from infra.stack_config import PROJECT_ROOT, SECRET

__all__ = ["SECRET", "UNKNOWN", "OfflineMocks", "PlannedResource", "Synthesis", "synthesize"]

PROGRAM = Path(__file__).resolve().parents[1] / "__main__.py"
UNKNOWN = "[unknown]"

# Signatures of Pulumi's wire format (sdk/python/lib/pulumi/runtime/rpc.py).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
_ASSET_SIGS = {
    "c44067f5952c0a294b673a41bacd8c17": "asset",
    "0def7320c3a5731c473e5ecbe6d01bc7": "archive",
}

# Documentation-range stand-ins for values only a real cloud knows.
FAKE_AWS_ACCOUNT = "123456789012"
# The coordinator's R2 token (infra/components/r2_credentials.py): what the mocks answer for
# AccountToken.value. Tests plan with it and assert that neither it nor its SHA-256 (the derived
# S3 secret key) shows anywhere in a plan.
FAKE_R2_TOKEN_VALUE = "fake-r2-token-value-0123456789abcdefghijklmnopqrstuv"
FAKE_AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
FAKE_AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # AWS docs example
# Cloudflare permission groups by name, with made-up ids (the real ones come from the API).
FAKE_PERMISSION_GROUPS = {
    "Workers R2 Storage Bucket Item Read": "00000000000000000000000000000001",
    "Workers R2 Storage Bucket Item Write": "00000000000000000000000000000002",
}


@dataclass(frozen=True)
class PlannedResource:
    """One resource registration, as the engine would have received it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    provider: str | None
    protect: bool
    retain_on_delete: bool
    depends_on: tuple[str, ...]
    inputs: dict[str, Any]
    aliases: tuple[str, ...] = ()
    """The old URNs this resource answers to (``ResourceOptions.aliases``): a rename, not a
    delete plus a create."""

    def to_json(self) -> dict[str, Any]:
        # Only when set, so plans of programs without aliases keep their bytes.
        extra: dict[str, Any] = {"aliases": list(self.aliases)} if self.aliases else {}
        return extra | {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "custom": self.custom,
            "parent": self.parent,
            "provider": self.provider,
            "protect": self.protect,
            "retain_on_delete": self.retain_on_delete,
            "depends_on": list(self.depends_on),
            "inputs": self.inputs,
        }


@dataclass
class Synthesis:
    """Everything one run of the program registered and exported."""

    project: str
    stack: str
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    """What the program logged with ``pulumi.log.warn`` (``pulumi up`` prints these too)."""

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def by_urn(self, urn: str) -> PlannedResource:
        return next(r for r in self.resources if r.urn == urn)


def _plain(value: Any) -> Any:
    """Turn a deserialized wire value into plain JSON, masking secrets and unknowns."""
    if isinstance(value, dict):
        sig = value.get(_SIG_KEY)
        if sig == _SECRET_SIG:
            return SECRET
        if sig in _ASSET_SIGS:
            return {_ASSET_SIGS[sig]: _asset_location(value)}
        if sig == _RESOURCE_SIG:
            return value.get("urn")
        if sig == _OUTPUT_SIG:
            if value.get("secret"):
                return SECRET
            return _plain(value["value"]) if "value" in value else UNKNOWN
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value == _UNKNOWN_VALUE:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Struct stores every number as a double
    return value


def _asset_location(value: dict[str, Any]) -> str:
    """A file asset or archive's path relative to the project (the same on every checkout)."""
    if "path" not in value:
        return str(value.get("uri") or "[inline]")
    path = Path(value["path"]).resolve()
    if path.is_relative_to(PROJECT_ROOT):
        return path.relative_to(PROJECT_ROOT).as_posix()
    return str(value["path"])


def _strip_id(provider_ref: str) -> str | None:
    # A provider reference is "<urn>::<id>"; the id is the mock's, the URN is what matters.
    return provider_ref.rsplit("::", 1)[0] if provider_ref else None


def _provider_inputs(type_token: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Provider inputs travel JSON-encoded; decode them so the plan shows structure."""
    if not type_token.startswith("pulumi:providers:"):
        return inputs
    decoded = {}
    for key, value in inputs.items():
        if isinstance(value, str) and value[:1] in "[{":
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        decoded[key] = value
    return decoded


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[PlannedResource] = []

    def _alias_urns(self, request: Any) -> tuple[str, ...]:
        """The URNs of ``request.aliases`` in the same scheme as this monitor's own URNs
        (``MockMonitor.make_urn``), so an alias can be matched against the base plan's URNs.
        An alias spec leaves out what stays the same (pulumi/pulumi proto/pulumi/alias.proto)."""
        urns = set()
        for alias in request.aliases:
            if alias.WhichOneof("alias") == "urn":
                urns.add(alias.urn)
                continue
            spec = alias.spec
            # No parent means a child of the stack; make_urn reads only the parent's type.
            stack_root = "urn:pulumi:stack::project::pulumi:pulumi:Stack::root"
            parent = stack_root if spec.noParent else (spec.parentUrn or request.parent)
            urn = self.make_urn(parent, spec.type or request.type, spec.name or request.name)
            if spec.stack or spec.project:
                # "urn:pulumi:<stack>::<project>::<type>::<name>"
                scope, project, rest = urn.split("::", 2)
                stack = spec.stack or scope.removeprefix("urn:pulumi:")
                urn = f"urn:pulumi:{stack}::{spec.project or project}::{rest}"
            urns.add(urn)
        return tuple(sorted(urns))

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                PlannedResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=request.custom,
                    parent=request.parent or None,
                    provider=_strip_id(request.provider),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    depends_on=tuple(sorted(request.dependencies)),
                    aliases=self._alias_urns(request),
                    inputs=_provider_inputs(
                        request.type, _plain(json_format.MessageToDict(request.object))
                    ),
                )
            )
        return response


def _fake_id(name: str, length: int = 32) -> str:
    return hashlib.shake_256(name.encode()).hexdigest(length // 2)


def _coordinator_outputs(
    typ: str, name: str, inputs: dict[str, Any], region: str, account: str
) -> tuple[str, dict[str, Any]] | None:
    """What AWS, Cloudflare and random compute for the coordinator's resources (fake values:
    documentation-range account, made-up ids, stand-in keys), or None for other types."""
    partition = partition_of(region)
    suffix = dns_suffix_of(region)
    if typ == "aws:iam/role:Role":
        role = inputs.get("name") or name
        return role, {"name": role, "arn": f"arn:{partition}:iam::{account}:role/{role}"}
    if typ == "aws:secretsmanager/secret:Secret":
        # Secrets Manager appends six random characters to the name in the ARN.
        secret = inputs.get("name") or name
        arn = f"arn:{partition}:secretsmanager:{region}:{account}:secret:{secret}-AbCdEf"
        return arn, {"name": secret, "arn": arn}
    if typ == "aws:secretsmanager/secretVersion:SecretVersion":
        version = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        secret_arn = inputs.get("secretId")
        return f"{secret_arn}|{version}", {"versionId": version, "arn": secret_arn}
    if typ == "aws:cloudwatch/logGroup:LogGroup":
        group = inputs.get("name") or name
        return group, {"arn": f"arn:{partition}:logs:{region}:{account}:log-group:{group}"}
    if typ == "aws:lambda/function:Function":
        function = inputs.get("name") or name
        arn = f"arn:{partition}:lambda:{region}:{account}:function:{function}"
        path = f"path/2015-03-31/functions/{arn}/invocations"
        invoke = f"arn:{partition}:apigateway:{region}:lambda:{path}"
        return function, {"arn": arn, "invokeArn": invoke, "qualifiedArn": f"{arn}:$LATEST"}
    if typ == "aws:lambda/functionUrl:FunctionUrl":
        url_id = _fake_id(name)
        url = f"https://{url_id}.lambda-url.{region}.on.aws/"
        return url_id, {"urlId": url_id, "functionUrl": url}
    if typ == "aws:apigatewayv2/api:Api":
        api_id = _fake_id(name, 10)
        return api_id, {
            "apiEndpoint": f"https://{api_id}.execute-api.{region}.{suffix}",
            "executionArn": f"arn:{partition}:execute-api:{region}:{account}:{api_id}",
        }
    if typ == "cloudflare:index/accountToken:AccountToken":
        return _fake_id(name), {"value": FAKE_R2_TOKEN_VALUE, "status": "active"}
    if typ == "random:index/randomPassword:RandomPassword":
        # A stand-in of the asked length (the SDK marks result secret, and so does the program).
        length = int(inputs.get("length", 32))
        return name, {"result": hashlib.shake_256(name.encode()).hexdigest(length)[:length]}
    return None


class OfflineMocks(pulumi.runtime.Mocks):
    """Answers like the providers for what the program reads back; everything else echoes inputs."""

    def __init__(self) -> None:
        self._aws_providers: dict[str, dict[str, Any]] = {}

    def _aws(self, provider_ref: str | None) -> tuple[str, str]:
        inputs = self._aws_providers.get((provider_ref or "").rsplit("::", 1)[-1], {})
        region = inputs.get("region", "us-east-1")
        accounts = inputs.get("allowedAccountIds") or [FAKE_AWS_ACCOUNT]
        if isinstance(accounts, str):  # provider inputs travel JSON-encoded
            accounts = json.loads(accounts)
        return region, accounts[0]

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        resource_id = f"{args.name}-id"
        computed = _coordinator_outputs(args.typ, args.name, inputs, *self._aws(args.provider))
        if computed is not None:
            resource_id, outputs = computed
            return resource_id, inputs | outputs
        if args.typ == "pulumi:providers:aws":
            self._aws_providers[resource_id] = inputs
        elif args.typ == "aws:s3/bucket:Bucket":
            region, _ = self._aws(args.provider)
            resource_id = inputs.get("bucket") or args.name
            inputs |= {
                "bucket": resource_id,
                "arn": f"arn:{partition_of(region)}:s3:::{resource_id}",
                "region": region,
            }
        elif args.typ == "aws:kms/key:Key":
            region, account = self._aws(args.provider)
            resource_id = str(uuid.uuid5(uuid.NAMESPACE_URL, args.name))
            inputs |= {
                "keyId": resource_id,
                "arn": f"arn:{partition_of(region)}:kms:{region}:{account}:key/{resource_id}",
            }
        elif args.typ == "aws:sns/topic:Topic":
            region, account = self._aws(args.provider)
            topic = inputs.get("name") or args.name
            inputs |= {"arn": f"arn:{partition_of(region)}:sns:{region}:{account}:{topic}"}
        elif args.typ == "aws:iam/accessKey:AccessKey":
            # AWS's documented example key pair: recognisable if it ever leaks into a plan.
            resource_id = FAKE_AWS_ACCESS_KEY_ID
            inputs |= {"secret": FAKE_AWS_SECRET_ACCESS_KEY, "status": "Active"}
        elif args.typ == "random:index/randomBytes:RandomBytes":
            # Stable stand-in bytes (the SDK marks hex and base64 secret, so they stay masked).
            fake = hashlib.shake_256(args.name.encode()).digest(int(inputs.get("length", 32)))
            inputs |= {"hex": fake.hex(), "base64": base64.b64encode(fake).decode("ascii")}
        return resource_id, inputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "aws:index/getPartition:getPartition":
            region, _ = self._aws(args.provider)
            partition = partition_of(region)
            suffix = dns_suffix_of(region)
            return {"id": partition, "partition": partition, "dnsSuffix": suffix}, []
        if args.token == (
            "cloudflare:index/getAccountApiTokenPermissionGroupsList"
            ":getAccountApiTokenPermissionGroupsList"
        ):
            # The API filters by URL-encoded name; answer like it, with the made-up ids.
            wanted = unquote(str(args.args.get("name") or ""))
            results = [
                {
                    "id": group_id,
                    "name": name,
                    "category": "developer_platform",
                    "isSelectable": True,
                    "scopes": ["com.cloudflare.edge.r2.bucket"],
                }
                for name, group_id in sorted(FAKE_PERMISSION_GROUPS.items())
                if not wanted or name == wanted
            ]
            return {**args.args, "results": results}, []
        raise NotImplementedError(f"the offline plan has no answer for invoke {args.token}")


def _resolve(value: Any) -> Any:
    """Resolve an exported value (plain or Output) to plain JSON, masking secrets."""
    output = pulumi.Output.from_input(value)

    async def settle() -> Any:
        if await output.is_secret():
            return SECRET
        if not await output.is_known():
            return UNKNOWN
        return await output.future()

    return _plain(_sync_await(settle()))


class _WarningLog(logging.Handler):
    """Collects what the program logs at warning level or above (the mocks' engine logs to a
    ``logging.Logger``); a logger of its own per run, so runs do not see each other's."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.logger = logging.getLogger(f"{__name__}.{uuid.uuid4().hex}")
        self.logger.propagate = False
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def synthesize(
    stack: str,
    config: Mapping[str, str],
    *,
    secret_keys: list[str] | None = None,
    project: str = PROJECT,
) -> Synthesis:
    """Run ``infra/__main__.py`` under mocks with ``config`` (``"ns:key" -> str``)."""
    # set_mocks creates the root Stack, whose outputs are futures of this thread's event loop:
    # make sure there is one (an asyncio.run() earlier in the thread leaves none behind).
    _ensure_event_loop()
    pulumi_settings.reset_options(project=project, stack=stack)
    pulumi.runtime.set_all_config(dict(config), secret_keys or [])
    mocks = OfflineMocks()
    monitor = _RecordingMonitor(mocks)
    warnings = _WarningLog()
    pulumi.runtime.set_mocks(
        mocks, project=project, stack=stack, preview=False, monitor=monitor, logger=warnings.logger
    )

    def program() -> None:
        runpy.run_path(str(PROGRAM), run_name="__main__")

    _sync_await(run_pulumi_func(program))
    root = pulumi_settings.get_root_resource()
    exported: dict[str, Any] = getattr(root, "outputs", {})
    return Synthesis(
        project=project,
        stack=stack,
        resources=sorted(monitor.registrations, key=lambda r: r.urn),
        outputs={name: _resolve(value) for name, value in sorted(exported.items())},
        warnings=warnings.messages,
    )
