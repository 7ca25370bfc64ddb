"""The Lambda zip (infra/components/package.py): deterministic, pure Python, and self-contained.

The handler is run from the unpacked zip in a subprocess whose import path is only that
directory (``python -S``: no site-packages), against the session's embedded S3 store, so a
module missing from the zip fails here rather than on Lambda.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest

from coordinator.config import Settings
from coordinator.embedded_store import EmbeddedStore
from infra.components.package import (
    LambdaPackage,
    build_package,
    lambda_python,
)
from tests.coordinator.lambda_events import coordinator_env, function_url_event

# Runs inside the unpacked zip: answers Function URL events (payload 2.0) given on stdin.
_RUNNER = r"""
import json, sys
from pathlib import Path, PurePosixPath

root = Path(sys.argv[1]).resolve()
import jwt
from coordinator import lambda_handler
for module in (jwt, lambda_handler):
    assert Path(module.__file__).resolve().is_relative_to(root), module.__file__

answers = [lambda_handler.handler(event, None) for event in json.load(sys.stdin)]
# Serving loaded no web framework and no event loop (the zip has none to load), and the store
# calls were the coordinator's own: no boto3 is bundled, none was imported.
loaded = [m for m in ("starlette", "mangum", "anyio", "asyncio", "boto3", "botocore")
          if m in sys.modules]
assert not loaded, loaded
json.dump(answers, sys.stdout)
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[LambdaPackage, LambdaPackage]:
    """The package built twice from scratch, into two places."""
    first = build_package(tmp_path_factory.mktemp("one") / "coordinator.zip", force=True)
    second = build_package(tmp_path_factory.mktemp("two") / "coordinator.zip", force=True)
    return first, second


@pytest.fixture(scope="module")
def unpacked(built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("lambda") / "task"
    with zipfile.ZipFile(built[0].path) as archive:
        archive.extractall(target)
    return target


def test_two_builds_are_byte_identical(built):
    first, second = built
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()
    assert hashlib.sha256(first.path.read_bytes()).hexdigest() == first.sha256
    assert first.digest == second.digest


def test_a_cached_build_is_reused_and_checked(built, tmp_path):
    target = tmp_path / "coordinator.zip"
    made = build_package(target)
    stamp = target.stat().st_mtime_ns
    assert build_package(target).sha256 == made.sha256
    assert target.stat().st_mtime_ns == stamp, "an up-to-date zip must not be rewritten"
    target.write_bytes(b"tampered")
    assert build_package(target).sha256 == built[0].sha256, (
        "a zip that no longer matches is rebuilt"
    )


def test_entries_are_sorted_with_fixed_times_and_modes(built):
    with zipfile.ZipFile(built[0].path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert len(names) == len(set(names)) == built[0].files
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
        assert info.external_attr >> 16 == 0o100644, info.filename


# CPython 3.13's bytecode magic: "Python 3.13b1 3571" (Lib/importlib/_bootstrap_external.py),
# and PEP 552's flags word 0b01: hash-based, source not checked.
_MAGIC_313 = (3571).to_bytes(2, "little") + b"\r\n"
_UNCHECKED_HASH = (1).to_bytes(4, "little")


def test_pure_python_only_no_installer_files(built):
    with zipfile.ZipFile(built[0].path) as archive:
        names = archive.namelist()
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib", ".dll"))]
    assert not [n for n in names if n.endswith(("/RECORD", "/INSTALLER", "/direct_url.json"))]
    assert "coordinator/lambda_handler.py" in names
    assert any(n.startswith("jwt/") for n in names)
    # The Lambda path needs no web framework and no boto3: neither they nor what only they
    # pulled in ship.
    for top in ("mangum/", "starlette/", "anyio/", "idna/", "typing_extensions.py",
                "boto3/", "botocore/", "urllib3/", "s3transfer/"):
        assert not any(n.startswith(top) for n in names), top
    assert not [d for d in built[0].distributions if d.startswith(("boto3==", "botocore=="))]


def test_the_worker_client_ships_without_its_dependencies(built):
    # coordinator/ is bundled whole; the client in it is never imported on Lambda (see
    # tests/coordinator/test_client_units.py), and its httpx and tqdm stay out of the zip.
    with zipfile.ZipFile(built[0].path) as archive:
        names = archive.namelist()
    assert "coordinator/client/publisher.py" in names
    assert not [n for n in names if n.startswith(("httpx/", "httpcore/", "tqdm/"))]
    assert not [d for d in built[0].distributions if d.startswith(("httpx==", "tqdm=="))]


def test_bytecode_is_the_runtimes_own_or_none(built):
    """Issue 15: pycs compiled by CPython 3.13 (the Lambda runtime), unchecked-hash, one per
    module beside its source, recording /var/task paths; never pycs of another version."""
    with zipfile.ZipFile(built[0].path) as archive:
        names = set(archive.namelist())
        pycs = sorted(n for n in names if n.endswith((".pyc", ".pyo")) or "__pycache__/" in n)
        heads = {n: archive.read(n)[:8] for n in pycs}
    if lambda_python() is None:
        assert pycs == [] and built[0].bytecode is None
        return
    assert built[0].bytecode is not None and built[0].bytecode.startswith("3.13.")
    sources = {n for n in names if n.endswith(".py")}
    assert len(pycs) == len(sources)
    for pyc in pycs:
        path = PurePosixPath(pyc)
        stem, _, tag = path.name.partition(".")
        assert path.parent.name == "__pycache__" and tag == "cpython-313.pyc", pyc
        assert (path.parent.parent / f"{stem}.py").as_posix() in sources, pyc
        assert heads[pyc] == _MAGIC_313 + _UNCHECKED_HASH, pyc


def test_bytecode_runs_under_the_runtimes_python(unpacked: Path):
    """Importing the handler compiles nothing from source, and the pycs record /var/task
    (where Lambda runs them) rather than the directory they were compiled from."""
    python = lambda_python()
    if python is None:
        pytest.skip("no CPython 3.13 on this machine: the package has no bytecode")
    probe = "\n".join(
        [
            "import marshal, importlib._bootstrap_external as external",
            "def refuse(self, data, path, **_):",
            "    raise SystemExit(f'compiled from source: {path}')",
            "external.SourceLoader.source_to_code = refuse",
            "import coordinator.lambda_handler",
            "pyc = open('coordinator/__pycache__/lambda_handler.cpython-313.pyc', 'rb').read()",
            "print(marshal.loads(pyc[16:]).co_filename)",
        ]
    )
    done = subprocess.run(
        [python[0], "-S", "-c", probe],
        env={"PYTHONPATH": str(unpacked), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        cwd=unpacked,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "/var/task/coordinator/lambda_handler.py"


def test_unpacked_zip_serves_function_url_events(
    unpacked: Path,
    store: EmbeddedStore,
    settings: Settings,
    http: httpx.Client,
    s3: Any,
    mezzanine: tuple[str, bytes],
    tmp_path: Path,
):
    """healthz, then a job: create (HEAD through the zip's S3Client), inputs, outputs, upload."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(unpacked),
        **coordinator_env(settings, store),
    }

    def run(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        done = subprocess.run(
            [sys.executable, "-S", "-c", _RUNNER, str(unpacked)],
            input=json.dumps(events),
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    health, created = run(
        [
            function_url_event("GET", "/healthz"),
            function_url_event(
                "POST",
                "/v1/jobs",
                body={"mezzanine_key": mezzanine[0], "output_prefix": "jobs/zip/"},
                token=settings.admin_key,
            ),
        ]
    )
    assert health["statusCode"] == 200 and json.loads(health["body"]) == {"status": "ok"}
    assert created["statusCode"] == 201, created
    job = json.loads(created["body"])

    inputs, outputs = run(
        [
            function_url_event(
                "POST", f"/v1/jobs/{job['job_id']}/inputs", token=job["worker_token"]
            ),
            function_url_event(
                "POST",
                f"/v1/jobs/{job['job_id']}/outputs",
                body={"files": [{"path": "index.m3u8", "content_type": "application/x-mpegURL"}]},
                token=job["worker_token"],
            ),
        ]
    )
    assert inputs["statusCode"] == 200, inputs
    assert http.get(json.loads(inputs["body"])["inputs"][0]["get_url"]).content == mezzanine[1]
    assert outputs["statusCode"] == 200, outputs
    put = json.loads(outputs["body"])["files"][0]
    playlist = b"#EXTM3U\n"
    assert http.put(put["url"], content=playlist, headers=put["headers"]).status_code == 200
    stored = s3.get_object(Bucket=settings.delivery.bucket, Key=put["key"])
    assert stored["Body"].read() == playlist and put["key"] == f"{job['output_prefix']}index.m3u8"
