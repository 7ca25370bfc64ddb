"""`plan --all`: every stack in one process, each as a `plan --stack` process of its own would."""

from __future__ import annotations

import io
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra import cli
from infra.cli import main
from infra.review import fleet, offline
from infra.review.plan import plan_stack, render_json

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))


def _without_package_notice(log: str) -> str:
    # infra/components/package.py says once per process that no python3.13 builds bytecode
    # (its probe is cached): a separate process per stack says it in every log, `--all` once.
    return "".join(line for line in log.splitlines(True) if not line.startswith("package: "))


@pytest.fixture(scope="module")
def alone(tmp_path_factory) -> dict[str, tuple[str, str, int]]:
    """Each stack planned first in a process of its own, as `.ci/review-plan` used to:
    (plan JSON, what it printed, exit status)."""
    out = tmp_path_factory.mktemp("alone")
    processes = {
        stack: subprocess.Popen(
            [
                *(sys.executable, "-m", "infra.cli", "plan", "--stack", stack, "--format", "json"),
                *("--output", str(out / f"{stack}.json")),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for stack in STACKS
    }
    result = {}
    for stack, process in processes.items():
        log, _ = process.communicate(timeout=300)
        result[stack] = (
            (out / f"{stack}.json").read_text(encoding="utf-8"),
            log,
            process.returncode,
        )
    return result


def _every_ordered_pair(items: list[str]) -> list[str]:
    """A walk through ``items`` in which every ordered pair (a, b), a != b, is consecutive once:
    an Eulerian circuit of the complete directed graph (each node has equal in and out degree)."""
    edges = {a: [b for b in items if b != a] for a in items}
    stack, walk = [items[0]], []
    while stack:
        node = stack[-1]
        if edges[node]:
            stack.append(edges[node].pop())
        else:
            walk.append(stack.pop())
    return walk[::-1]


def test_the_walk_covers_every_ordered_pair():
    walk = _every_ordered_pair(STACKS)
    pairs = set(itertools.pairwise(walk))
    assert pairs == {(a, b) for a in STACKS for b in STACKS if a != b}


def test_planning_a_then_b_gives_the_bytes_of_b_planned_alone(alone):
    walk = _every_ordered_pair(STACKS)
    for previous, stack in itertools.pairwise(["(fresh process)", *walk]):
        assert render_json(plan_stack(stack)) == alone[stack][0], f"{stack} after {previous}"


def test_plan_all_writes_what_separate_processes_wrote(alone, tmp_path, capsys):
    status = main(["plan", "--all", "--format", "json", "--output-dir", str(tmp_path)])
    assert status == max(exit for _, _, exit in alone.values())
    for stack, (plan, log, exit_status) in alone.items():
        assert (tmp_path / f"{stack}.json").read_text(encoding="utf-8") == plan, stack
        written = (tmp_path / f"{stack}.log").read_text(encoding="utf-8")
        assert _without_package_notice(written) == _without_package_notice(log), stack
        assert (tmp_path / f"{stack}.exit").read_text() == f"{exit_status}\n", stack
    assert capsys.readouterr().out == ""  # everything went to the files


def test_a_stack_whose_program_raises_leaves_nothing_behind_for_the_next(
    alone, tmp_path, monkeypatch
):
    # A program that registers resources and an apply, then raises half-way.
    crashing = tmp_path / "crash.py"
    crashing.write_text(
        "import pulumi, pulumi_random as random\n"
        "p = random.Provider('random')\n"
        "b = random.RandomBytes('half', length=8, opts=pulumi.ResourceOptions(provider=p))\n"
        "pulumi.export('half', b.hex.apply(lambda h: h))\n"
        "raise RuntimeError('the program broke half-way')\n",
        encoding="utf-8",
    )
    with monkeypatch.context() as patch:
        patch.setattr(offline, "PROGRAM", crashing)
        with pytest.raises(RuntimeError, match="half-way"):
            plan_stack("eu-prod")
    assert render_json(plan_stack("fedramp")) == alone["fedramp"][0]


def _project(tmp_path: Path, stacks: dict[str, str]) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    for name, text in stacks.items():
        (tmp_path / f"Pulumi.{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def _example(stack: str) -> str:
    return (ROOT / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")


def test_a_stack_file_that_does_not_parse_hides_no_other_stack(tmp_path, capsys):
    project = _project(tmp_path / "p", {"broken": "config: [unclosed\n", "dev": _example("dev")})
    out = tmp_path / "out"
    status = main(
        [
            "plan",
            "--all",
            "--format",
            "json",
            "--project-dir",
            str(project),
            "--output-dir",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert (out / "broken.exit").read_text() == "2\n"
    assert "not valid YAML" in (out / "broken.log").read_text()
    assert (out / "dev.exit").read_text() == "0\n"
    assert json.loads((out / "dev.json").read_text())["stack"] == "dev"
    assert "1 of 2 stacks did not pass" in err and "broken: exit 2:" in err
    assert "Traceback" not in err


def test_stack_names_that_differ_only_in_case_are_both_refused_and_the_rest_planned(
    tmp_path, capsys
):
    project = _project(
        tmp_path,
        {"eu-prod": _example("eu-prod"), "EU-prod": _example("eu-prod"), "dev": _example("dev")},
    )
    status = main(["plan", "--all", "--project-dir", str(project), "--no-policy"])
    out, err = capsys.readouterr()
    assert status == 2
    assert "Plan for stack 'dev'" in out
    assert "Plan for stack 'eu-prod'" not in out and "Plan for stack 'EU-prod'" not in out
    assert "Pulumi.EU-prod.yaml and Pulumi.eu-prod.yaml name stacks that differ only in case" in err
    assert "EU-prod: exit 2" in err and "eu-prod: exit 2" in err
    assert "Traceback" not in err


def test_no_stacks_is_a_clear_error(tmp_path, capsys):
    project = _project(tmp_path, {})
    assert main(["plan", "--all", "--project-dir", str(project)]) == 2
    assert "no stacks" in capsys.readouterr().err


def test_a_file_name_that_is_no_stack_name_is_named_before_anything_is_planned(
    tmp_path, capsys, monkeypatch
):
    project = _project(tmp_path, {"dev": _example("dev"), "has space": _example("dev")})
    monkeypatch.setattr(cli, "_plan_one", _must_not_plan)
    assert main(["plan", "--all", "--project-dir", str(project)]) == 2
    assert "'has space' is not a stack name" in capsys.readouterr().err


def _must_not_plan(*_args, **_kwargs):
    raise AssertionError("planned although the fleet was refused")


def test_500_stacks_are_run_one_by_one_and_501_refused_up_front(tmp_path, capsys, monkeypatch):
    # The files are real; the planner is a stand-in (500 real plans take minutes: bench/fleet.py
    # times real ones). It records the order and fails one stack by policy, one by input.
    project = _project(tmp_path / "p", {})
    text = _example("dev")
    for i in range(500):
        (project / f"Pulumi.s{i:03d}.yaml").write_text(text, encoding="utf-8")
    seen: list[str] = []

    def fake(stack: str, project_dir: Path, **_: object) -> int:
        seen.append(stack)
        print(f"planned {stack}")
        return {"s007": 1, "s400": 2}.get(stack, 0)

    monkeypatch.setattr(cli, "_plan_one", fake)
    out = tmp_path / "out"
    status = main(["plan", "--all", "--project-dir", str(project), "--output-dir", str(out)])
    err = capsys.readouterr().err
    assert status == 2  # the worst: bad input (2) over a failed rule (1)
    assert seen == [f"s{i:03d}" for i in range(500)]
    assert len(list(out.glob("*.exit"))) == 500
    assert (out / "s007.exit").read_text() == "1\n" and (
        out / "s499.log"
    ).read_text() == "planned s499\n"
    assert "2 of 500 stacks did not pass" in err
    (project / "Pulumi.s500.yaml").write_text(text, encoding="utf-8")
    seen.clear()
    assert main(["plan", "--all", "--project-dir", str(project)]) == 2
    assert "501 stacks: more than 500" in capsys.readouterr().err
    assert seen == []


def test_a_crash_in_one_stack_is_reported_with_its_traceback_and_the_next_runs(tmp_path, capsys):
    def run_one(stack: str) -> int:
        if stack == "b":
            raise KeyError("boom")
        print(f"{stack} done")
        return 0

    result = fleet.run_fleet(fleet.Fleet(("a", "b", "c"), {}, ()), run_one, logs=tmp_path)
    assert [r.exit for r in result] == [0, 3, 0]
    assert "Traceback" in (tmp_path / "b.log").read_text()
    assert result[1].reason == "KeyError: 'boom'"
    assert (tmp_path / "c.log").read_text() == "c done\n"


def test_the_worst_status_follows_the_stated_order():
    assert fleet.worst([0, 1, 0]) == 1
    assert fleet.worst([1, 2, 0]) == 2
    assert fleet.worst([2, 3, 1]) == 3
    assert fleet.worst([0, 7]) == 7  # unknown: the most severe
    assert fleet.worst([]) == 0


def test_progress_is_one_line_a_stack_on_a_terminal_and_quiet_in_ci(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Tty())
    monkeypatch.delenv("CI", raising=False)
    assert fleet.progress_stream() is sys.stderr
    monkeypatch.setenv("CI", "true")
    assert fleet.progress_stream() is None
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.delenv("CI")
    assert fleet.progress_stream() is None
    shown = io.StringIO()
    fleet.run_fleet(fleet.Fleet(("a", "b"), {}, ()), lambda s: 0 if s == "a" else 1, progress=shown)
    lines = shown.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("plan [1/2] a: ok") and lines[1].startswith("plan [2/2] b: exit 1")


def test_residency_all_states_every_stack(tmp_path, capsys):
    status = main(["residency", "--all", "--output-dir", str(tmp_path)])
    assert status == 0
    for stack in STACKS:
        assert (
            (tmp_path / f"{stack}.md")
            .read_text()
            .startswith(f"# Residency statement: stack `{stack}`")
        )
    assert (tmp_path / "eu-prod.md").read_text() == (
        ROOT / "docs" / "residency-eu-prod.md"
    ).read_text()
