"""`python -m infra.cli plan`: what a reviewer runs, and what it says when the config is wrong."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_eu_prod_json_plan_shows_everything_in_the_eu(capsys):
    assert main(["plan", "--stack", "eu-prod", "--format", "json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    by_type: dict[str, list[dict]] = {}
    for resource in plan["resources"]:
        by_type.setdefault(resource["type"].rsplit(":", 1)[-1], []).append(resource)
    for kind in (
        "R2Bucket",
        "R2CustomDomain",
        "R2BucketCors",
        "R2BucketLifecycle",
        "R2ManagedDomain",
    ):
        assert by_type[kind], kind
        assert all(r["inputs"]["jurisdiction"] == "eu" for r in by_type[kind]), kind
    assert all(float(r["inputs"]["minTls"]) >= 1.2 for r in by_type["R2CustomDomain"])
    assert by_type["R2ManagedDomain"][0]["inputs"]["enabled"] is False
    (aws,) = [r for r in plan["resources"] if r["type"] == "pulumi:providers:aws"]
    assert aws["inputs"]["region"].startswith("eu-")
    account = "0123456789abcdef0123456789abcdef"
    assert plan["outputs"]["r2_endpoint"] == f"https://{account}.eu.r2.cloudflarestorage.com"


def test_table_plan_lists_resources_and_outputs(capsys):
    assert main(["plan", "--stack", "fedramp"]) == 0
    out = capsys.readouterr().out
    assert "Plan for stack 'fedramp'" in out
    assert "cloudflare:R2Bucket" in out and "jurisdiction=fedramp" in out
    assert "protect,retain" in out
    assert "r2_endpoint" in out


def _project_with(tmp_path: Path, stack_yaml: str) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.broken.yaml").write_text(stack_yaml, encoding="utf-8")
    return tmp_path


def test_a_broken_stack_exits_2_listing_every_problem_without_a_traceback(tmp_path, capsys):
    good = (ROOT / "Pulumi.eu-prod.yaml").read_text(encoding="utf-8")
    broken = (
        good.replace("jurisdiction: eu", "jurisdiction: europe")
        .replace("awsRegion: eu-central-1", "awsRegion: eu-west-2")
        .replace('minTls: "1.2"', 'minTls: "1.0"')
    )
    project = _project_with(tmp_path, broken)
    assert main(["plan", "--stack", "broken", "--project-dir", str(project)]) == 2
    err = capsys.readouterr().err
    assert "problems in the configuration of stack 'broken'" in err
    for key in ("jurisdiction", "minTls"):
        assert f"r2-video:{key}:" in err
    assert "Traceback" not in err


def test_a_missing_stack_file_exits_2(tmp_path, capsys):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    assert main(["plan", "--stack", "nope", "--project-dir", str(tmp_path)]) == 2
    assert "Pulumi.nope.yaml does not exist" in capsys.readouterr().err


def test_invalid_yaml_exits_2(tmp_path, capsys):
    project = _project_with(tmp_path, "config: [unclosed\n")
    assert main(["plan", "--stack", "broken", "--project-dir", str(project)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_encrypted_config_values_stay_masked(tmp_path, capsys):
    good = (ROOT / "Pulumi.eu-prod.yaml").read_text(encoding="utf-8")
    project = _project_with(
        tmp_path, good + "  cloudflare:apiToken:\n    secure: AAABAKc2ZXNlY3JldA==\n"
    )
    assert (
        main(["plan", "--stack", "broken", "--project-dir", str(project), "--format", "json"]) == 0
    )
    out = capsys.readouterr().out
    assert "AAABAKc2ZXNlY3JldA==" not in out
    (provider,) = [
        r for r in json.loads(out)["resources"] if r["type"] == "pulumi:providers:cloudflare"
    ]
    assert provider["inputs"]["apiToken"] == "[secret]"


def test_the_cli_runs_as_a_module_in_a_fresh_process():
    result = subprocess.run(
        [sys.executable, "-m", "infra.cli", "plan", "--stack", "dev", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stack"] == "dev"


def _help_lines(monkeypatch, capsys) -> dict[str, str]:
    """`python -m infra.cli --help` at 80 columns: command -> its one help line."""
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    listed = re.findall(r"^    (\S+) +(\S.*)$", capsys.readouterr().out, re.MULTILINE)
    return dict(listed)


def _readme_commands() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("**Commands.**", 1)[1].split("\n\n", 2)[1]
    return dict(re.findall(r"^\| `([a-z-]+)` \| (.+) \|$", table, re.MULTILINE))


def test_the_help_lists_every_command_on_one_line_as_the_readme_does(monkeypatch, capsys):
    shown = _help_lines(monkeypatch, capsys)
    assert shown == _readme_commands()
    assert {"new-stack", "cost", "fleet"} <= set(shown)


def test_every_command_the_docs_use_is_in_the_help(monkeypatch, capsys):
    shown = _help_lines(monkeypatch, capsys)
    used = set()
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        used |= set(re.findall(r"infra\.cli ([a-z][a-z-]*)", path.read_text(encoding="utf-8")))
    assert used - set(shown) == set(), "used in the docs but missing from --help"


@pytest.mark.parametrize(("command", "flag"), [("new-stack", "--jurisdiction"), ("cost", "--all")])
def test_the_commands_with_their_own_flags_still_answer_help(command, flag, capsys):
    # main() hands them the rest of the line: their own parser prints their flags.
    assert main([command, "--help"]) == 0
    assert flag in capsys.readouterr().out
