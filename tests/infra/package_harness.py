"""Plan a Pulumi program under Pulumi's mocks, in a venv that has only the r2-video wheel.

Run by tests/infra/test_package.py as ``VENV/bin/python -I package_harness.py PROGRAM OUT CHECKOUT``
from a temporary folder, after copying this file there: it imports nothing from the checkout
(and refuses to run if the checkout is on ``sys.path``, or if ``r2_video`` or ``coordinator``
come from anywhere but the venv). It writes the registrations in the shape of
``python -m infra.cli plan --format json`` (urn, type, name, parent, provider, inputs), which
the test judges with the repository's own residency statement.

The answers below are what the components read back (ids, ARNs, the token value, keys); every
other output echoes the inputs. Fake values from documentation ranges.
"""

import hashlib
import json
import runpy
import sys
from pathlib import Path
from typing import Any

program, out, checkout, venv = (Path(a).resolve() for a in sys.argv[1:5])
if any(Path(p or ".").resolve() == checkout for p in sys.path):
    raise SystemExit(f"the checkout {checkout} is on sys.path: {sys.path}")

import pulumi  # noqa: E402
import r2_video  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from pulumi.runtime import mocks  # noqa: E402
from pulumi.runtime.stack import run_pulumi_func  # noqa: E402
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await  # noqa: E402
from r2_video.residency import dns_suffix_of, partition_of  # noqa: E402

import coordinator  # noqa: E402

for module in (r2_video, coordinator):
    where = Path(module.__file__ or "").resolve()
    if not where.is_relative_to(venv):
        raise SystemExit(f"{module.__name__} comes from {where}, not from the venv {venv}")

SECRET, UNKNOWN = "[secret]", "[unknown]"
_SIG = "4dabf18193072939515e22adb298388d"  # sdk/python/lib/pulumi/runtime/rpc.py
_SECRET_SIG, _OUTPUT_SIG = "1b47061264138c4ac30d75fd1eb44270", "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG or (sig == _OUTPUT_SIG and value.get("secret")):
            return SECRET
        if sig == _OUTPUT_SIG:
            return plain(value["value"]) if "value" in value else UNKNOWN
        if sig == _RESOURCE_SIG:
            return value.get("urn")
        if sig is not None:
            return f"[{sig}]"
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if value == _UNKNOWN_VALUE:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def fake(name: str, length: int = 32) -> str:
    return hashlib.shake_256(name.encode()).hexdigest(length // 2)


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.aws: dict[str, dict[str, Any]] = {}

    def _region(self, provider: str | None) -> tuple[str, str, str]:
        inputs = self.aws.get((provider or "").rsplit("::", 1)[-1], {})
        region = inputs.get("region", "us-east-1")
        accounts = inputs.get("allowedAccountIds") or '["123456789012"]'
        account = (json.loads(accounts) if isinstance(accounts, str) else accounts)[0]
        return region, account, partition_of(region)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        rid = f"{args.name}-id"
        region, account, part = self._region(args.provider)
        name = inputs.get("name") or args.name
        extra: dict[str, Any] = {}
        if args.typ == "pulumi:providers:aws":
            self.aws[rid] = inputs
        elif args.typ == "cloudflare:index/zone:Zone":
            rid = fake(args.name)
        elif args.typ == "aws:s3/bucket:Bucket":
            rid = inputs.get("bucket") or args.name
            extra = {"bucket": rid, "arn": f"arn:{part}:s3:::{rid}", "region": region}
        elif args.typ == "aws:kms/key:Key":
            extra = {"arn": f"arn:{part}:kms:{region}:{account}:key/{fake(args.name)}"}
        elif args.typ in ("aws:sns/topic:Topic", "aws:iam/role:Role"):
            service = "sns" if "sns" in args.typ else "iam"
            extra = {"name": name, "arn": f"arn:{part}:{service}:{region}:{account}:{name}"}
        elif args.typ == "aws:secretsmanager/secret:Secret":
            extra = {"arn": f"arn:{part}:secretsmanager:{region}:{account}:secret:{name}-AbCdEf"}
        elif args.typ == "aws:lambda/function:Function":
            arn = f"arn:{part}:lambda:{region}:{account}:function:{name}"
            extra = {"arn": arn, "invokeArn": f"{arn}/invocations", "qualifiedArn": arn}
        elif args.typ == "aws:lambda/functionUrl:FunctionUrl":
            extra = {"functionUrl": f"https://{fake(args.name)}.lambda-url.{region}.on.aws/"}
        elif args.typ == "aws:apigatewayv2/api:Api":
            extra = {
                "apiEndpoint": f"https://{fake(args.name, 10)}.execute-api.{region}."
                + dns_suffix_of(region),
                "executionArn": f"arn:{part}:execute-api:{region}:{account}:{fake(args.name, 10)}",
            }
        elif args.typ == "cloudflare:index/accountToken:AccountToken":
            extra = {"value": "fake-r2-token-value-" + fake(args.name), "status": "active"}
        elif args.typ == "random:index/randomPassword:RandomPassword":
            extra = {"result": fake(args.name, 64)[: int(inputs.get("length", 32))]}
        elif args.typ == "random:index/randomBytes:RandomBytes":
            raw = hashlib.shake_256(args.name.encode()).digest(int(inputs.get("length", 32)))
            extra = {"hex": raw.hex(), "base64": raw.hex()}
        elif args.typ == "aws:iam/accessKey:AccessKey":
            extra = {"secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
        return rid, inputs | extra

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        if args.token == "aws:index/getPartition:getPartition":
            region, _, part = self._region(args.provider)
            return {"id": part, "partition": part, "dnsSuffix": dns_suffix_of(region)}, []
        if "getAccountApiTokenPermissionGroupsList" in args.token:
            wanted = str(args.args.get("name") or "").replace("%20", " ")
            groups = {
                "Workers R2 Storage Bucket Item Read": "00000000000000000000000000000001",
                "Workers R2 Storage Bucket Item Write": "00000000000000000000000000000002",
            }
            results = [
                {"id": gid, "name": n, "scopes": ["com.cloudflare.edge.r2.bucket"]}
                for n, gid in groups.items()
                if not wanted or n == wanted
            ]
            return {**args.args, "results": results}, []
        raise NotImplementedError(args.token)


class Monitor(mocks.MockMonitor):
    def __init__(self, m: Mocks) -> None:
        super().__init__(m)
        self.recorded: list[dict[str, Any]] = []

    def RegisterResource(self, request: Any) -> Any:  # the gRPC method's name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = plain(json_format.MessageToDict(request.object))
            if request.type.startswith("pulumi:providers:"):
                inputs = {
                    k: json.loads(v) if isinstance(v, str) and v[:1] in "[{" else v
                    for k, v in inputs.items()
                }
            self.recorded.append(
                {
                    "urn": response.urn,
                    "type": request.type,
                    "name": request.name,
                    "parent": request.parent or None,
                    "provider": request.provider.rsplit("::", 1)[0] or None,
                    "protect": bool(request.protect),
                    "retain_on_delete": bool(request.retainOnDelete),
                    "inputs": inputs,
                }
            )
        return response


_ensure_event_loop()
m = Mocks()
monitor = Monitor(m)
pulumi.runtime.set_mocks(m, project="acme-video", stack="eu", preview=False, monitor=monitor)
_sync_await(run_pulumi_func(lambda: runpy.run_path(str(program), run_name="__main__")))
root = pulumi.runtime.get_root_resource()
outputs = {}
for key, value in sorted(getattr(root, "outputs", {}).items()):
    output = pulumi.Output.from_input(value)
    secret = _sync_await(output.is_secret())
    outputs[key] = SECRET if secret else _sync_await(output.future())
package = r2_video.coordinator_package()
out.write_text(
    json.dumps(
        {
            "stack": "eu",
            "resources": sorted(monitor.recorded, key=lambda r: r["urn"]),
            "outputs": outputs,
            "modules": {"r2_video": r2_video.__file__, "coordinator": coordinator.__file__},
            "version": r2_video.__version__,
            "lambda_zip": {"path": str(package.path), "digest": package.digest},
        },
        indent=2,
        sort_keys=True,
        default=str,
    ),
    encoding="utf-8",
)
