"""A fleet of stacks planned in one process (``plan --all``) vs one ``plan`` process a stack.

Run: .venv/bin/python bench/fleet.py [--stacks 40]

Generates N stacks with ``python -m infra.cli new-stack`` (jurisdictions eu, us, fedramp and
default in turn, each with its own zone and hostname) in a temporary copy of the project's config
(``Pulumi.yaml``; the program is this checkout's), then, in the same run:

* the import floor: a fresh process that imports every module a plan ends up with (the provider
  SDKs and their submodules, grpc, protobuf, ``infra``), and plans nothing (median of 3);
* ``plan --all --format json --output-dir`` over the N stacks, one process;
* ``plan --stack S --format json --output`` N times, one process each, one after another (what
  ``.ci/review-plan`` did before ``--all``).

Checks that both ways wrote the same bytes for every stack, then prints wall times, the ratio,
and the goal of issue 24: one process <= import floor + 0.5 s a stack. Asserts no timing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_REGIONS = {
    "eu": ("eu-central-1", "eu-west-1", "eu-north-1", "eu-south-1"),
    "us": ("us-east-1", "us-east-2", "us-west-2"),
    "fedramp": ("us-gov-west-1", "us-gov-east-1"),
    "default": ("us-east-1", "ap-southeast-2"),
}
_TLD = {"eu": "eu", "us": "com", "fedramp": "gov", "default": "com"}
_KEEP = ("pulumi", "grpc", "google", "infra", "coordinator", "yaml")
_MODULES_SCRIPT = """
import json, sys
from pathlib import Path
from infra.review.plan import plan_stack
plan_stack(sys.argv[1], Path(sys.argv[2]))
keep = tuple(sys.argv[3].split(","))
names = sorted(n for n in sys.modules if n.split(".")[0].startswith(keep) and "__main__" not in n)
print(json.dumps(names))
"""
_FLOOR_SCRIPT = """
import importlib, json, sys
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except Exception:
        pass
"""


def _run(args: list[str]) -> float:
    """Wall seconds of one fresh process (it must succeed)."""
    start = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(args[:6])}... failed ({done.returncode}):\n{done.stderr}")
    return elapsed


def generate(project: Path, count: int) -> list[str]:
    """N stacks made by ``new-stack`` (in one process: generation is not what is measured)."""
    from infra.cli import main

    names = []
    for i in range(count):
        jurisdiction = ("eu", "us", "fedramp", "default")[i % 4]
        regions = _REGIONS[jurisdiction]
        name = f"fleet-{i:03d}-{jurisdiction}"
        zone = f"customer{i}.example.{_TLD[jurisdiction]}"
        status = main(
            [
                *("new-stack", name, "--jurisdiction", jurisdiction),
                *("--aws-region", regions[i % len(regions)], "--aws-account-id", "123456789012"),
                *("--cloudflare-account-id", "0123456789abcdef0123456789abcdef"),
                *("--zone-id", f"{i + 1:032x}", "--zone-name", zone),
                *("--hostname", f"media.{zone}", "--project-dir", str(project)),
            ]
        )
        if status != 0:
            raise SystemExit(f"new-stack {name} failed ({status})")
        names.append(name)
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stacks", type=int, default=40)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="fleet-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
        print(f"generating {args.stacks} stacks with new-stack in {project} ...", flush=True)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            stacks = generate(project, args.stacks)
        modules = subprocess.run(
            [python, "-c", _MODULES_SCRIPT, stacks[0], str(project), ",".join(_KEEP)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        floors = [_run([python, "-c", _FLOOR_SCRIPT, modules]) for _ in range(3)]
        floor = statistics.median(floors)

        one_dir, many_dir = Path(tmp) / "one", Path(tmp) / "many"
        many_dir.mkdir()
        one = _run(
            [*(python, "-m", "infra.cli", "plan", "--all", "--format", "json"),
             *("--project-dir", str(project), "--output-dir", str(one_dir))]
        )  # fmt: skip
        separate = 0.0
        for stack in stacks:
            separate += _run(
                [*(python, "-m", "infra.cli", "plan", "--stack", stack, "--format", "json"),
                 *("--project-dir", str(project), "--output", str(many_dir / f"{stack}.json"))]
            )  # fmt: skip
        differ = [
            s
            for s in stacks
            if (one_dir / f"{s}.json").read_bytes() != (many_dir / f"{s}.json").read_bytes()
        ]
        if differ:
            raise SystemExit(f"plan --all and separate processes differ for {differ}")
    n = len(stacks)
    per_stack = (one - floor) / n
    goal = floor + 0.5 * n
    print(
        json.dumps(
            {"stacks": n, "modules_in_floor": len(json.loads(modules)), "floor_runs_s": floors},
            separators=(",", ":"),
        )
    )
    print(f"import floor (fresh process, median of 3)  {floor:7.2f} s")
    print(f"plan --all, one process, {n} stacks  {one:7.2f} s ({per_stack:.2f} s a stack over it)")
    print(f"plan --stack, {n} processes          {separate:7.2f} s ({separate / n:.2f} s a stack)")
    print(f"ratio separate / one process              {separate / one:7.2f}x")
    verdict = "met" if one <= goal else "NOT met"
    print(f"goal: one process <= floor + 0.5 s x {n} = {goal:.2f} s: {verdict}")
    print(f"outputs: all {n} plans byte-identical between the two ways")
    return 0


if __name__ == "__main__":
    sys.exit(main())
