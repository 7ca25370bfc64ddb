"""The r2-video package as another program gets it: built by `python -m build`, installed into a
fresh venv, and used from there (not from this checkout) by examples/python-eu-region.

The fresh venv gets the third-party dependencies already installed here through a ``.pth`` file
pointing at this venv's site-packages (installing pulumi-aws again would take a minute); the
r2-video code (``r2_video``, ``coordinator``) comes from the wheel only: this venv has neither
installed, and the harness refuses to run when the checkout is on ``sys.path`` or a module comes
from outside the fresh venv.
"""

from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.components.package import RUNTIME_REQUIREMENTS, coordinator_package
from infra.review.residency_statement import statement_from_plan
from infra.stack_config import PROJECT_ROOT, load_stack_config

ROOT = PROJECT_ROOT
EXAMPLE = ROOT / "examples" / "python-eu-region" / "__main__.py"
HARNESS = Path(__file__).with_name("package_harness.py")
# What the sdist is built from: the files the package declares (pyproject.toml), copied out so
# the build writes nothing into the checkout.
SOURCES = ("pyproject.toml", "README.md", "coordinator", "infra/components")


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """sdist + wheel built from a copy of the sources, the wheel installed into a fresh venv."""
    tmp = tmp_path_factory.mktemp("package")
    source = tmp / "source"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    dist = tmp / "dist"
    _run(sys.executable, "-m", "build", "--no-isolation", "-o", dist, source, cwd=tmp)
    wheel = next(dist.glob("r2_video-*.whl"))
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    purelib = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp
    ).stdout.strip()
    (Path(purelib) / "main_venv_dependencies.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n", encoding="utf-8"
    )
    pip = (sys.executable, "-m", "pip", "--python", python)
    _run(*pip, "install", "--no-deps", "--no-index", "-q", wheel, cwd=tmp)
    return {"tmp": tmp, "dist": dist, "wheel": wheel, "venv": venv, "python": python}


def test_the_checkout_venv_has_no_r2_video_installed() -> None:
    # Otherwise the fresh venv's .pth would hand it the checkout's code instead of the wheel's.
    for name in ("r2_video", "coordinator"):
        for directory in site.getsitepackages():
            assert not (Path(directory) / name).exists(), f"{name} installed in {directory}"


def test_build_makes_an_sdist_and_a_wheel(built: dict[str, Path]) -> None:
    names = sorted(p.name for p in built["dist"].iterdir())
    assert names == ["r2_video-0.2.0-py3-none-any.whl", "r2_video-0.2.0.tar.gz"], names


def test_the_wheel_holds_the_components_and_the_coordinator_only(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = wheel.namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"r2_video", "coordinator", "r2_video-0.2.0.dist-info"}, tops
    modules = {n.removeprefix("r2_video/") for n in names if n.startswith("r2_video/")}
    for expected in ("region.py", "delivery.py", "residency.py", "validation.py", "package.py"):
        assert expected in modules, modules
    assert "py.typed" in modules
    # No review tools, cost model, benches or tests under any name.
    assert not [n for n in names if any(p in n for p in ("review", "bench", "tests/", "cost"))]
    # Every module of the checkout's coordinator package is in the wheel (the Lambda zip is built
    # from the installed copy: a missing subpackage would ship a broken function).
    checkout = {p.relative_to(ROOT).as_posix() for p in (ROOT / "coordinator").rglob("*.py")}
    assert checkout <= set(names), sorted(checkout - set(names))


def test_the_declared_ranges_admit_the_pinned_versions(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as wheel:
        meta = Parser().parsestr(wheel.read("r2_video-0.2.0.dist-info/METADATA").decode())
    declared = [Requirement(r) for r in meta.get_all("Requires-Dist") or []]
    runtime = [r for r in declared if r.marker is None]
    pins = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    names = {canonicalize_name(r.name) for r in runtime}
    for name in ("pulumi", "pulumi-aws", "pulumi-cloudflare", "pulumi-random"):
        assert name in names, name
    # The Lambda zip is built from the installed copies of these: each must be a dependency.
    for name in RUNTIME_REQUIREMENTS:
        assert canonicalize_name(name) in names, f"the Lambda zip bundles {name}: declare it"
    for requirement in runtime:
        # Pinned in requirements.txt, or (packaging, pulled in by pulumi) the version installed.
        pin = pins.get(canonicalize_name(requirement.name)) or metadata.version(requirement.name)
        assert requirement.specifier.contains(pin), f"{requirement} refuses the pin {pin}"
    # And pip agrees that the fresh venv's dependencies satisfy the wheel's metadata.
    pip = (sys.executable, "-m", "pip", "--python", built["python"])
    _run(*pip, "check", cwd=built["tmp"])


@pytest.fixture(scope="module")
def consumer_plan(built: dict[str, Path]) -> dict:
    """examples/python-eu-region planned under mocks by the fresh venv's Python, from a temp cwd."""
    cwd = built["tmp"] / "consumer"
    cwd.mkdir()
    program = cwd / "__main__.py"
    shutil.copy2(EXAMPLE, program)
    shutil.copy2(HARNESS, cwd / "harness.py")
    out = cwd / "plan.json"
    _run(built["python"], "-I", "harness.py", program, out, ROOT, built["venv"], cwd=cwd)
    return json.loads(out.read_text(encoding="utf-8"))


def test_the_consumer_imports_the_package_from_the_venv(
    consumer_plan: dict, built: dict[str, Path]
) -> None:
    for module, path in consumer_plan["modules"].items():
        assert Path(path).resolve().is_relative_to(built["venv"].resolve()), (module, path)
    assert consumer_plan["version"] == "0.2.0"


def test_the_lambda_zip_builds_from_the_installed_package(
    consumer_plan: dict, built: dict[str, Path]
) -> None:
    zip_info = consumer_plan["lambda_zip"]
    # In the consumer's build/ (Pulumi runs a program from its folder), never in site-packages.
    assert Path(zip_info["path"]) == built["tmp"] / "consumer" / "build" / "coordinator.zip"
    # The same files as the checkout's zip: the installed coordinator is the checkout's.
    assert zip_info["digest"] == coordinator_package().digest


def _verdicts(plan: dict) -> tuple[tuple[str, str | None, str | None], set[tuple]]:
    statement = statement_from_plan(plan, {})
    entries = {(e.type, e.role, e.pinned_to, e.inside, e.data_bearing) for e in statement.entries}
    return (statement.jurisdiction, statement.aws_region, statement.aws_partition), entries


def test_the_consumer_region_gets_the_residency_verdicts_of_eu_prod(consumer_plan: dict) -> None:
    """The same kinds of resources, pinned to the same places, all inside the jurisdiction, as the
    repository's eu-prod stack (same jurisdiction, AWS region and Cloudflare plan)."""
    ours = json.loads((ROOT / "plans" / "eu-prod.json").read_text(encoding="utf-8"))
    config = load_stack_config("eu-prod").values
    assert (config["r2-video:jurisdiction"], config["r2-video:awsRegion"]) == ("eu", "eu-central-1")
    (j, region, partition), consumer = _verdicts(consumer_plan)
    assert (j, region, partition) == ("eu", "eu-central-1", "aws")
    assert _verdicts(ours)[0] == (j, region, partition)
    # Every verdict of the consumer's region is one of eu-prod's; eu-prod has one kind more, the
    # Sippy migration it configures and the example does not.
    assert consumer <= _verdicts(ours)[1], sorted(consumer - _verdicts(ours)[1])
    assert {v[0] for v in _verdicts(ours)[1] - consumer} == {"R2BucketSippy"}
    assert all(inside for (_, _, _, inside, _) in consumer)


def test_every_consumer_resource_is_a_child_of_its_region(consumer_plan: dict) -> None:
    resources = consumer_plan["resources"]
    (region,) = [r["urn"] for r in resources if r["type"] == "r2-video:index:SovereignVideoRegion"]
    tops = [r for r in consumer_plan["resources"] if r["parent"] == region]
    names = sorted(r["name"] for r in tops)
    assert names == sorted(
        [
            "eu-coordinator",
            "eu-coordinator-alarms",
            "eu-coordinator-r2",
            "eu-delivery",
            "eu-edge",
            "eu-mezzanine",
            "eu-random",
        ]
    ), names
    # The program's own providers served the region: it made no AWS or Cloudflare provider.
    providers = {r["name"] for r in consumer_plan["resources"] if r["type"].startswith("pulumi:")}
    assert providers == {"frankfurt", "cloudflare", "eu-random"}, providers
