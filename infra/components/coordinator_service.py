"""CoordinatorService: the presigning broker on AWS Lambda, next to the data it signs for.

What it creates, all in the stack's region through the parent's AWS provider:

* a **Lambda function** (``coordinator.lambda_handler.handler``, Python 3.13, arm64) from the
  deterministic zip of ``infra/components/package.py``;
* an **HTTPS entry point**: a Lambda function URL where the region offers one, an API Gateway
  HTTP API where it does not (``function_urls_available``: GovCloud, and a few commercial
  regions such as eu-south-2) or where no source we can read says it does (the AWS European
  Sovereign Cloud: botocore lists its ``apigateway`` endpoint, nothing lists function URLs);
* a **log group** ``/aws/lambda/<function>`` with a retention, created before the function so
  Lambda never creates one that keeps logs forever;
* an **IAM role** allowed exactly: ``s3:GetObject`` on the mezzanine's objects, ``kms:Decrypt``
  on the mezzanine key through S3 (SSE-KMS only), ``secretsmanager:GetSecretValue`` on its own
  secret, and writing its own log streams;
* **one Secrets Manager secret** with the admin key, the worker-token keys (``pulumi_random``),
  the R2 keys (``infra/components/r2_credentials.py``) and, when edge delivery signs URLs, the
  playback key. The function's environment holds only the secret's ARN and version, never a value.

References: https://docs.aws.amazon.com/lambda/latest/dg/lambda-urls.html ,
https://docs.aws.amazon.com/govcloud-us/latest/UserGuide/govcloud-lambda.html ,
https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html ,
https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from coordinator.endpoints import Jurisdiction, is_account_id

from .alarms import is_sns_topic_arn
from .package import LambdaPackage
from .residency import is_region_name, partition_of, service_principal
from .validation import Problems, is_s3_bucket_name

__all__ = [
    "FUNCTION_URL_UNSUPPORTED_REGIONS",
    "LAMBDA_ARCHITECTURE",
    "LAMBDA_RUNTIME",
    "LOG_RETENTION_DAYS",
    "CoordinatorService",
    "CoordinatorServiceArgs",
    "CoordinatorSettings",
    "assume_role_policy",
    "default_function_name",
    "function_urls_available",
    "role_policy",
]

HANDLER = "coordinator.lambda_handler.handler"
# The newest Python runtime AWS announced for every region including GovCloud (what's new,
# 2024-11: "AWS Lambda now supports Python 3.13"). python3.14 exists in pulumi-aws 7.51.1's enum,
# but GovCloud lags new runtimes (python3.12 arrived there late): not one we can promise.
LAMBDA_RUNTIME = "python3.13"
# Graviton: cheaper per GB-second than x86_64. The zip is pure Python (infra/components/package.py
# checks), so the architecture is a one-word change.
LAMBDA_ARCHITECTURE = "arm64"
# Presigning is local CPU work (~15 us a URL, a 1,000-part multipart plan ~15 ms); what takes
# time is the cold start (imports ~90 ms at a full vCPU) and the first boto3 client (~160 ms).
# Lambda gives CPU in proportion to memory (a full vCPU at 1,769 MB); 512 MB gets about 0.3 vCPU,
# a cold start well under a second, and costs the same per request as less memory that runs
# longer. The memory itself is barely used (the package is 2 MB).
DEFAULT_MEMORY_MB = 512
# The slowest request is a multipart complete or a job's HEAD on a slow store: boto3 is set to
# 3 s connect, 15 s read (coordinator/s3client.py). 20 s lets one such call finish and stays
# under API Gateway's 30 s integration limit, so the gateway never answers before the function.
TIMEOUT_SECONDS = 20
DEFAULT_RESERVED_CONCURRENCY = 50
DEFAULT_LOG_RETENTION_DAYS = 30
# What CloudWatch Logs accepts (PutRetentionPolicy); 0, "never expire", is refused here.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip
# 64 characters from [A-Za-z0-9]: ~380 bits, more than HS256's 256-bit key needs, and safe in
# JSON, headers and shells. Requirement: 48 or more.
KEY_LENGTH = 64
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")

# Lambda function URLs are not offered in these regions ("Function URLs are not supported in
# the following AWS Regions", docs.aws.amazon.com/lambda/latest/dg/urls-configuration.html, as of
# 2026) nor anywhere in GovCloud ("AWS Lambda Function URLs is not available",
# docs.aws.amazon.com/govcloud-us/latest/UserGuide/govcloud-lambda.html). The one place this rule
# is written; `function_urls_available` applies it.
FUNCTION_URL_UNSUPPORTED_REGIONS = frozenset(
    {
        "ap-east-2",
        "ap-south-2",
        "ap-southeast-4",
        "ap-southeast-5",
        "ap-southeast-6",
        "ap-southeast-7",
        "ca-west-1",
        "eu-central-2",
        "eu-south-2",
        "il-central-1",
        "me-central-1",
    }
)


def default_function_name(stack: str) -> str:
    """``r2-video-<stack>-coordinator``, with what Lambda refuses in a name turned into '-'."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"r2-video-{stack}-coordinator")


def function_urls_available(region: str) -> bool:
    """True where Lambda function URLs exist: commercial partition, outside the list above.

    Every other partition answers False: GovCloud by its documentation, aws-eusc (the European
    Sovereign Cloud) because no source we can read confirms function URLs there, while
    botocore's endpoints.json lists ``apigateway`` (HTTP APIs' endpoint prefix) in
    eusc-de-east-1. An HTTP API is the path we can source.
    """
    return partition_of(region) == "aws" and region not in FUNCTION_URL_UNSUPPORTED_REGIONS


@dataclass(frozen=True, kw_only=True, slots=True)
class CoordinatorSettings:
    """The coordinator's deployment choices from the stack config; validated on construction."""

    function_name: str
    """Lambda function name (also names its log group); changing it replaces the function."""
    memory_mb: int = DEFAULT_MEMORY_MB
    """Memory, and so CPU: 128-10240 MB."""
    reserved_concurrency: int = DEFAULT_RESERVED_CONCURRENCY
    """Concurrent executions reserved for (and capping) the coordinator."""
    log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS
    """How long CloudWatch keeps the function's logs (a value CloudWatch accepts)."""
    token_key_ids: tuple[str, ...] = ("k1",)
    """Worker-token key ids; each gets a random key, the last one signs (rotation)."""
    alarm_topic_arn: str | None = None
    """SNS topic the coordinator's alarms notify (None: the stack makes one to subscribe to)."""

    def __post_init__(self) -> None:
        problems = Problems("CoordinatorSettings")
        problems.check(
            _FUNCTION_NAME.fullmatch(self.function_name) is not None,
            "function_name",
            f"{self.function_name!r} must be 1-64 letters, digits, hyphens or underscores",
        )
        problems.check(
            128 <= self.memory_mb <= 10_240, "memory_mb", "must be between 128 and 10240 (MB)"
        )
        problems.check(
            1 <= self.reserved_concurrency <= 10_000,
            "reserved_concurrency",
            "must be between 1 and 10000 (and leave the account 100 unreserved)",
        )
        problems.check(
            self.log_retention_days in LOG_RETENTION_DAYS,
            "log_retention_days",
            f"{self.log_retention_days} is not a CloudWatch retention; use one of"
            f" {', '.join(map(str, LOG_RETENTION_DAYS))}",
        )
        if not self.token_key_ids:
            problems.add("token_key_ids", "needs at least one key id")
        for kid in self.token_key_ids:
            problems.check(
                _KEY_ID.fullmatch(kid) is not None,
                "token_key_ids",
                f"{kid!r} must be 1-32 letters, digits, '.', '_' or '-'",
            )
        if len(set(self.token_key_ids)) != len(self.token_key_ids):
            problems.add("token_key_ids", "lists a key id twice")
        if self.alarm_topic_arn is not None:
            problems.check(
                is_sns_topic_arn(self.alarm_topic_arn),
                "alarm_topic_arn",
                f"{self.alarm_topic_arn!r} is not an SNS topic ARN",
            )
        problems.raise_if_any()

    @property
    def signing_kid(self) -> str:
        return self.token_key_ids[-1]


@dataclass(frozen=True, kw_only=True, slots=True)
class CoordinatorServiceArgs:
    """Everything a CoordinatorService needs; validated on construction."""

    settings: CoordinatorSettings
    """Deployment choices from the stack config."""
    package: LambdaPackage
    """The built Lambda zip (``infra.components.package.coordinator_package()``)."""
    region: str
    """AWS region of the stack (the provider's); decides function URL or HTTP API."""
    aws_account_id: str
    """AWS account of the stack, for ARNs and the role's trust condition."""
    r2_account_id: str
    """Cloudflare account of the delivery bucket."""
    jurisdiction: Jurisdiction
    """The delivery bucket's jurisdiction: decides the R2 endpoint the coordinator signs for."""
    delivery_bucket: pulumi.Input[str]
    """R2 bucket the coordinator presigns uploads into."""
    mezzanine_bucket: pulumi.Input[str]
    """S3 bucket the coordinator presigns reads from."""
    mezzanine_kms_key_arn: pulumi.Input[str | None] = None
    """The mezzanine's SSE-KMS key (None with SSE-S3): the role may decrypt with it via S3."""
    r2_access_key_id: pulumi.Input[str]
    """Bucket-scoped R2 S3 access key id (a secret)."""
    r2_secret_access_key: pulumi.Input[str]
    """Its secret access key (a secret)."""
    playback_hmac_key: pulumi.Input[str] | None = None
    """Key for signed delivery URLs (edge delivery), stored in the secret when given."""
    playback_token_ttl: pulumi.Input[int] | None = None
    """The signed-delivery rule's ttl; needed with ``playback_hmac_key``."""
    delivery_base_urls: tuple[str, ...] = ()
    """``https://host/`` of each delivery hostname (where playback URLs point)."""
    extra_environment: dict[str, str] = field(default_factory=dict)
    """More non-secret environment variables (e.g. a default URL lifetime)."""

    def __post_init__(self) -> None:
        problems = Problems("CoordinatorServiceArgs")
        problems.check(
            is_region_name(self.region), "region", "must be an AWS region name like eu-central-1"
        )
        problems.check(
            self.aws_account_id.isdigit() and len(self.aws_account_id) == 12,
            "aws_account_id",
            "must be 12 digits",
        )
        problems.check(
            is_account_id(self.r2_account_id),
            "r2_account_id",
            "must be 32 lowercase hex characters",
        )
        if isinstance(self.mezzanine_bucket, str):
            problems.check(
                is_s3_bucket_name(self.mezzanine_bucket), "mezzanine_bucket", "is not a bucket name"
            )
        problems.check(
            (self.playback_hmac_key is None) == (self.playback_token_ttl is None),
            "playback_token_ttl",
            "is needed with playback_hmac_key, and only with it",
        )
        for name in self.extra_environment:
            problems.check(
                name not in _ENVIRONMENT_SET_HERE and not name.startswith("AWS_"),
                "extra_environment",
                f"{name} is set by the component or reserved by Lambda",
            )
        problems.raise_if_any()


_ENVIRONMENT_SET_HERE = frozenset(
    {
        "COORDINATOR_SECRET_ARN",
        "COORDINATOR_SECRET_VERSION",
        "COORDINATOR_ADMIN_KEY",
        "COORDINATOR_TOKEN_KEYS",
        "COORDINATOR_TOKEN_SIGNING_KID",
        "R2_ACCESS_KEY_ID",
        "R2_SECRET_ACCESS_KEY",
        "R2_JURISDICTION",
        "R2_ACCOUNT_ID",
        "DELIVERY_BUCKET",
        "MEZZANINE_BUCKET",
        "COORDINATOR_PLAYBACK_HMAC_KEY",
        "COORDINATOR_PLAYBACK_TOKEN_TTL",
        "DELIVERY_BASE_URLS",
    }
)


def assume_role_policy(account_id: str, region: str = "us-east-1") -> str:
    """Only Lambda may assume the role, and only for functions of this account."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "LambdaOfThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": service_principal("lambda", region)},
                    "Action": "sts:AssumeRole",
                    # Confused-deputy guard: Lambda passes the function's account.
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                }
            ],
        },
        sort_keys=True,
    )


def role_policy(
    *,
    partition: str,
    dns_suffix: str,
    region: str,
    account_id: str,
    function_name: str,
    mezzanine_bucket: str,
    kms_key_arn: str | None,
    secret_arn: str,
) -> str:
    """The coordinator's permissions, and nothing more (see the module docstring)."""
    statements: list[dict[str, Any]] = [
        {
            # HEAD is authorized by s3:GetObject; no ListBucket: a HEAD of a missing key is a
            # 403 then, which the broker reads as "not found".
            "Sid": "ReadMezzanineObjects",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"arn:{partition}:s3:::{mezzanine_bucket}/*",
        }
    ]
    if kms_key_arn:
        statements.append(
            {
                # A presigned GET of an SSE-KMS object decrypts with the signer's permissions;
                # only through S3 in this region, never a direct Decrypt call.
                "Sid": "DecryptMezzanineThroughS3",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.{dns_suffix}"}},
            }
        )
    statements += [
        {
            "Sid": "ReadOwnSecret",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": secret_arn,
        },
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": (
                f"arn:{partition}:logs:{region}:{account_id}:log-group:/aws/lambda/"
                f"{function_name}:*"
            ),
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def _package_path(package: LambdaPackage) -> str:
    # Relative to the working directory, as Pulumi programs name their archives: the state
    # records this path, and an absolute one would differ between checkouts.
    return os.path.relpath(package.path)


class CoordinatorService(pulumi.ComponentResource):
    """The coordinator on Lambda: function, HTTPS endpoint, role, secret, logs."""

    url: pulumi.Output[str]
    admin_key: pulumi.Output[str]
    function_name: pulumi.Output[str]
    secret_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    endpoint_kind: pulumi.Output[str]

    def __init__(
        self, name: str, args: CoordinatorServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("r2-video:compute:CoordinatorService", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))

        # --- secrets: generated here, stored once, readable only by the function's role ---
        self.admin_key_password = random.RandomPassword(
            f"{name}-admin-key", length=KEY_LENGTH, special=False, opts=child
        )
        # One random key per kid, named by kid: adding a kid adds a key and leaves the others.
        token_keys = {
            kid: random.RandomPassword(
                f"{name}-token-key-{kid}", length=KEY_LENGTH, special=False, opts=child
            )
            for kid in settings.token_key_ids
        }
        self.secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            description=(
                f"r2-video coordinator {settings.function_name}: admin key, worker-token keys,"
                " R2 keys (JSON)"
            ),
            opts=child,
        )
        bundle = pulumi.Output.all(
            admin_key=self.admin_key_password.result,
            token_keys=pulumi.Output.all(**{k: p.result for k, p in token_keys.items()}),
            r2_access_key_id=args.r2_access_key_id,
            r2_secret_access_key=args.r2_secret_access_key,
            playback_hmac_key=args.playback_hmac_key,
        ).apply(lambda values: _bundle_json(values, settings.signing_kid))
        self.secret_version = aws.secretsmanager.SecretVersion(
            f"{name}-secret-value",
            secret_id=self.secret.id,
            secret_string=pulumi.Output.secret(bundle),
            opts=child,
        )

        # --- logs, role, function ---
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{settings.function_name}",
            retention_in_days=settings.log_retention_days,
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy(args.aws_account_id, args.region),
            description=f"Runs the r2-video coordinator {settings.function_name}",
            opts=child,
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-permissions",
            role=self.role.id,
            policy=pulumi.Output.all(
                partition=partition.partition,
                dns_suffix=partition.dns_suffix,
                mezzanine_bucket=args.mezzanine_bucket,
                kms_key_arn=args.mezzanine_kms_key_arn,
                secret_arn=self.secret.arn,
            ).apply(
                lambda v: role_policy(
                    region=args.region,
                    account_id=args.aws_account_id,
                    function_name=settings.function_name,
                    **v,
                )
            ),
            opts=child,
        )
        environment: dict[str, pulumi.Input[str]] = {
            **args.extra_environment,
            "COORDINATOR_SECRET_ARN": self.secret.arn,
            # The version deployed with: a new secret value changes the function's configuration,
            # so every instance restarts and reads it (secrets are read once per cold start).
            "COORDINATOR_SECRET_VERSION": self.secret_version.version_id,
            "R2_JURISDICTION": args.jurisdiction.value,
            "R2_ACCOUNT_ID": args.r2_account_id,
            "DELIVERY_BUCKET": args.delivery_bucket,
            "MEZZANINE_BUCKET": args.mezzanine_bucket,
            # AWS_REGION is set by Lambda itself (reserved): the function's region, the stack's.
        }
        if args.delivery_base_urls:
            environment["DELIVERY_BASE_URLS"] = ",".join(args.delivery_base_urls)
        if args.playback_token_ttl is not None:
            # The key itself travels in the secret; the rule's ttl is not a secret.
            environment["COORDINATOR_PLAYBACK_TOKEN_TTL"] = pulumi.Output.from_input(
                args.playback_token_ttl
            ).apply(str)
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=settings.function_name,
            description="r2-video presigning coordinator",
            role=self.role.arn,
            runtime=LAMBDA_RUNTIME,
            architectures=[LAMBDA_ARCHITECTURE],
            handler=HANDLER,
            code=pulumi.FileArchive(_package_path(args.package)),
            # A hash of the package's entries, not of the zip bytes: unchanged sources give the
            # same value on any machine, so `pulumi preview` shows no code change.
            source_code_hash=args.package.source_code_hash,
            memory_size=settings.memory_mb,
            timeout=TIMEOUT_SECONDS,
            reserved_concurrent_executions=settings.reserved_concurrency,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment),
            # The log group first (with its retention), and the permissions before the first
            # invocation can need them.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, self.role_policy]),
        )

        # --- the HTTPS entry point ---
        self.api_id: pulumi.Output[str] | None = None
        self.kind: Literal["function-url", "http-api"]
        if function_urls_available(args.region):
            self.url, kind = self._function_url(name), "function-url"
        else:
            self.url, kind = self._http_api(name, settings.function_name, args.region), "http-api"
        self.kind = kind

        self.admin_key = pulumi.Output.secret(self.admin_key_password.result)
        self.function_name = self.function.name
        self.secret_arn = self.secret.arn
        self.role_arn = self.role.arn
        self.endpoint_kind = pulumi.Output.from_input(kind)
        self.register_outputs(
            {
                "url": self.url,
                "admin_key": self.admin_key,
                "function_name": self.function_name,
                "secret_arn": self.secret_arn,
                "role_arn": self.role_arn,
                "endpoint_kind": self.endpoint_kind,
            }
        )

    def _function_url(self, name: str) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        # Auth type NONE: the coordinator authenticates every request itself (admin key or a
        # signed worker token; /healthz and /openapi.json are public by design). AWS_IAM would
        # make every worker and the control plane sign requests with AWS credentials, which
        # workers, by design, do not have.
        function_url = aws.lambda_.FunctionUrl(
            f"{name}-url",
            function_name=self.function.name,
            authorization_type="NONE",
            opts=child,
        )
        # Since October 2025 a public function URL needs both permissions in the function's
        # policy; InvokeFunction only through the URL (lambda-urls auth docs).
        aws.lambda_.Permission(
            f"{name}-url-invoke-url",
            function=self.function.name,
            action="lambda:InvokeFunctionUrl",
            principal="*",
            function_url_auth_type="NONE",
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-url-invoke",
            function=self.function.name,
            action="lambda:InvokeFunction",
            principal="*",
            invoked_via_function_url=True,
            opts=child,
        )
        return function_url.function_url

    def _http_api(self, name: str, function_name: str, region: str) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        # Same event shape as a function URL (payload 2.0), which the Lambda adapter reads alike.
        api = aws.apigatewayv2.Api(
            f"{name}-api",
            name=function_name,
            protocol_type="HTTP",
            description="r2-video coordinator (API Gateway: no Lambda function URLs here)",
            opts=child,
        )
        integration = aws.apigatewayv2.Integration(
            f"{name}-api-lambda",
            api_id=api.id,
            integration_type="AWS_PROXY",
            integration_uri=self.function.arn,
            payload_format_version="2.0",
            timeout_milliseconds=(TIMEOUT_SECONDS + 1) * 1000,
            opts=child,
        )
        route = aws.apigatewayv2.Route(
            f"{name}-api-route",
            api_id=api.id,
            route_key="$default",
            target=integration.id.apply(lambda i: f"integrations/{i}"),
            opts=child,
        )
        self.api_id = api.id
        aws.apigatewayv2.Stage(
            f"{name}-api-stage",
            api_id=api.id,
            name="$default",
            auto_deploy=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[route]),
        )
        aws.lambda_.Permission(
            f"{name}-api-invoke",
            function=self.function.name,
            action="lambda:InvokeFunction",
            principal=service_principal("apigateway", region),
            # Only this API, any stage and route.
            source_arn=api.execution_arn.apply(lambda arn: f"{arn}/*/*"),
            opts=child,
        )
        return api.api_endpoint.apply(lambda endpoint: endpoint.rstrip("/") + "/")


def _bundle_json(values: dict[str, Any], signing_kid: str) -> str:
    """The secret's JSON, in the shape ``coordinator/secrets.py`` reads."""
    bundle = {
        "admin_key": values["admin_key"],
        "token_keys": dict(values["token_keys"]),
        "token_signing_kid": signing_kid,
        "r2_access_key_id": values["r2_access_key_id"],
        "r2_secret_access_key": values["r2_secret_access_key"],
    }
    if values.get("playback_hmac_key"):
        bundle["playback_hmac_key"] = values["playback_hmac_key"]
    return json.dumps(bundle, sort_keys=True)
