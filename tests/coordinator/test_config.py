"""Settings from the environment and from ``pulumi stack output --json --show-secrets``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coordinator.config import ConfigError, aws_s3_endpoint, load_settings

ACCOUNT = "0123456789abcdef0123456789abcdef"
ADMIN = "a" * 40
TOKEN_SECRET = "t" * 40
R2_SECRET = "r2-secret-value-0123456789"
AWS_SECRET = "aws-secret-value-0123456789"

SECRETS = {
    "COORDINATOR_ADMIN_KEY": ADMIN,
    "COORDINATOR_TOKEN_KEYS": json.dumps({"k1": TOKEN_SECRET}),
    "R2_ACCESS_KEY_ID": "r2-key-id",
    "R2_SECRET_ACCESS_KEY": R2_SECRET,
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
}
STACK = {
    "jurisdiction": "eu",
    "r2_account_id": ACCOUNT,
    "r2_endpoint": f"https://{ACCOUNT}.eu.r2.cloudflarestorage.com",
    "delivery_bucket": "media-eu",
    "mezzanine_bucket": "masters-eu",
    "aws_region": "eu-central-1",
}


def _outputs(tmp_path: Path, **changes: object) -> dict[str, str]:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({**STACK, **changes}))
    return {**SECRETS, "COORDINATOR_STACK_OUTPUTS": str(path)}


def test_stack_outputs_and_secret_env_make_settings(tmp_path: Path) -> None:
    settings = load_settings(_outputs(tmp_path))
    assert settings.jurisdiction == "eu"
    assert settings.delivery.endpoint == f"https://{ACCOUNT}.eu.r2.cloudflarestorage.com"
    assert (settings.delivery.region, settings.delivery.bucket) == ("auto", "media-eu")
    assert settings.mezzanine.endpoint == "https://s3.eu-central-1.amazonaws.com"
    assert (settings.mezzanine.region, settings.mezzanine.bucket) == ("eu-central-1", "masters-eu")
    assert settings.mezzanine.addressing_style == "virtual"
    assert settings.signing_kid == "k1"
    assert settings.mezzanine.max_expires == 604800


def test_environment_overrides_stack_outputs(tmp_path: Path) -> None:
    env = {
        **_outputs(tmp_path),
        "DELIVERY_BUCKET": "other-bucket",
        "R2_ENDPOINT_URL": "http://127.0.0.1:9000",
        "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    }
    settings = load_settings(env)
    assert settings.delivery.bucket == "other-bucket"
    assert settings.delivery.endpoint == "http://127.0.0.1:9000"
    assert settings.mezzanine.endpoint == "http://127.0.0.1:9000"
    assert settings.mezzanine.addressing_style == "path"


def test_env_only_configuration_derives_the_r2_endpoint_from_endpoints_py() -> None:
    env = {
        **SECRETS,
        "R2_ACCOUNT_ID": ACCOUNT,
        "R2_JURISDICTION": "fedramp",
        "DELIVERY_BUCKET": "media",
        "MEZZANINE_BUCKET": "masters",
        "AWS_REGION": "us-gov-west-1",
    }
    settings = load_settings(env)
    assert settings.delivery.endpoint == f"https://{ACCOUNT}.fedramp.r2.cloudflarestorage.com"
    assert settings.mezzanine.endpoint == "https://s3.us-gov-west-1.amazonaws.com"


def test_an_r2_endpoint_that_contradicts_the_jurisdiction_is_refused(tmp_path: Path) -> None:
    env = _outputs(tmp_path, r2_endpoint=f"https://{ACCOUNT}.r2.cloudflarestorage.com")
    with pytest.raises(ConfigError, match="disagrees"):
        load_settings(env)


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"COORDINATOR_ADMIN_KEY": ""}, "COORDINATOR_ADMIN_KEY"),
        ({"COORDINATOR_ADMIN_KEY": "short"}, "COORDINATOR_ADMIN_KEY"),
        ({"COORDINATOR_TOKEN_KEYS": "k1=secret"}, "COORDINATOR_TOKEN_KEYS"),
        ({"COORDINATOR_TOKEN_KEYS": '{"k1": 5}'}, "COORDINATOR_TOKEN_KEYS"),
        (
            {"COORDINATOR_TOKEN_KEYS": json.dumps({"a": TOKEN_SECRET, "b": TOKEN_SECRET})},
            "COORDINATOR_TOKEN_SIGNING_KID",
        ),
        ({"COORDINATOR_TOKEN_SIGNING_KID": "nope"}, "COORDINATOR_TOKEN_SIGNING_KID"),
        ({"R2_SECRET_ACCESS_KEY": ""}, "R2_SECRET_ACCESS_KEY"),
        ({"AWS_ACCESS_KEY_ID": ""}, "AWS_ACCESS_KEY_ID"),
        ({"R2_JURISDICTION": "mars"}, "R2_JURISDICTION"),
        ({"AWS_REGION": "Europe"}, "AWS_REGION"),
        ({"S3_ADDRESSING_STYLE": "dns"}, "S3_ADDRESSING_STYLE"),
        ({"COORDINATOR_DEFAULT_EXPIRES_IN": "10d"}, "COORDINATOR_DEFAULT_EXPIRES_IN"),
        ({"COORDINATOR_MAX_JOB_TTL": "999999999"}, "COORDINATOR_MAX_JOB_TTL"),
        ({"AWS_CREDENTIAL_EXPIRATION": "tomorrow"}, "AWS_CREDENTIAL_EXPIRATION"),
        # Buckets the signer refuses: refused at start, not a 500 on every request.
        ({"DELIVERY_BUCKET": "d"}, "DELIVERY_BUCKET .*3-63 characters"),
        ({"MEZZANINE_BUCKET": "Masters_EU"}, "MEZZANINE_BUCKET .*3-63 characters"),
        ({"MEZZANINE_BUCKET": "masters--x-s3"}, "MEZZANINE_BUCKET .*directory-bucket"),
        ({"S3_ENDPOINT_URL": "ftp://s3.example"}, "MEZZANINE_BUCKET .*S3_ENDPOINT_URL"),
    ],
)
def test_bad_settings_name_the_variable(tmp_path: Path, change: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names) as refused:
        load_settings({**_outputs(tmp_path), **change})
    for secret in (ADMIN, TOKEN_SECRET, R2_SECRET, AWS_SECRET):
        assert secret not in str(refused.value)


def test_missing_stack_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({**SECRETS, "COORDINATOR_STACK_OUTPUTS": str(tmp_path / "nope.json")})
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(ConfigError, match="not a JSON object"):
        load_settings({**SECRETS, "COORDINATOR_STACK_OUTPUTS": str(tmp_path / "bad.json")})


def test_lambda_role_credentials_cap_url_lifetime(tmp_path: Path) -> None:
    base = {**_outputs(tmp_path), "AWS_SESSION_TOKEN": "session-token-value"}
    unknown = load_settings(base)
    assert unknown.mezzanine.credentials.session_token == "session-token-value"
    assert unknown.mezzanine.max_expires == 3600  # lifetime unknown: stay short
    known = load_settings({**base, "AWS_CREDENTIAL_EXPIRATION": "2026-03-01T18:00:00Z"})
    assert known.mezzanine.credentials.expires_at == datetime(2026, 3, 1, 18, tzinfo=UTC)
    assert known.mezzanine.max_expires == 604800  # the expiry itself caps each URL


def test_repr_never_shows_a_secret(tmp_path: Path) -> None:
    env = {**_outputs(tmp_path), "AWS_SESSION_TOKEN": "session-token-value"}
    shown = repr(load_settings(env))
    for secret in (ADMIN, TOKEN_SECRET, R2_SECRET, AWS_SECRET, "session-token-value"):
        assert secret not in shown
    assert "media-eu" in shown  # the non-secret parts are there to help debugging


def test_aws_endpoints_by_partition() -> None:
    assert aws_s3_endpoint("eu-west-1") == "https://s3.eu-west-1.amazonaws.com"
    assert aws_s3_endpoint("cn-north-1") == "https://s3.cn-north-1.amazonaws.com.cn"
    # botocore resolves s3 in eusc-de-east-1 to this (partitions.json dnsSuffix "amazonaws.eu").
    assert aws_s3_endpoint("eusc-de-east-1") == "https://s3.eusc-de-east-1.amazonaws.eu"


def test_a_sovereign_cloud_coordinator_signs_for_the_amazonaws_eu_endpoint() -> None:
    env = {
        **SECRETS,
        "R2_ACCOUNT_ID": ACCOUNT,
        "R2_JURISDICTION": "eu",
        "DELIVERY_BUCKET": "media",
        "MEZZANINE_BUCKET": "masters",
        "AWS_REGION": "eusc-de-east-1",
    }
    settings = load_settings(env)
    assert settings.mezzanine.endpoint == "https://s3.eusc-de-east-1.amazonaws.eu"
    assert settings.delivery.endpoint == f"https://{ACCOUNT}.eu.r2.cloudflarestorage.com"


def test_us_jurisdiction_coordinator_uses_the_us_r2_endpoint() -> None:
    env = {
        **SECRETS,
        "R2_ACCOUNT_ID": ACCOUNT,
        "R2_JURISDICTION": "us",
        "DELIVERY_BUCKET": "media",
        "MEZZANINE_BUCKET": "masters",
        "AWS_REGION": "us-east-2",
    }
    # Cloudflare changelog 2026-08-17: https://<account>.us.r2.cloudflarestorage.com
    assert load_settings(env).delivery.endpoint == f"https://{ACCOUNT}.us.r2.cloudflarestorage.com"


def test_every_example_stack_configures_the_coordinator(tmp_path: Path) -> None:
    """The contract with infra/: the outputs its offline plan exports are enough (with the
    secrets from the environment), and the R2 endpoint agrees with endpoints.py. The plans are
    the committed ones, which tests/review/test_snapshots.py keeps equal to a fresh plan."""
    repo = Path(__file__).resolve().parents[2]
    stacks = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in repo.glob("Pulumi.*.yaml"))
    assert stacks, "no example stacks"
    for stack in stacks:
        plan = json.loads((repo / "plans" / f"{stack}.json").read_text(encoding="utf-8"))
        outputs = tmp_path / f"{stack}.json"
        outputs.write_text(json.dumps(plan["outputs"]))
        exported = json.loads(outputs.read_text())
        # The plan masks secrets; like the other secrets, the playback key comes from the env.
        signed = "playback_hmac_key" in exported
        playback_key = {"COORDINATOR_PLAYBACK_HMAC_KEY": "p" * 64} if signed else {}
        settings = load_settings(
            {**SECRETS, **playback_key, "COORDINATOR_STACK_OUTPUTS": str(outputs)}
        )
        assert (settings.playback is not None) == signed, stack
        assert settings.jurisdiction == exported["jurisdiction"], stack
        assert settings.delivery.endpoint == exported["r2_endpoint"], stack
        assert settings.mezzanine.region == exported["aws_region"], stack
