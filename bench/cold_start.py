"""The Lambda handler's cold import as deployed: the zip with its bytecode vs the same zip without.

Run: .venv/bin/python bench/cold_start.py [--rounds 15]

Builds the package (infra/components/package.py, reused when up to date), unpacks it twice into
temporary directories, once as built and once with every ``__pycache__`` removed, and imports
``coordinator.lambda_handler`` from each in a fresh process of the runtime's Python (python3.13,
as ``package.lambda_python`` finds it), its import path only that directory (``-S``), writing
no bytecode (``/var/task`` is read-only on Lambda). Interleaved rounds (with, without, with,
...), plus a third contender, the framework floor: a module that imports only what the
handler is built on (Mangum, Starlette, PyJWT) from the same zip. Per variant the median and
spread (min..max) of the cumulative import time as ``-X importtime`` reports it (wall time),
and of the whole process's CPU time (user + system, from getrusage: steadier than wall time
on a shared machine), then the ratios of the medians.
Prints figures; asserts no timing.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.components.package import build_package, lambda_python

MODULE = "coordinator.lambda_handler"
FLOOR = "framework_floor"
FLOOR_IMPORTS = (
    "import mangum, starlette.applications, starlette.routing, starlette.responses, jwt\n"
)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_import(python: str, root: Path, module: str = MODULE) -> tuple[float, float]:
    """(the handler's cumulative import seconds, the process's CPU seconds), one fresh run."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(root),
           "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
    start = _children_cpu()
    done = subprocess.run(
        [python, "-S", "-X", "importtime", "-c", f"import {module}"],
        capture_output=True, text=True, env=env, cwd=root, timeout=120,
    )  # fmt: skip
    cpu = _children_cpu() - start  # user + system of the child: the machine is shared
    if done.returncode != 0:
        sys.exit(f"import failed in {root}:\n{done.stderr[-3000:]}")
    for line in done.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"
        fields = [part.strip() for part in line.removeprefix("import time:").split("|")]
        if len(fields) == 3 and fields[2] == module:
            return int(fields[1]) / 1e6, cpu
    sys.exit(f"no import time line for {module}:\n{done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    found = lambda_python()
    if found is None:
        sys.exit("no python3.13: the package ships no bytecode here, nothing to compare")
    python, version = found
    package = build_package()
    with tempfile.TemporaryDirectory() as tmp:
        compiled, source = Path(tmp, "compiled"), Path(tmp, "source")
        with zipfile.ZipFile(package.path) as archive:
            archive.extractall(compiled)
            archive.extractall(source)
        pycs = [p for p in compiled.rglob("*.pyc")]
        for cache in list(source.rglob("__pycache__")):
            shutil.rmtree(cache)
        # The floor: what the handler's frameworks cost to import by themselves, from the same
        # zip (the stdlib modules they pull in, asyncio above all, included).
        (compiled / f"{FLOOR}.py").write_text(FLOOR_IMPORTS, encoding="utf-8")
        variants = {
            "with bytecode": (compiled, MODULE),
            "source only": (source, MODULE),
            "framework floor": (compiled, FLOOR),
        }
        for root, module in variants.values():  # warm the page cache and the stdlib's pycs
            cold_import(python, root, module)
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, (root, module) in variants.items():  # interleaved
                runs[name].append(cold_import(python, root, module))

    print(
        f"python {version} ({python}); {package.path.name}: {package.files} files, "
        f"{len(pycs)} pycs, {package.size:,} bytes; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}; {args.rounds} interleaved rounds of fresh processes"
    )
    medians, cpu_medians = {}, {}
    for name, values in runs.items():
        imports = [v[0] * 1e3 for v in values]
        cpus = [v[1] * 1e3 for v in values]
        medians[name] = statistics.median(imports)
        cpu_medians[name] = statistics.median(cpus)
        print(
            f"  {name:15s} import {variants[name][1]}: median {medians[name]:6.1f} ms "
            f"(min {min(imports):6.1f}, max {max(imports):6.1f}); whole process CPU median "
            f"{statistics.median(cpus):6.1f} ms (min {min(cpus):6.1f}, max {max(cpus):6.1f})"
        )
    ratio = medians["source only"] / medians["with bytecode"]
    cpu_ratio = cpu_medians["source only"] / cpu_medians["with bytecode"]
    print(f"  source only / with bytecode: import {ratio:.2f}x, process CPU {cpu_ratio:.2f}x")
    floor = medians["with bytecode"] / medians["framework floor"]
    own = medians["with bytecode"] - medians["framework floor"]
    print(f"  with bytecode / framework floor: import {floor:.2f}x (the coordinator's own share:"
          f" {own:.1f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
