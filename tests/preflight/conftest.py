"""The preflight run through the CLI against local fakes of Cloudflare's API and AWS."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import redirect_stdout

import pulumi
import pytest

from infra.cli import main
from infra.settings import StackSettings, load_settings
from infra.stack_config import load_stack_config
from tests.preflight.fakes import TOKEN, FakeAws, FakeCloudflare

# The permission groups a stack with custom domains, Tiered Cache and signed delivery needs, by
# their API names (README "Deploying for real"; the API pages' "Accepted Permissions": R2 bucket
# create "Workers R2 Storage Write", account token create "Account API Tokens Write", zone
# entry points "Cache Settings Write" / "Zone WAF Write", zone settings "Zone Settings Write").
FULL_PERMISSIONS = [
    "Workers R2 Storage Write",
    "Account API Tokens Write",
    "Zone Read",
    "DNS Write",
    "Cache Settings Write",
    "Zone Settings Write",
    "Zone WAF Write",
]
# Regional Services region keys as the docs list them (data-localization/region-support/).
REGION_KEYS = ["eu", "isoeu", "de", "us", "ca", "au", "jp", "in", "sg", "kr", "fedramp"]


def settings_of(stack: str) -> StackSettings:
    config = load_stack_config(stack)
    pulumi.runtime.set_all_config(dict(config.values), config.secret_keys)
    return load_settings(pulumi.Config("r2-video"), stack=stack)


def healthy_cloudflare(settings: StackSettings) -> FakeCloudflare:
    """An account where the stack's first `up` can succeed: nothing there yet."""
    fake = FakeCloudflare(account_id=settings.cloudflare_account_id)
    fake.permissions = list(FULL_PERMISSIONS)
    zone = settings.edge.zone_id
    fake.zones[zone] = {
        "id": zone,
        "name": settings.delivery.zone_name,
        "status": "active",
        "account": {"id": settings.cloudflare_account_id, "name": "Example Account"},
        "plan": {
            "id": "94f3b7b768b0458b56d2cac4fe5ec0f9",
            "name": f"{settings.edge.plan.value.title()} Website",
            "legacy_id": settings.edge.plan.value,
        },
    }
    fake.region_keys = list(REGION_KEYS)
    return fake


def healthy_aws(settings: StackSettings) -> FakeAws:
    return FakeAws(account=settings.aws_account_id, partition=settings.aws_partition)


import boto3  # noqa: E402 - kept next to the one place that needs the unpatched class

_BOTO3_SESSION = boto3.Session
_LOADER = None


def _session_with_shared_models(**kwargs):
    """A fresh boto3 Session (it reads the environment the test set) whose service models come
    from one loader per test run: loading the Lambda model costs ~0.3 s a session."""
    global _LOADER
    import botocore.session

    core = botocore.session.get_session()
    if _LOADER is None:
        _LOADER = core.get_component("data_loader")
    core.register_component("data_loader", _LOADER)
    return _BOTO3_SESSION(botocore_session=core, **kwargs)


@pytest.fixture
def run_preflight(monkeypatch, tmp_path) -> Callable[..., tuple[int, str]]:
    """``run(stack, cloudflare, aws)`` -> (exit status, stdout) of `infra.cli preflight`."""
    monkeypatch.setattr(boto3, "Session", _session_with_shared_models)

    def run(stack: str, cloudflare: FakeCloudflare, aws: FakeAws) -> tuple[int, str]:
        with cloudflare.serve() as cf_url, aws.serve() as aws_url:
            monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
            monkeypatch.setenv("AWS_ENDPOINT_URL", aws_url)
            monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
            monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
            monkeypatch.delenv("AWS_PROFILE", raising=False)
            monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
            monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
            monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
            out = io.StringIO()
            with redirect_stdout(out):
                code = main(["preflight", "--stack", stack, "--cloudflare-api", cf_url])
        return code, out.getvalue()

    return run
