"""Config keys nobody reads are errors (issue 12, item 6): a typo or a provider key that the
explicit providers ignore must stop the plan and the program, naming the key and the likely one.

The mistaken keys are the ones the issue found silently ignored: ``minTLS``, ``mintls``,
``deliveryHostname`` and ``aws:region``. The right names are the ones the README and the
example stack files document (``r2-video:minTls``, ``r2-video:deliveryHostnames``,
``r2-video:awsRegion``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pulumi
import pytest

from infra.cli import main
from infra.review.plan import load_stack_config
from infra.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def _stack_with(tmp_path: Path, extra: str, *, drop: str | None = None) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    text = (ROOT / "Pulumi.eu-prod.yaml").read_text(encoding="utf-8")
    if drop:
        text = "\n".join(line for line in text.splitlines() if drop not in line) + "\n"
    (tmp_path / "Pulumi.typo.yaml").write_text(text + extra, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("line", "key", "likely"),
    [
        ('  r2-video:minTLS: "1.3"\n', "r2-video:minTLS", "r2-video:minTls"),
        ('  r2-video:mintls: "1.3"\n', "r2-video:mintls", "r2-video:minTls"),
        (
            "  r2-video:deliveryHostname: media.example.eu\n",
            "r2-video:deliveryHostname",
            "r2-video:deliveryHostnames",
        ),
        ("  aws:region: eu-west-1\n", "aws:region", "r2-video:awsRegion"),
    ],
)
def test_plan_exits_2_naming_the_unknown_key_and_the_likely_one(
    tmp_path, capsys, line, key, likely
):
    project = _stack_with(tmp_path, line)
    assert main(["plan", "--stack", "typo", "--project-dir", str(project)]) == 2
    err = capsys.readouterr().err
    assert f"  - {key}: " in err, err
    assert f"did you mean {likely}?" in err, err
    assert "Traceback" not in err


def test_a_cloudflare_key_the_explicit_provider_ignores_is_refused(tmp_path, capsys):
    project = _stack_with(tmp_path, "  cloudflare:apiUserServiceKey: x\n")
    assert main(["plan", "--stack", "typo", "--project-dir", str(project)]) == 2
    assert "  - cloudflare:apiUserServiceKey: configures only the default provider" in (
        capsys.readouterr().err
    )


def test_a_key_with_no_likely_match_is_still_refused(tmp_path, capsys):
    project = _stack_with(tmp_path, '  r2-video:qqqq: "1"\n')
    assert main(["plan", "--stack", "typo", "--project-dir", str(project)]) == 2
    err = capsys.readouterr().err
    assert "  - r2-video:qqqq: is not a setting of this program" in err
    assert "did you mean" not in err.split("r2-video:qqqq:")[1].splitlines()[0]


def test_keys_read_by_other_readers_are_accepted(tmp_path, capsys):
    # cloudflare:apiToken is read by infra/__main__.py; r2-video:workload by the cost model
    # (Pulumi.eu-prod.yaml has one).
    project = _stack_with(tmp_path, "  cloudflare:apiToken:\n    secure: AAABAKc2ZXNlY3JldA==\n")
    assert main(["plan", "--stack", "typo", "--project-dir", str(project)]) == 0, (
        capsys.readouterr().err
    )


# What `pulumi up` runs: load_settings over the engine's config, not the CLI's file reader. One
# unknown key per case, added to a valid stack; the refusal names it, the likely key and the fix.
UNKNOWN_KEYS = [
    (
        "r2-video:minTLS",
        "minTLS",
        "is not a setting of this program, so it would be ignored; did you mean r2-video:minTls?",
        "pulumi config rm --stack eu-prod r2-video:minTLS and set r2-video:minTls instead",
    ),
    (
        "r2-video:deliveryHostname",
        "deliveryHostname",
        "is not a setting of this program, so it would be ignored; did you mean"
        " r2-video:deliveryHostnames?",
        "pulumi config rm --stack eu-prod r2-video:deliveryHostname and set"
        " r2-video:deliveryHostnames instead",
    ),
    (
        "r2-video:qqqq",
        "qqqq",
        "is not a setting of this program, so it would be ignored",
        "pulumi config rm --stack eu-prod r2-video:qqqq",
    ),
    (
        "aws:region",
        "aws:region",
        "configures only the default provider, which this program disables: the explicit aws"
        " provider ignores it; did you mean r2-video:awsRegion?",
        "pulumi config rm --stack eu-prod aws:region and set r2-video:awsRegion instead",
    ),
    (
        "aws:allowedAccountIds",
        "aws:allowedAccountIds",
        "configures only the default provider, which this program disables: the explicit aws"
        " provider ignores it; did you mean r2-video:awsAccountId?",
        "pulumi config rm --stack eu-prod aws:allowedAccountIds and set r2-video:awsAccountId"
        " instead",
    ),
    (
        "cloudflare:accountId",
        "cloudflare:accountId",
        "configures only the default provider, which this program disables: the explicit"
        " cloudflare provider ignores it; did you mean r2-video:cloudflareAccountId?",
        "pulumi config rm --stack eu-prod cloudflare:accountId and set"
        " r2-video:cloudflareAccountId instead",
    ),
    (
        "cloudflare:apiUserServiceKey",
        "cloudflare:apiUserServiceKey",
        "configures only the default provider, which this program disables: the explicit"
        " cloudflare provider ignores it",
        "pulumi config rm --stack eu-prod cloudflare:apiUserServiceKey",
    ),
]


@pytest.mark.parametrize(("full", "key", "message", "fix"), UNKNOWN_KEYS)
def test_the_program_itself_refuses_an_unknown_key(full, key, message, fix):
    values = dict(load_stack_config("eu-prod").values)
    values[full] = "x"
    pulumi.runtime.set_all_config(values, [])
    with pytest.raises(SettingsError) as caught:
        load_settings(pulumi.Config("r2-video"), stack="eu-prod")
    assert [(p.key, p.message) for p in caught.value.problems] == [(key, message)]
    assert str(caught.value).splitlines()[-1] == f"      fix: {fix}"
    qualified = full if full.startswith("r2-video:") or ":" in key else f"r2-video:{key}"
    assert f"  - {qualified}: {message}" in str(caught.value)


@pytest.mark.parametrize(
    "full",
    ["cloudflare:apiToken", "r2-video:workload", "gcp:project", "other-project:minTls"],
)
def test_keys_read_elsewhere_or_of_other_namespaces_are_accepted(full):
    # cloudflare:apiToken: infra/__main__.py; r2-video:workload: the cost model; the engine
    # hands a program other namespaces' keys too, which configure nothing of ours.
    values = dict(load_stack_config("eu-prod").values)
    values[full] = "x"
    pulumi.runtime.set_all_config(values, [])
    assert load_settings(pulumi.Config("r2-video"), stack="eu-prod").stack == "eu-prod"


def test_a_key_differing_only_in_case_suggests_the_real_one():
    values = dict(load_stack_config("eu-prod").values)
    values["r2-video:mintls"] = "1.3"
    pulumi.runtime.set_all_config(values, [])
    with pytest.raises(SettingsError) as caught:
        load_settings(pulumi.Config("r2-video"), stack="eu-prod")
    assert [(p.key, p.message) for p in caught.value.problems] == [
        (
            "mintls",
            "is not a setting of this program, so it would be ignored; did you mean"
            " r2-video:minTls?",
        )
    ]
