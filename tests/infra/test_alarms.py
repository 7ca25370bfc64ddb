"""The coordinator's alarms under mocks: what each watches, whom it tells, in each stack."""

from __future__ import annotations

import pytest

from infra.settings import SettingsError

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
# Where the 5xx and request counts of each entry point are published (AWS docs:
# lambda/latest/dg/urls-monitoring.html; apigateway/latest/developerguide/http-api-metrics.html).
FUNCTION_URL_5XX = ("AWS/Lambda", "Url5xxCount", "UrlRequestCount", "FunctionName")
HTTP_API_5XX = ("AWS/ApiGateway", "5xx", "Count", "ApiId")
FIVE_XX = {"dev": FUNCTION_URL_5XX, "eu-prod": FUNCTION_URL_5XX, "fedramp": HTTP_API_5XX}
PARTITION_REGION = {
    "dev": "aws:sns:us-east-1",
    "eu-prod": "aws:sns:eu-central-1",
    "fedramp": "aws-us-gov:sns:us-gov-west-1",
}


def _alarms(plan) -> dict[str, dict]:
    return {r.name.removeprefix("coordinator-alarms-"): r.inputs for r in plan.of_type(ALARM)}


@pytest.mark.parametrize("stack", ["dev", "eu-prod", "fedramp"])
def test_three_alarms_notify_one_topic_of_the_stack(planned, stack):
    plan = planned[stack]
    alarms = _alarms(plan)
    assert set(alarms) == {"5xx-rate", "throttles", "duration"}
    assert len(plan.of_type(TOPIC)) == 1
    arn = plan.outputs["coordinator_alarm_topic_arn"]
    assert arn.startswith(f"arn:{PARTITION_REGION[stack]}:"), arn
    for name, inputs in alarms.items():
        assert inputs["alarmActions"] == [arn] == inputs["okActions"], name
        assert inputs["treatMissingData"] == "notBreaching", name
    function = plan.of_type("aws:lambda/function:Function")[0].inputs["name"]
    assert alarms["throttles"]["dimensions"] == {"FunctionName": function}
    assert alarms["throttles"]["metricName"] == "Throttles"
    # 80% of the function's 20 s timeout, in milliseconds (Duration's unit).
    assert alarms["duration"]["threshold"] == 16_000
    assert alarms["duration"]["extendedStatistic"] == "p99"


@pytest.mark.parametrize("stack", ["dev", "eu-prod", "fedramp"])
def test_the_5xx_rate_reads_the_entry_point_the_stack_has(planned, stack):
    namespace, errors, requests, dimension = FIVE_XX[stack]
    queries = {q["id"]: q for q in _alarms(planned[stack])["5xx-rate"]["metricQueries"]}
    assert queries["errors"]["metric"]["namespace"] == namespace
    assert queries["errors"]["metric"]["metricName"] == errors
    assert queries["requests"]["metric"]["metricName"] == requests
    assert set(queries["errors"]["metric"]["dimensions"]) == {dimension}
    assert queries["rate"]["returnData"] is True
    assert "errors / requests" in queries["rate"]["expression"]


def test_a_configured_topic_is_used_and_none_is_made(plan_with):
    topic = "arn:aws:sns:eu-central-1:123456789012:video-oncall"
    plan = plan_with("eu-prod", coordinatorAlarmTopicArn=topic)
    assert not plan.of_type(TOPIC)
    assert all(a["alarmActions"] == [topic] for a in _alarms(plan).values())


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("arn:aws:sns:us-east-1:123456789012:video-oncall", "stack's region"),
        ("video-oncall", "not an SNS topic ARN"),
    ],
)
def test_a_topic_elsewhere_or_malformed_is_refused(plan_with, value, complaint):
    with pytest.raises(SettingsError) as error:
        plan_with("eu-prod", coordinatorAlarmTopicArn=value)
    assert "coordinatorAlarmTopicArn" in str(error.value)
    assert complaint in str(error.value)
