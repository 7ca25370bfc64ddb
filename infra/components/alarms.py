"""CoordinatorAlarms: the coordinator pages its team before users notice.

Three CloudWatch alarms on metrics AWS publishes anyway (no agent, no custom metric), each
notifying one SNS topic (given in the stack config, or made here for the team to subscribe to):

* **5xx rate** above ``FIVE_XX_PERCENT`` of requests in 3 of 5 minutes. Function URL:
  ``AWS/Lambda`` ``Url5xxCount`` / ``UrlRequestCount`` by ``FunctionName``; HTTP API:
  ``AWS/ApiGateway`` ``5xx`` / ``Count`` by ``ApiId``. A 5xx here is the store failing (503/502)
  or a bug (500): either way a person should look;
* **throttles**: any ``Throttles`` in 2 of 5 minutes (reserved concurrency is a hard cap: a
  throttled worker gets a 429 from Lambda, not from the coordinator);
* **duration**: p99 ``Duration`` above ``DURATION_SHARE`` of the function's timeout in 3 of 5
  minutes (requests then end as timeouts, 5xx, soon after).

Missing data is "not breaching": a stack with no traffic is not an incident.

References: https://docs.aws.amazon.com/lambda/latest/dg/urls-monitoring.html ,
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html ,
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html ,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from .validation import Problems

__all__ = [
    "DURATION_SHARE",
    "FIVE_XX_PERCENT",
    "CoordinatorAlarms",
    "CoordinatorAlarmsArgs",
    "is_sns_topic_arn",
]

FIVE_XX_PERCENT = 5.0
DURATION_SHARE = 0.8
_MINUTE = 60
# arn:<partition>:sns:<region>:<account>:<topic name (1-256 of letters, digits, - and _)>
_SNS_ARN = re.compile(r"arn:(aws|aws-us-gov|aws-cn|aws-eusc):sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}")


def is_sns_topic_arn(value: str) -> bool:
    return _SNS_ARN.fullmatch(value) is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class CoordinatorAlarmsArgs:
    """What the alarms watch and whom they tell; validated on construction."""

    function_name: pulumi.Input[str]
    """The coordinator's Lambda function."""
    timeout_seconds: int
    """The function's timeout: the duration alarm fires at ``DURATION_SHARE`` of it."""
    endpoint_kind: Literal["function-url", "http-api"]
    """How requests reach the function: decides where the 5xx and request counts come from."""
    api_id: pulumi.Input[str] | None = None
    """The HTTP API's id (``endpoint_kind == "http-api"`` only)."""
    topic_arn: str | None = None
    """SNS topic to notify; None makes one (exported) for the team to subscribe to."""

    def __post_init__(self) -> None:
        problems = Problems("CoordinatorAlarmsArgs")
        problems.check(
            1 <= self.timeout_seconds <= 900, "timeout_seconds", "must be 1 to 900 (Lambda's)"
        )
        problems.check(
            (self.api_id is not None) == (self.endpoint_kind == "http-api"),
            "api_id",
            "is needed with an HTTP API, and only then",
        )
        if self.topic_arn is not None:
            problems.check(
                is_sns_topic_arn(self.topic_arn),
                "topic_arn",
                f"{self.topic_arn!r} is not an SNS topic ARN (arn:<partition>:sns:<region>:...)",
            )
        problems.raise_if_any()


class CoordinatorAlarms(pulumi.ComponentResource):
    """5xx rate, throttles and duration of the coordinator, to one SNS topic."""

    topic_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: CoordinatorAlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("r2-video:monitoring:CoordinatorAlarms", name, None, opts)
        self._name = name
        self._args = args
        self.topic_arn = self._create_topic()
        actions = [self.topic_arn]
        self._create_five_xx_rate(actions)
        self._create_throttles(actions)
        self._create_duration(actions)
        self.register_outputs({"topic_arn": self.topic_arn})

    def _child(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self)

    def _create_topic(self) -> pulumi.Output[str]:
        if self._args.topic_arn is not None:
            return pulumi.Output.from_input(self._args.topic_arn)
        topic = aws.sns.Topic(f"{self._name}-topic", opts=self._child())
        return topic.arn

    def _create_five_xx_rate(self, actions: list[pulumi.Output[str]]) -> None:
        args = self._args
        dimensions: dict[str, pulumi.Input[str]]
        if args.api_id is None:  # a function URL
            namespace, errors, requests = "AWS/Lambda", "Url5xxCount", "UrlRequestCount"
            dimensions = {"FunctionName": args.function_name}
        else:
            namespace, errors, requests = "AWS/ApiGateway", "5xx", "Count"
            dimensions = {"ApiId": args.api_id}

        def metric(query_id: str, metric_name: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
            return aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=query_id,
                return_data=False,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace=namespace,
                    metric_name=metric_name,
                    dimensions=dimensions,
                    period=_MINUTE,
                    stat="Sum",
                ),
            )

        aws.cloudwatch.MetricAlarm(
            f"{self._name}-5xx-rate",
            alarm_description=(
                f"More than {FIVE_XX_PERCENT:g}% of the coordinator's requests answered 5xx "
                "(store failing, or a bug): see the function's JSON access log"
            ),
            comparison_operator="GreaterThanThreshold",
            threshold=FIVE_XX_PERCENT,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            treat_missing_data="notBreaching",
            metric_queries=[
                metric("errors", errors),
                metric("requests", requests),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="rate",
                    expression="IF(requests > 0, 100 * errors / requests, 0)",
                    label="5xx percent",
                    return_data=True,
                ),
            ],
            alarm_actions=actions,
            ok_actions=actions,
            opts=self._child(),
        )

    def _create_throttles(self, actions: list[pulumi.Output[str]]) -> None:
        aws.cloudwatch.MetricAlarm(
            f"{self._name}-throttles",
            alarm_description=(
                "Lambda throttled the coordinator: workers hear 429; raise "
                "coordinatorReservedConcurrency (the account keeps 100 unreserved)"
            ),
            namespace="AWS/Lambda",
            metric_name="Throttles",
            dimensions={"FunctionName": self._args.function_name},
            statistic="Sum",
            period=_MINUTE,
            comparison_operator="GreaterThanThreshold",
            threshold=0,
            evaluation_periods=5,
            datapoints_to_alarm=2,
            treat_missing_data="notBreaching",
            alarm_actions=actions,
            ok_actions=actions,
            opts=self._child(),
        )

    def _create_duration(self, actions: list[pulumi.Output[str]]) -> None:
        limit_ms = self._args.timeout_seconds * 1000 * DURATION_SHARE
        aws.cloudwatch.MetricAlarm(
            f"{self._name}-duration",
            alarm_description=(
                f"p99 duration above {DURATION_SHARE:.0%} of the {self._args.timeout_seconds} s "
                "timeout: a slow store (see store_ms in the access log); timeouts follow"
            ),
            namespace="AWS/Lambda",
            metric_name="Duration",
            dimensions={"FunctionName": self._args.function_name},
            extended_statistic="p99",
            period=_MINUTE,
            comparison_operator="GreaterThanThreshold",
            threshold=limit_ms,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            treat_missing_data="notBreaching",
            alarm_actions=actions,
            ok_actions=actions,
            opts=self._child(),
        )
