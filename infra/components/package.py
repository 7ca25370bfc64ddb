"""The coordinator's Lambda package: one deterministic zip, built offline from the venv.

``build_package()`` copies ``coordinator/`` and the installed files of its pure-Python runtime
dependencies (found from ``importlib.metadata``: no pip, no network at build time) into
``build/coordinator.zip`` (gitignored), and returns its path and digests. Same inputs, same
bytes: entries sorted by name, every timestamp 1980-01-01 00:00:00, every mode 0644, the
installer's own files (``RECORD``, ``INSTALLER``...) and the venv's ``__pycache__`` left out.

* **Bytecode of the runtime's Python**: every ``.py`` is compiled by a CPython of the runtime's
  minor version (``LAMBDA_PYTHON``, found on PATH or under pyenv; ``LAMBDA_PYTHON_EXE`` names
  one), so a cold start loads ``__pycache__/*.cpython-313.pyc`` instead of compiling (issue 15).
  The pycs are reproducible: unchecked-hash pycs (no source mtime inside, and the read-only
  ``/var/task`` is never revalidated), compiled as ``/var/task/<name>`` (the path the code runs
  from, which pycs embed for tracebacks) with a fixed hash seed. Without that Python the zip
  ships no bytecode, with a message: pycs of another version would be ignored by the runtime.

* **No native code**: a ``.so``/``.pyd``/``.dylib`` in the package raises ``PackageError``, so one
  zip runs on arm64 and x86_64 alike.
* **No boto3**: the coordinator's store and Secrets Manager calls are its own
  (``coordinator.s3client``, ``coordinator.secrets``: the sigv4 signer over ``httppool``), so
  neither boto3 nor botocore (nor their urllib3, s3transfer, jmespath, dateutil) is bundled, and
  the runtime's own boto3 is never imported.
* **Cached by input digest**: the digest covers every entry's name and bytes plus the builder's
  format version; when ``build/coordinator.zip`` and its sidecar ``.json`` already record that
  digest the zip is reused (hashing the inputs takes tens of milliseconds; compressing, about a
  second). The digest, not the zip's SHA-256, is what the program passes as
  ``source_code_hash``: it depends only on the files, not on the zlib that compressed them.

Run ``python -m infra.components.package`` to build it and print its size, file count and digests.

References: https://docs.aws.amazon.com/lambda/latest/dg/python-package.html ,
https://reproducible-builds.org/docs/archives/
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path, PurePosixPath

from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

__all__ = [
    "DEFAULT_OUTPUT",
    "LAMBDA_PYTHON",
    "RUNTIME_REQUIREMENTS",
    "LambdaPackage",
    "PackageError",
    "build_package",
    "lambda_python",
    "package_entries",
]


# Bump when the archive layout changes, so cached zips of the old layout are rebuilt.
FORMAT_VERSION = "2"

# The distributions the coordinator imports on Lambda; their own requirements follow. No web
# framework (the Lambda adapter hands the event to the core, coordinator/core.py; Starlette is
# for `serve` only) and no boto3 (store and Secrets Manager calls are the coordinator's own
# signed requests, coordinator/s3client.py and secrets.py).
RUNTIME_REQUIREMENTS = ("PyJWT",)
# The Python the package targets (infra.components.coordinator_service.LAMBDA_RUNTIME); dependency
# markers such as `python_version < "3.13"` are evaluated for it.
LAMBDA_PYTHON = "3.13"

_NATIVE_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
# Written by the installer, not the package: they differ between machines and pip versions.
_INSTALLER_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# Where Lambda unpacks the zip; the pycs record it as their source path.
TASK_ROOT = "/var/task"
_FILE_MODE = 0o100644  # regular file, rw-r--r--


class PackageError(RuntimeError):
    """The package cannot be built as promised (missing distribution, native code...)."""


def _source_root() -> Path:
    """The folder that holds the ``coordinator`` package: the checkout, or the site-packages
    the ``r2-video`` wheel was installed into. Found from the import system, not from this
    file's place, so the zip builds from wherever the package is installed."""
    spec = importlib.util.find_spec("coordinator")
    if spec is None or spec.origin is None:
        raise PackageError("the coordinator package is not importable: install r2-video")
    return Path(spec.origin).resolve().parent.parent


def _default_output(root: Path) -> Path:
    # A checkout builds into its own build/ (gitignored); an installed package never writes
    # into site-packages, but into build/ of the program that uses it (Pulumi runs a program
    # from its project folder).
    if (root / "pyproject.toml").is_file() and (root / "coordinator").is_dir():
        return root / "build" / "coordinator.zip"
    return Path.cwd() / "build" / "coordinator.zip"


SOURCE_ROOT = _source_root()
DEFAULT_OUTPUT = _default_output(SOURCE_ROOT)


@dataclass(frozen=True, slots=True)
class LambdaPackage:
    """A built package: where it is and what identifies its contents."""

    path: Path
    digest: str
    """Hex SHA-256 over the entries (names and bytes) and the format version."""
    sha256: str
    """Hex SHA-256 of the zip file itself."""
    size: int
    files: int
    distributions: tuple[str, ...]
    """``name==version`` of every bundled distribution, sorted."""
    bytecode: str | None = None
    """The CPython version that compiled the pycs, or None when the zip has none."""

    @property
    def source_code_hash(self) -> str:
        """The digest, base64-encoded like Terraform's ``filebase64sha256``."""
        return base64.b64encode(bytes.fromhex(self.digest)).decode("ascii")


def _target_environment() -> dict[str, str]:
    env = {key: str(value) for key, value in default_environment().items()}
    env.update(
        python_version=LAMBDA_PYTHON,
        python_full_version=f"{LAMBDA_PYTHON}.0",
        implementation_name="cpython",
        platform_python_implementation="CPython",
        sys_platform="linux",
        platform_system="Linux",
        os_name="posix",
        platform_machine="aarch64",
    )
    return env


def _closure(roots: Iterable[str]) -> list[metadata.Distribution]:
    """The distributions ``roots`` need on Lambda, requirements followed transitively."""
    env = _target_environment()
    found: dict[str, metadata.Distribution] = {}
    pending = list(roots)
    while pending:
        name = canonicalize_name(pending.pop())
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise PackageError(
                f"{name} is not installed: pip install -r requirements.txt"
            ) from None
        found[name] = dist
        for line in dist.requires or ():
            requirement = Requirement(line)
            marker: Marker | None = requirement.marker
            if marker is None or marker.evaluate({**env, "extra": ""}):
                pending.append(requirement.name)
    return [found[name] for name in sorted(found)]


def _keep(archive_name: str) -> bool:
    parts = PurePosixPath(archive_name).parts
    if "__pycache__" in parts or archive_name.endswith((".pyc", ".pyo")):
        return False
    return not (parts[0].endswith(".dist-info") and parts[-1] in _INSTALLER_FILES)


def _coordinator_files(root: Path) -> Iterator[tuple[str, Path]]:
    source = root / "coordinator"
    for path in sorted(source.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if _keep(name):
            yield name, path


def _distribution_files(dist: metadata.Distribution) -> Iterator[tuple[str, Path]]:
    for record in dist.files or ():
        name = PurePosixPath(str(record)).as_posix()
        if name.startswith("../") or name.startswith("/"):
            continue  # console scripts and data outside site-packages
        if _keep(name):
            yield name, Path(str(dist.locate_file(record)))


def package_entries(root: Path = SOURCE_ROOT) -> tuple[list[tuple[str, Path]], list[str]]:
    """Every (archive name, source file) of the package, sorted, and the distributions bundled.

    Raises PackageError on native code, a missing file, or two sources for one name.
    """
    dists = _closure(RUNTIME_REQUIREMENTS)
    entries: dict[str, Path] = {}
    sources = [_coordinator_files(root), *(_distribution_files(d) for d in dists)]
    for name, path in (item for source in sources for item in source):
        if name.endswith(_NATIVE_SUFFIXES):
            raise PackageError(f"{name} is native code: the package must be pure Python")
        if name in entries and entries[name] != path:
            raise PackageError(f"{name} comes from two places: {entries[name]} and {path}")
        if not path.is_file():
            raise PackageError(f"{name}: {path} is listed by its distribution but missing")
        entries[name] = path
    versions = sorted(f"{d.metadata['Name']}=={d.version}" for d in dists)
    return sorted(entries.items()), versions


# Runs under the runtime's Python: compiles (archive name, source path) pairs read from stdin
# into argv[1], answering (pyc archive name, pyc path) pairs; a file that does not compile is
# left without a pyc (importing it fails on Lambda either way).
_COMPILER = r"""
import importlib.util, json, py_compile, sys
from pathlib import Path
out = Path(sys.argv[1])
UNCHECKED = py_compile.PycInvalidationMode.UNCHECKED_HASH
done = []
for name, source in json.load(sys.stdin):
    pyc = importlib.util.cache_from_source(name)
    try:
        py_compile.compile(source, cfile=str(out / pyc), dfile=sys.argv[2] + "/" + name,
                           doraise=True, invalidation_mode=UNCHECKED)
    except py_compile.PyCompileError:
        continue
    done.append((pyc, str(out / pyc)))
json.dump(done, sys.stdout)
"""


def _python_version(executable: str) -> str | None:
    """``executable``'s full version if it is a CPython of ``LAMBDA_PYTHON``, else None."""
    probe = "import sys; print(sys.implementation.name, sys.version.split()[0])"
    try:
        done = subprocess.run(  # noqa: S603 (a Python found above, fixed arguments)
            [executable, "-I", "-c", probe], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    name, _, version = done.stdout.strip().partition(" ")
    if done.returncode != 0 or name != "cpython":
        return None
    return version if version.split(".")[:2] == LAMBDA_PYTHON.split(".") else None


@cache
def lambda_python() -> tuple[str, str] | None:
    """(executable, full version) of a CPython ``LAMBDA_PYTHON`` on this machine, or None."""
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    candidates = [
        os.environ.get("LAMBDA_PYTHON_EXE"),
        shutil.which(f"python{LAMBDA_PYTHON}"),  # may be a pyenv shim that refuses: probed
        *(str(p) for p in sorted(pyenv.glob(f"{LAMBDA_PYTHON}.*/bin/python{LAMBDA_PYTHON}"))),
    ]
    for executable in candidates:
        if executable and (version := _python_version(executable)):
            return executable, version
    print(
        f"package: no CPython {LAMBDA_PYTHON} found (PATH, pyenv, LAMBDA_PYTHON_EXE): the Lambda "
        "zip ships without bytecode and each cold start compiles it",
        file=sys.stderr,
    )
    return None


def _bytecode(entries: list[tuple[str, Path]], out: Path) -> list[tuple[str, Path]]:
    """(archive name, path) of a pyc per ``.py`` entry, compiled by the runtime's Python."""
    python = lambda_python()
    if python is None:
        return []
    sources = [(name, str(path)) for name, path in entries if name.endswith(".py")]
    done = subprocess.run(  # noqa: S603 (the runtime's Python, our own script)
        [python[0], "-I", "-c", _COMPILER, str(out), TASK_ROOT],
        input=json.dumps(sources),
        capture_output=True,
        text=True,
        env={"PYTHONHASHSEED": "0", "PATH": os.environ.get("PATH", "")},  # fixed set order
        timeout=600,
    )
    if done.returncode != 0:
        raise PackageError(f"compiling with {python[0]} failed: {done.stderr[-2000:]}")
    return [(name, Path(path)) for name, path in json.loads(done.stdout)]


def _digest(entries: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256(f"r2-video lambda package v{FORMAT_VERSION}\n".encode())
    # The pycs are a function of the sources and the compiler: its version stands for them.
    python = lambda_python()
    digest.update(f"bytecode: {python[1] if python else 'none'}\n".encode())
    for name, path in entries:
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{name}\0{content}\n".encode())
    return digest.hexdigest()


def _write_zip(entries: list[tuple[str, Path]], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            for name, path in entries:
                info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
                info.create_system = 3  # Unix, so external_attr carries the mode
                info.external_attr = _FILE_MODE << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes(), compresslevel=9)
        os.chmod(tmp, 0o644)  # mkstemp made it private; it is a build output like any other
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cached(target: Path, digest: str) -> dict[str, object] | None:
    sidecar = target.with_name(target.name + ".json")
    try:
        recorded = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict) or recorded.get("digest") != digest:
        return None
    if not target.is_file() or _file_sha256(target) != recorded.get("sha256"):
        return None
    return recorded


def build_package(
    output: Path = DEFAULT_OUTPUT, *, root: Path = SOURCE_ROOT, force: bool = False
) -> LambdaPackage:
    """Build (or reuse) the coordinator's Lambda zip at ``output``."""
    entries, versions = package_entries(root)
    digest = _digest(entries)
    python = lambda_python()
    if force or _cached(output, digest) is None:
        with tempfile.TemporaryDirectory(prefix="pyc-") as pycs:
            files = sorted([*entries, *_bytecode(entries, Path(pycs))])
            _write_zip(files, output)
        record = {
            "bytecode": python[1] if python else None,
            "digest": digest,
            "sha256": _file_sha256(output),
            "files": len(files),
            "distributions": versions,
        }
        sidecar = output.with_name(output.name + ".json")
        sidecar.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    with zipfile.ZipFile(output) as archive:
        count = len(archive.namelist())
    return LambdaPackage(
        path=output,
        digest=digest,
        sha256=_file_sha256(output),
        size=output.stat().st_size,
        files=count,
        distributions=tuple(versions),
        bytecode=python[1] if python else None,
    )


@cache
def coordinator_package() -> LambdaPackage:
    """The package at its default place, built at most once per process (the program's entry)."""
    return build_package()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    force = "--force" in args
    start = time.perf_counter()
    package = build_package(force=force)
    elapsed = time.perf_counter() - start
    shown = (
        package.path.relative_to(Path.cwd())
        if package.path.is_relative_to(Path.cwd())
        else package.path
    )
    print(f"{shown}: {package.size:,} bytes, {package.files:,} files, {elapsed:.2f} s")
    print(f"  sha256 (zip)      {package.sha256}")
    print(f"  digest (entries)  {package.digest}")
    print(f"  source_code_hash  {package.source_code_hash}")
    print(f"  bundles           {', '.join(package.distributions)}")
    print(f"  bytecode          {package.bytecode or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
