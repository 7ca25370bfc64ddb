"""A thin client of the coordinator's worker API (docs/coordinator.md), over httpx.

One method a route. 5xx answers (the coordinator says 503 with ``Retry-After`` when its store
is down), timeouts and broken connections are retried with capped exponential backoff and
jitter, except 502 ``store_integrity`` (the same call cannot help). A 4xx is raised at once as
``CoordinatorRefused`` with the JSON ``error.code``, which callers switch on. Upload ids are
opaque strings: they are passed back exactly as received.

The worker token travels only in the ``Authorization`` header; no message here quotes it.

References: docs/coordinator.md (routes, error shape); RFC 9110 section 10.2.3 (Retry-After).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

__all__ = [
    "FINAL_5XX_CODES",
    "CoordinatorApi",
    "CoordinatorRefused",
    "CoordinatorUnavailable",
    "RetryPolicy",
]


# 5xx answers that are final: retrying the same call cannot help (docs/coordinator.md).
FINAL_5XX_CODES = frozenset({"store_integrity"})  # completed, but not what was asked: upload again


class CoordinatorRefused(Exception):
    """The coordinator answered 4xx (or a final 5xx): ``status``, ``code`` (its
    ``error.code``), ``message``."""

    def __init__(self, operation: str, status: int, code: str, message: str) -> None:
        super().__init__(f"coordinator refused {operation}: {status} {code}: {message}")
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message


class CoordinatorUnavailable(Exception):
    """The coordinator (or its store) kept failing after every retry."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """Attempts and backoff for transient failures; ``sleep``/``rng`` injectable for tests."""

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Full-jitter backoff for retry ``attempt`` (1-based), at least ``Retry-After``."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        wait = ceiling * self.rng()
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
        error = body["error"]
        return str(error["code"])[:100], str(error["message"])[:500]
    except (ValueError, KeyError, TypeError):
        return "unknown", f"non-JSON answer ({response.headers.get('content-type', 'no type')})"


class CoordinatorApi:
    """The worker routes of one job. ``client`` (an ``httpx.Client``) is injectable."""

    def __init__(
        self,
        base_url: str,
        *,
        job_id: str,
        token: str,
        client: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.job_id = job_id
        self._job = f"{base_url.rstrip('/')}/v1/jobs/{quote(job_id, safe='')}"
        self._auth = {"Authorization": f"Bearer {token}"}
        self._client = client or httpx.Client(timeout=timeout)
        self._owns_client = client is None
        self.retry = retry or RetryPolicy()
        self.retries = 0  # transient failures retried, for the summary

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> CoordinatorApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- routes ---------------------------------------------------------------------------------

    def inputs(self) -> dict[str, Any]:
        return self._call("inputs", "POST", "/inputs", json={})

    def outputs(self, files: Sequence[Mapping[str, str]]) -> list[dict[str, Any]]:
        """Presigned PUTs for ``files`` ([{path, content_type}], at most 100 a call)."""
        answer = self._call("outputs", "POST", "/outputs", json={"files": list(files)})
        return list(answer["files"])

    def create_multipart(
        self, path: str, *, size: int, content_type: str, cache_control: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"path": path, "size": size, "content_type": content_type}
        if cache_control is not None:
            body["cache_control"] = cache_control  # fixed at creation: parts carry no headers
        return self._call("create multipart", "POST", "/multipart", json=body)

    def multipart_status(self, upload_id: str, *, path: str, size: int) -> dict[str, Any]:
        return self._call(
            "multipart status",
            "GET",
            f"/multipart/{quote(upload_id, safe='')}",
            params={"path": path, "size": str(size)},
        )

    def complete_multipart(
        self, upload_id: str, *, path: str, size: int, parts: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        body = {"path": path, "size": size, "parts": list(parts)}
        return self._call(
            "complete multipart",
            "POST",
            f"/multipart/{quote(upload_id, safe='')}/complete",
            json=body,
        )

    def abort_multipart(self, upload_id: str, *, path: str) -> None:
        self._call(
            "abort multipart",
            "DELETE",
            f"/multipart/{quote(upload_id, safe='')}",
            params={"path": path},
        )

    # -- transport ------------------------------------------------------------------------------

    def _call(
        self,
        operation: str,
        method: str,
        tail: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        policy = self.retry
        problem = "no attempt made"
        for attempt in range(1, policy.attempts + 1):
            retry_after = None
            try:
                response = self._client.request(
                    method, self._job + tail, json=json, params=params, headers=self._auth
                )
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                problem = f"{type(exc).__name__}"
            else:
                if response.status_code < 300:
                    return response.json() if response.content else {}
                code, message = _error(response)
                if response.status_code < 500 or code in FINAL_5XX_CODES:
                    raise CoordinatorRefused(operation, response.status_code, code, message)
                problem = f"{response.status_code} {code}: {message}"
                retry_after = _retry_after(response)
            if attempt < policy.attempts:
                self.retries += 1
                policy.sleep(policy.delay(attempt, retry_after))
        raise CoordinatorUnavailable(
            f"coordinator {operation} failed {policy.attempts} times; last: {problem}"
        )
