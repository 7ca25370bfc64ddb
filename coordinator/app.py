"""The coordinator's factories: the broker over the configured stores, the framework-free core
(``coordinator/core.py``) over it, and the serve adapter (Starlette, ``coordinator/asgi.py``).

Importing this module imports no framework: the Lambda handler builds its core here too.

Routes (see ``/openapi.json`` and docs/coordinator.md):

* ``POST /v1/jobs`` (admin): create a job, get its worker token;
* ``POST /v1/playback`` (admin): signed playback URLs for the delivery hostnames;
* ``POST /v1/jobs/{job_id}/inputs``: presigned GET and HEAD of the mezzanine;
* ``POST /v1/jobs/{job_id}/outputs``: presigned PUTs under the output prefix;
* ``POST /v1/jobs/{job_id}/multipart``: start a multipart upload, presigned part URLs;
* ``GET /v1/jobs/{job_id}/multipart/{upload_id}``: parts stored so far, URLs for the rest;
* ``POST /v1/jobs/{job_id}/multipart/{upload_id}/complete``: complete with the ETags;
* ``DELETE /v1/jobs/{job_id}/multipart/{upload_id}``: abort;
* ``GET /healthz``, ``GET /openapi.json``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .broker import Broker
from .config import Settings, StoreSettings
from .core import Core
from .handlers import DEFAULT_JOB_TTL, MAX_FILES_PER_REQUEST, Clock
from .handles import UploadHandles
from .s3client import LazyClient
from .store import DEFAULT_STORE_BUDGET_SECONDS, Store

if TYPE_CHECKING:
    from .asgi import ServeAdapter

__all__ = [
    "DEFAULT_JOB_TTL",
    "MAX_FILES_PER_REQUEST",
    "build_broker",
    "create_app",
    "create_core",
]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build_broker(settings: Settings, **client_options: Any) -> Broker:
    """A broker over the configured stores, each with its ``s3client.S3Client`` (built on first
    use; no boto3).

    ``client_options`` go to ``S3Client`` (timeouts, attempts: tests shorten them).
    """

    def store(s: StoreSettings) -> Store:
        client = LazyClient(
            endpoint=s.endpoint,
            region=s.region,
            credentials=s.credentials,
            addressing_style=s.addressing_style,
            **client_options,
        )
        return Store(
            endpoint=s.endpoint,
            region=s.region,
            bucket=s.bucket,
            credentials=s.credentials,
            client=client,
            addressing_style=s.addressing_style,
            max_expires=s.max_expires,
        )

    return Broker(
        mezzanine=store(settings.mezzanine),
        delivery=store(settings.delivery),
        handles=UploadHandles(settings.token_keys, signing_kid=settings.signing_kid),
    )


def create_core(
    settings: Settings,
    *,
    clock: Clock | None = None,
    broker: Broker | None = None,
    store_budget_seconds: float = DEFAULT_STORE_BUDGET_SECONDS,
) -> Core:
    """The framework-free core. ``clock`` (timezone-aware UTC) and ``broker`` are injectable for
    tests; ``store_budget_seconds`` bounds the time one request spends in store calls, in all."""
    return Core(
        settings,
        clock=clock or _utc_now,
        broker=broker or build_broker(settings),
        store_budget_seconds=store_budget_seconds,
    )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    broker: Broker | None = None,
    store_budget_seconds: float = DEFAULT_STORE_BUDGET_SECONDS,
) -> ServeAdapter:
    """The ASGI app ``python -m coordinator serve`` runs: Starlette's body streaming over the
    core (arguments as ``create_core``)."""
    from .asgi import ServeAdapter  # Starlette: imported only by the serve path

    core = create_core(
        settings, clock=clock, broker=broker, store_budget_seconds=store_budget_seconds
    )
    return ServeAdapter(core)
