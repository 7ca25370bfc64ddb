"""The main job end to end, and the embedded store's promise to leave nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from coordinator.embedded_store import embedded_store

REPO = Path(__file__).resolve().parents[2]


def _gateway_processes() -> set[str]:
    """Command lines of running JuiceFS gateways on an r2video-store volume (a read-only look)."""
    found = set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "gateway" in cmdline and any("r2video-store-" in arg for arg in cmdline):
            found.add(" ".join(cmdline))
    return found


def _answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/minio/health/live", timeout=1):  # noqa: S310
            return True
    except (urllib.error.URLError, OSError):
        return False


def test_demo_runs_end_to_end_and_leaves_nothing_behind(tmp_path: Path) -> None:
    # The demo gets a temporary folder of its own, so what it leaves behind is told apart from
    # the stores that other tests (or other pytest workers) run at the same time.
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", "demo"],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for step in ("presigned GET mezzanine", "publish (worker killed)",
                 "publish again (resumed)", "multipart resumed", "master last",
                 "multipart abort", "read back + sha256", "demo OK"):  # fmt: skip
        assert step in result.stdout, result.stdout
    assert not list(tmp_path.glob("r2video-store-*")), "the demo left its store's folder"
    assert not any(str(tmp_path) in cmdline for cmdline in _gateway_processes())


@pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs /proc to see processes")
def test_store_is_stopped_and_removed_even_when_the_block_fails() -> None:
    with pytest.raises(RuntimeError, match="boom"), embedded_store() as store:
        assert _answers(store.endpoint)
        assert store.workdir.is_dir()
        raise RuntimeError("boom")
    assert not store.workdir.exists()
    assert not _answers(store.endpoint)
    assert not any(str(store.workdir) in cmdline for cmdline in _gateway_processes())
