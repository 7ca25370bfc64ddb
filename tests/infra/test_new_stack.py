"""`python -m infra.cli new-stack`: a validated stack file and plan, or nothing at all."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.cli import main

ROOT = Path(__file__).resolve().parents[2]
IDS = [
    "--aws-account-id",
    "123456789012",
    "--cloudflare-account-id",
    "0123456789abcdef0123456789abcdef",
    "--zone-id",
    "fedcba9876543210fedcba9876543210",
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    return tmp_path


def _new(project: Path, name: str, *args: str) -> int:
    return main(["new-stack", name, *IDS, "--project-dir", str(project), *args])


def test_a_us_stack_gets_every_key_the_plan_it_needs_and_a_statement(project, capsys):
    status = _new(
        project,
        "us-acme",
        "--jurisdiction",
        "us",
        "--aws-region",
        "us-west-2",
        "--zone-name",
        "acme.com",
        "--hostname",
        "media.acme.com",
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    config = yaml.safe_load((project / "Pulumi.us-acme.yaml").read_text())["config"]
    assert config["r2-video:jurisdiction"] == "us"
    # Regional hostnames (region key us) need the Data Localization Suite: Enterprise.
    assert config["r2-video:cloudflarePlan"] == "enterprise"
    assert config["r2-video:locationHint"] in {"wnam", "enam"}
    assert (project / "plans" / "us-acme.json").is_file()
    assert "# Residency statement: stack `us-acme`" in out
    assert "Every data-bearing resource is inside `us`." in out
    assert "FILL IN" in (project / "Pulumi.us-acme.yaml").read_text()


def test_a_default_dev_stack_needs_no_paid_plan(project, capsys):
    status = _new(
        project,
        "dev-acme",
        "--jurisdiction",
        "default",
        "--aws-region",
        "us-east-1",
        "--zone-name",
        "acme.dev",
        "--environment",
        "dev",
    )
    assert status == 0, capsys.readouterr().err
    config = yaml.safe_load((project / "Pulumi.dev-acme.yaml").read_text())["config"]
    assert config["r2-video:cloudflarePlan"] == "free"
    assert "r2-video:regionalHostnames" not in config


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--jurisdiction", "us", "--aws-region", "us-gov-west-1"], "--aws-region"),
        (["--jurisdiction", "eu", "--aws-region", "eu-west-2"], "--aws-region"),
        (["--jurisdiction", "mars", "--aws-region", "eu-west-1"], "--jurisdiction"),
        (["--jurisdiction", "eu", "--aws-region", "eu-west-1", "--hostname", "x.other.eu"], "zone"),
        (["--jurisdiction", "eu", "--aws-region", "eu-west-1"], "--hostname"),
    ],
)
def test_bad_input_is_exit_2_naming_the_flag_and_writes_nothing(project, capsys, args, named):
    status = _new(project, "eu-acme", "--zone-name", "acme.eu", *args)
    assert status == 2
    assert named in capsys.readouterr().err
    assert sorted(p.name for p in project.iterdir()) == ["Pulumi.yaml"]


def test_an_existing_stack_is_never_overwritten(project, capsys):
    (project / "Pulumi.eu-acme.yaml").write_text("config: {}\n")
    args = ["--jurisdiction", "eu", "--aws-region", "eu-west-1", "--zone-name", "acme.eu"]
    assert _new(project, "eu-acme", *args, "--hostname", "media.acme.eu") == 2
    assert "exists already" in capsys.readouterr().err
    assert (project / "Pulumi.eu-acme.yaml").read_text() == "config: {}\n"


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Standing up a new sovereign region", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = block.replace("\\\n", " ").splitlines()
    # The offline steps; preflight, preview and up need the real accounts.
    offline = (".venv/bin/python -m infra.cli new-stack ", ".venv/bin/python -m infra.cli plan ")
    return [line for line in lines if line.startswith(offline)]


def test_the_readme_walkthrough_works_as_written(tmp_path):
    commands = _readme_commands()
    assert len(commands) == 2 and "new-stack" in commands[0]
    # A copy of the repository as git sees it, with the shared virtualenv.
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    copy = tmp_path / "repo"
    for name in files:
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    os.symlink((ROOT / ".venv").resolve(), copy / ".venv")
    # The Lambda zip is rebuilt only when an input changes (infra/components/package.py): reuse.
    if (ROOT / "build").is_dir():
        shutil.copytree(ROOT / "build", copy / "build")
    for command in commands:
        argv = shlex.split(command, comments=True)
        argv[0] = str(copy / argv[0])
        done = subprocess.run(argv, cwd=copy, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    assert (copy / "Pulumi.eu-acme.yaml").is_file()
    assert (copy / "plans" / "eu-acme.json").is_file()


def test_ids_of_digits_only_stay_strings(project, capsys):
    # 32 hex characters may all be digits; unquoted, YAML reads 000...001 as the number 1.
    args = [a if a != "fedcba9876543210fedcba9876543210" else f"{1:032x}" for a in IDS]
    status = main(
        [
            "new-stack",
            "eu-digits",
            *args,
            "--project-dir",
            str(project),
            "--jurisdiction",
            "eu",
            "--aws-region",
            "eu-west-1",
            "--zone-name",
            "acme.eu",
            "--hostname",
            "media.acme.eu",
        ]
    )
    assert status == 0, capsys.readouterr().err
    config = yaml.safe_load((project / "Pulumi.eu-digits.yaml").read_text())["config"]
    assert config["r2-video:cloudflareZoneId"] == "00000000000000000000000000000001"
