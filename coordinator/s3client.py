"""boto3 clients for the few calls that go over the network, created on first use.

boto3 costs a few hundred milliseconds to import and a few tens to build a client: a cold start
that only presigns never pays for it. The configuration follows what R2 needs and S3 accepts:
SigV4 only, checksums only when an operation requires them (boto3 >= 1.36 otherwise sends CRC32
headers that R2 answered with 501), explicit addressing style, short timeouts so a dead store
gives a quick 503 rather than a hung request.

Timeouts bound what a store that stops answering costs a request: a refused connection fails at
once, a silent one after ``MAX_ATTEMPTS`` x ``READ_TIMEOUT`` plus one backoff of at most 1 s
(about 11 s; it was 4 x 15 s = 60 s when ``max_attempts`` was read as a total: botocore's
``max_attempts`` counts retries, ``total_max_attempts`` counts the first try too). The read
timeout is per socket read, so S3's whitespace keep-alive during a long CompleteMultipartUpload
does not trip it.

References: https://developers.cloudflare.com/r2/examples/aws/boto3/ ,
https://github.com/boto/boto3/issues/2680 (SigV2 unless told s3v4),
https://github.com/boto/botocore/pull/3277 (default checksums), cloudflare-docs PR 19236,
https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html (keep-alive),
botocore.config.Config (``retries``).
"""

from __future__ import annotations

import threading
from typing import Any, Literal

from .sigv4 import Credentials

__all__ = ["CONNECT_TIMEOUT", "MAX_ATTEMPTS", "READ_TIMEOUT", "LazyClient", "make_client"]

CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
MAX_ATTEMPTS = 2  # in all, the first try included: one retry


def make_client(
    *,
    endpoint: str,
    region: str,
    credentials: Credentials,
    addressing_style: Literal["path", "virtual"] = "path",
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    max_attempts: int = MAX_ATTEMPTS,
) -> Any:
    """A boto3 S3 client for ``endpoint`` signed with ``credentials`` (imports boto3 now)."""
    from boto3.session import Session
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": addressing_style},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
    )
    # A session of its own: boto3's default session is shared mutable state.
    session = Session()
    return session.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        aws_session_token=credentials.session_token,
        config=config,
    )


class LazyClient:
    """Calling it returns one client, built on the first call (thread-safe)."""

    __slots__ = (
        "_addressing_style",
        "_client",
        "_credentials",
        "_endpoint",
        "_lock",
        "_options",
        "_region",
    )

    def __init__(
        self,
        *,
        endpoint: str,
        region: str,
        credentials: Credentials,
        addressing_style: Literal["path", "virtual"] = "path",
        **options: Any,
    ) -> None:
        """``options`` go to ``make_client`` (timeouts, attempts)."""
        self._endpoint = endpoint
        self._options = options
        self._region = region
        self._credentials = credentials
        self._addressing_style: Literal["path", "virtual"] = addressing_style
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LazyClient(endpoint={self._endpoint!r}, region={self._region!r})"

    def __call__(self) -> Any:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = make_client(
                        endpoint=self._endpoint,
                        region=self._region,
                        credentials=self._credentials,
                        addressing_style=self._addressing_style,
                        **self._options,
                    )
                client = self._client
        return client
