"""Shared fixtures for the coordinator tests.

One SigV4-checking S3 server (the JuiceFS gateway, ``coordinator.embedded_store``) runs for the
whole session and plays both stores, as in the demo: the mezzanine bucket (signed for an AWS
region) and the delivery bucket (signed for R2's ``auto``). Each test works under its own job
prefix, so tests do not see each other's objects.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from coordinator.app import create_app
from coordinator.config import Settings, StoreSettings
from coordinator.demo import serve_in_thread
from coordinator.embedded_store import EmbeddedStore, embedded_store
from coordinator.handles import UploadHandles
from coordinator.s3client import make_client
from coordinator.tokens import JobScope, TokenCodec
from tests.coordinator.adapters import ADAPTERS, client_over

MEZZANINE_BUCKET = "test-mezzanine"
DELIVERY_BUCKET = "test-delivery"
MEZZANINE_KEY = "masters/sample.mov"
MEZZANINE_BYTES = bytes(range(256)) * 256  # 64 KiB
MEZZANINE_REGION = "eu-west-1"
SIGNING_KID = "k-2026"
OLD_KID = "k-2025"


@pytest.fixture(scope="session")
def store() -> Iterator[EmbeddedStore]:
    with embedded_store() as running:
        yield running


@pytest.fixture(scope="session")
def s3(store: EmbeddedStore) -> Any:
    """A boto3 client with the store's root credentials: for setting up and reading back."""
    client = make_client(endpoint=store.endpoint, region="auto", credentials=store.credentials)
    for bucket in (MEZZANINE_BUCKET, DELIVERY_BUCKET):
        client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=MEZZANINE_BUCKET, Key=MEZZANINE_KEY, Body=MEZZANINE_BYTES)
    return client


def make_settings(store: EmbeddedStore, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "admin_key": secrets.token_urlsafe(32),
        "token_keys": {SIGNING_KID: secrets.token_urlsafe(32), OLD_KID: secrets.token_urlsafe(32)},
        "signing_kid": SIGNING_KID,
        "mezzanine": StoreSettings(
            endpoint=store.endpoint,
            region=MEZZANINE_REGION,
            bucket=MEZZANINE_BUCKET,
            credentials=store.credentials,
        ),
        "delivery": StoreSettings(
            endpoint=store.endpoint,
            region="auto",
            bucket=DELIVERY_BUCKET,
            credentials=store.credentials,
        ),
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def settings(store: EmbeddedStore, s3: Any) -> Settings:
    return make_settings(store)


@pytest.fixture(scope="session")
def served(settings: Settings) -> Iterator[str]:
    """The coordinator served by uvicorn on a loopback port (real clock, real store behind)."""
    with serve_in_thread(create_app(settings)) as base_url:
        yield base_url


@pytest.fixture(scope="session", params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    """Each way a request reaches the core (tests/coordinator/adapters.py): a test that takes
    ``api`` or this runs once over ``serve`` and once over ``lambda``."""
    return request.param


@pytest.fixture(scope="session")
def api(adapter: str, settings: Settings) -> Iterator[httpx.Client]:
    """An HTTP client for the coordinator over ``adapter`` (paths relative to it)."""
    with client_over(adapter, settings) as client:
        yield client


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    """A plain HTTP client with no credentials: what a worker uses on presigned URLs."""
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def codec(settings: Settings) -> TokenCodec:
    return TokenCodec(settings.token_keys, signing_kid=settings.signing_kid)


@dataclass(frozen=True)
class Job:
    job_id: str
    token: str
    prefix: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def url(self, tail: str = "") -> str:
        return f"/v1/jobs/{self.job_id}{tail}"


@pytest.fixture
def new_job(api: httpx.Client, settings: Settings) -> Callable[..., Job]:
    """Creates a job through the admin API, under a fresh output prefix."""

    def create(ttl_seconds: int = 600) -> Job:
        prefix = f"jobs/{uuid.uuid4().hex}/"
        answer = api.post(
            "/v1/jobs",
            headers={"Authorization": f"Bearer {settings.admin_key}"},
            json={
                "mezzanine_key": MEZZANINE_KEY,
                "output_prefix": prefix,
                "ttl_seconds": ttl_seconds,
            },
        )
        assert answer.status_code == 201, answer.text
        body = answer.json()
        return Job(job_id=body["job_id"], token=body["worker_token"], prefix=prefix)

    return create


@pytest.fixture
def job(new_job: Callable[..., Job]) -> Job:
    return new_job()


@pytest.fixture(scope="session")
def mezzanine() -> tuple[str, bytes]:
    """The sample mezzanine object every job reads: (key, bytes)."""
    return MEZZANINE_KEY, MEZZANINE_BYTES


@pytest.fixture(scope="session")
def make_scope() -> Callable[..., JobScope]:
    """Builds a JobScope (to mint tokens by hand), issued now unless told otherwise."""

    def build(
        job_id: str = "job-1",
        prefix: str = "jobs/job-1/",
        *,
        issued_at: datetime | None = None,
        lifetime: timedelta = timedelta(minutes=10),
        mezzanine_keys: tuple[str, ...] = (MEZZANINE_KEY,),
    ) -> JobScope:
        start = issued_at or datetime.now(UTC).replace(microsecond=0)
        return JobScope(
            job_id=job_id,
            mezzanine_keys=mezzanine_keys,
            output_prefix=prefix,
            issued_at=start,
            expires_at=start + lifetime,
        )

    return build


@pytest.fixture(scope="session")
def settings_for(store: EmbeddedStore) -> Callable[..., Settings]:
    """Settings over the session's store, with any field overridden."""
    return lambda **overrides: make_settings(store, **overrides)


def sealed_upload(settings: Settings, job_id: str, key: str, store_upload_id: str = "u-1") -> str:
    """The upload handle the coordinator would hand out for ``store_upload_id`` (a test may name
    an upload the store never made, to reach the store call behind the handle check)."""
    handles = UploadHandles(settings.token_keys, signing_kid=settings.signing_kid)
    handle = handles.seal(job_id=job_id, key=key, upload_id=store_upload_id)
    assert handle is not None
    return handle
