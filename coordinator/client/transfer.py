"""Transfers to presigned URLs: one PUT of a file or of one part, retried when the failure is
transient, and checked against the bytes sent.

* The request carries only what the URL was signed for plus ``Content-MD5`` (RFC 1864): the
  store recomputes it and refuses a body damaged on the way (``BadDigest``), so what is stored
  is what was read. ``Cache-Control`` rides along on whole-file PUTs (stored as object metadata).
* 5xx, 429, timeouts and broken connections are retried with capped, jittered exponential
  backoff; another 4xx is final. A 403 whose body says the request has expired is reported as
  ``UrlExpired`` so the caller can ask the coordinator for a fresh URL.
* The store's ``ETag`` for a single PUT or a part is the MD5 of the bytes: a different one is
  an error, never a success.
* Nothing printed or raised here contains the URL's query string (it holds the signature).

References: RFC 1864 (Content-MD5); https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
and API_UploadPart.html (ETag is the MD5 of the object/part data for unencrypted uploads);
https://developers.cloudflare.com/r2/api/s3/presigned-urls/
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from .api import RetryPolicy

__all__ = [
    "PutResult",
    "StoreRefusedUpload",
    "Transfer",
    "UrlExpired",
    "md5_of_file",
    "read_range",
    "redact",
]

CHUNK = 1024 * 1024


def redact(url: str) -> str:
    """``url`` without its query string (SigV4 puts the signature there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?…" if parts.query else "")


def md5_of_file(path: Path, *, start: int = 0, length: int | None = None) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = length
        while remaining is None or remaining > 0:
            block = handle.read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not block:
                break
            digest.update(block)
            if remaining is not None:
                remaining -= len(block)
    return digest.hexdigest()


def read_range(path: Path, start: int, length: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(start)
        data = handle.read(length)
    if len(data) != length:
        raise OSError(
            f"{path}: expected {length} bytes at {start}, read {len(data)} (file changed?)"
        )
    return data


class StoreRefusedUpload(Exception):
    """The store refused a PUT, or kept failing, or stored other bytes; the message says which."""


class UrlExpired(StoreRefusedUpload):
    """The presigned URL is no longer valid: ask the coordinator for a new one."""


@dataclass(frozen=True, slots=True)
class PutResult:
    etag: str
    attempts: int


class Transfer:
    """PUTs to presigned URLs with one ``httpx.Client`` (which never carries credentials)."""

    def __init__(
        self,
        *,
        client: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        on_bytes: Callable[[int], None] | None = None,
    ) -> None:
        self._client = client or httpx.Client(timeout=timeout)
        self._owns_client = client is None
        self.retry = retry or RetryPolicy()
        self.on_bytes = on_bytes
        self.retries = 0

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def put(
        self,
        url: str,
        data: bytes,
        *,
        headers: Mapping[str, str] | None = None,
        what: str,
        md5: bytes | None = None,
    ) -> PutResult:
        """PUT ``data`` to ``url`` with ``headers`` and Content-MD5; the store's MD5 ETag.

        ``md5`` is the data's binary MD5 when the caller has it already.
        """
        md5 = md5 or hashlib.md5(data, usedforsecurity=False).digest()
        expected = md5.hex()
        sent = {**(headers or {}), "Content-MD5": base64.b64encode(md5).decode()}
        policy = self.retry
        problem = "no attempt made"
        for attempt in range(1, policy.attempts + 1):
            retry_after = None
            try:
                response = self._client.put(url, content=data, headers=sent)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                problem = type(exc).__name__
            else:
                status = response.status_code
                if status < 300:
                    etag = response.headers.get("etag", "").strip('"')
                    if etag != expected:
                        raise StoreRefusedUpload(
                            f"{what}: the store answered ETag {etag or 'none'} for bytes whose "
                            f"MD5 is {expected}: not stored as sent"
                        )
                    if self.on_bytes is not None:
                        self.on_bytes(len(data))
                    return PutResult(etag=etag, attempts=attempt)
                body = response.text[:2000]
                if status == 403 and "expired" in body.lower():
                    raise UrlExpired(f"{what}: the presigned URL has expired ({redact(url)})")
                if status < 500 and status != 429:
                    code = _s3_code(body)
                    raise StoreRefusedUpload(
                        f"{what}: the store refused the PUT: {status} {code} ({redact(url)})"
                    )
                problem = f"{status} {_s3_code(body)}"
                value = response.headers.get("retry-after", "")
                retry_after = float(value) if value.isdigit() else None
            if attempt < policy.attempts:
                self.retries += 1
                policy.sleep(policy.delay(attempt, retry_after))
        raise StoreRefusedUpload(
            f"{what}: the store failed {policy.attempts} times; last: {problem} ({redact(url)})"
        )


def _s3_code(body: str) -> str:
    start = body.find("<Code>")
    end = body.find("</Code>")
    if start == -1 or end <= start:
        return "no S3 error code"
    return body[start + 6 : end][:64]
