"""The AWS side of the preflight: who the credentials are, where, and Lambda's concurrency.

Three read calls with the default credential chain (what `pulumi up`'s provider uses):
STS GetCallerIdentity, Lambda GetAccountSettings and GetFunctionConcurrency (botocore's
service models: sts 2011-06-15, lambda 2015-03-31). ``AWS_ENDPOINT_URL`` (botocore's
configprovider) points them at a stand-in in tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from infra.components.coordinator_service import function_urls_available
from infra.preflight.report import Check, Status
from infra.settings import PROJECT, StackSettings

__all__ = ["UNRESERVED_MINIMUM", "aws_checks"]

# "Lambda reserves 100 units of concurrency ... for functions that don't have reserved
# concurrency": PutFunctionConcurrency fails when a reservation would leave fewer unreserved
# (docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html,
# .../lambda/latest/api/API_PutFunctionConcurrency.html).
UNRESERVED_MINIMUM = 100


def aws_checks(session: Any, settings: StackSettings) -> Iterator[Check]:
    """``session`` is a ``boto3.Session`` (typed loosely: boto3 is imported lazily)."""
    from botocore.exceptions import BotoCoreError, ClientError

    region, stack = settings.aws_region, settings.stack
    try:
        identity = session.client("sts", region_name=region).get_caller_identity()
    except (BotoCoreError, ClientError) as error:
        yield Check(
            name="aws credentials",
            status=Status.FAIL,
            detail=f"no identity: {error}",
            fix="set AWS_PROFILE (or the usual AWS_* variables) to credentials of account"
            f" {settings.aws_account_id}",
        )
        return
    account, arn = str(identity.get("Account")), str(identity.get("Arn"))
    if account == settings.aws_account_id:
        yield Check(name="aws account", status=Status.PASS, detail=f"{account} ({arn})")
    else:
        yield Check(
            name="aws account",
            status=Status.FAIL,
            detail=f"the credentials are account {account} ({arn}), the stack says"
            f" {settings.aws_account_id}; `pulumi up` refuses (allowed_account_ids)",
            fix=f"use credentials of account {settings.aws_account_id}, or, if the stack is"
            f" wrong, pulumi config set --stack {stack} {PROJECT}:awsAccountId {account}",
        )
    yield _partition(session, settings, arn)
    yield _entry_point(settings)
    yield from _concurrency(session, settings, BotoCoreError, ClientError)


def _partition(session: Any, settings: StackSettings, arn: str) -> Check:
    region, partition = settings.aws_region, settings.aws_partition
    actual = arn.split(":")[1] if arn.count(":") >= 5 else "?"
    regions = session.get_available_regions("lambda", partition_name=partition)
    problems = []
    if actual != partition:
        problems.append(f"the credentials are in partition {actual}, {region} is in {partition}")
    if region not in regions:
        problems.append(f"botocore knows no Lambda in {region} (partition {partition})")
    if problems:
        return Check(
            name="aws partition and region",
            status=Status.FAIL,
            detail="; ".join(problems),
            fix=f"use {partition} credentials (GovCloud needs its own) and a region with Lambda",
        )
    return Check(
        name="aws partition and region", status=Status.PASS, detail=f"{partition}, {region}"
    )


def _entry_point(settings: StackSettings) -> Check:
    # Decided by the program from a documented list (coordinator_service.py); no API says it.
    region = settings.aws_region
    how = (
        "Lambda function URL"
        if function_urls_available(region)
        else f"API Gateway HTTP API (no function URLs in {region})"
    )
    return Check(name="coordinator entry point", status=Status.PASS, detail=how)


def _concurrency(
    session: Any, settings: StackSettings, *errors: type[Exception]
) -> Iterator[Check]:
    wanted = settings.coordinator.reserved_concurrency
    function = settings.coordinator.function_name
    client = session.client("lambda", region_name=settings.aws_region)
    try:
        limits = client.get_account_settings()["AccountLimit"]
    except errors as error:
        yield Check(
            name="lambda concurrency",
            status=Status.FAIL,
            detail=f"account settings not readable: {error}",
            fix="allow lambda:GetAccountSettings to the credentials",
        )
        return
    quota = int(limits.get("ConcurrentExecutions", 0))
    unreserved = int(limits.get("UnreservedConcurrentExecutions", 0))
    # After an `up` the function's own reservation is already taken out of `unreserved`.
    current = 0
    try:
        current = int(
            client.get_function_concurrency(FunctionName=function).get(
                "ReservedConcurrentExecutions", 0
            )
        )
    except errors as error:
        code = getattr(error, "response", {}).get("Error", {}).get("Code")
        if code != "ResourceNotFoundException":
            yield Check(
                name="lambda concurrency",
                status=Status.FAIL,
                detail=f"reservation of {function} not readable: {error}",
                fix="allow lambda:GetFunctionConcurrency to the credentials",
            )
            return
    left = unreserved + current - wanted
    if left >= UNRESERVED_MINIMUM:
        yield Check(
            name="lambda concurrency",
            status=Status.PASS,
            detail=f"quota {quota}, reserving {wanted} leaves {left} unreserved",
        )
        return
    most = unreserved + current - UNRESERVED_MINIMUM
    yield Check(
        name="lambda concurrency",
        status=Status.FAIL,
        detail=f"quota {quota}, {unreserved + current} unreserved: reserving {wanted} would leave"
        f" {left}, AWS keeps {UNRESERVED_MINIMUM} unreserved (the `up` fails)",
        fix="request a higher 'Concurrent executions' quota (Service Quotas, AWS Lambda)"
        + (
            f", or pulumi config set --stack {settings.stack}"
            f" {PROJECT}:coordinatorReservedConcurrency {most}"
            if most >= 1
            else ""
        ),
    )
