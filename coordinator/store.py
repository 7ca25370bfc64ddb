"""One object store the broker signs for, and its few network calls with their failures mapped
to the coordinator's errors (never a botocore exception past this module).

boto3 is imported only by the client factory a ``Store`` holds, on first use, so importing this
module (cold start) does not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from . import sigv4
from .errors import InvalidInput, NotFound, StoreUnavailable

__all__ = ["Store", "StoreRefused", "call"]

MAX_EXPIRES = sigv4.MAX_EXPIRES  # 7 days: SigV4's and R2's ceiling


@dataclass(frozen=True, slots=True)
class Store:
    """One object store and bucket the broker signs for, with a lazy boto3 client factory."""

    endpoint: str
    region: str
    bucket: str
    credentials: sigv4.Credentials
    client: Callable[[], Any] = field(repr=False, compare=False)
    addressing_style: Literal["path", "virtual"] = "path"
    max_expires: int = MAX_EXPIRES  # lower for temporary credentials of unknown expiry

    def presign(
        self,
        method: str,
        key: str,
        *,
        now: datetime,
        expires_in: int,
        content_type: str | None = None,
        query: Mapping[str, str] | None = None,
    ) -> str:
        return sigv4.presign_url(
            method,
            endpoint=self.endpoint,
            bucket=self.bucket,
            key=key,
            credentials=self.credentials,
            region=self.region,
            now=now,
            expires_in=expires_in,
            content_type=content_type,
            query=query,
            addressing_style=self.addressing_style,
        )


# S3 error codes that describe the client's request, not the store's health.
_NOT_FOUND_CODES = frozenset({"NoSuchUpload", "NoSuchKey", "NotFound", "404"})
_CLIENT_CODES = frozenset({"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "EntityTooLarge"})


class StoreRefused(StoreUnavailable):
    """The store answered with an error of its own (not: it did not answer)."""


def call(store: Store, operation: str, **params: Any) -> Mapping[str, Any]:
    """``client.<operation>(Bucket=..., **params)``, with the store's failures mapped."""
    # botocore is already imported once a client exists; importing here keeps it off the
    # module's import path (cold start).
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = store.client()
        return getattr(client, operation)(Bucket=store.bucket, **params)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        # A HEAD of a missing key is a 403 when the signer may not list the bucket.
        hidden_missing = operation == "head_object" and status == 403
        if code in _NOT_FOUND_CODES or status == 404 or hidden_missing:
            message = _NOT_FOUND_MESSAGES.get(operation, "not found")
            raise NotFound(message, code="not_found") from None
        if code in _CLIENT_CODES:
            message = f"the store refused the parts ({code})"
            raise InvalidInput(message, code="invalid_parts") from None
        message = f"the object store refused {operation} ({code or status})"
        raise StoreRefused(message) from None
    except BotoCoreError:
        raise StoreUnavailable(f"the object store did not answer {operation}") from None


_NOT_FOUND_MESSAGES = {
    "head_object": "object not found",
    "list_parts": "no such multipart upload for this path",
    "complete_multipart_upload": "no such multipart upload for this path",
    "abort_multipart_upload": "no such multipart upload for this path",
}
