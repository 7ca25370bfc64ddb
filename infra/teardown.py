"""Emptying a dev stack's R2 bucket, so that `pulumi destroy` can delete it.

R2 deletes only empty buckets and the provider has no force-destroy
(terraform-provider-cloudflare internal/services/r2_bucket/resource.go Delete: one
DeleteBucket call), so `pulumi destroy` of a dev stack whose bucket holds objects fails. This
deletes every object and aborts every incomplete multipart upload, through the S3 API with the
project's own client settings (``coordinator.s3client``). Production buckets are protected and
retained: this module is never the way to remove one.

One DeleteObject per key rather than DeleteObjects: a batch delete must carry a checksum, and
R2 has answered 501 to the CRC32 that botocore sends by default (R2-FACTS.md, S3 API).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

__all__ = ["Contents", "empty_bucket", "list_contents"]

_WORKERS = 8


@dataclass(frozen=True, slots=True)
class Contents:
    """What a bucket holds that keeps it from being deleted."""

    keys: tuple[str, ...]
    uploads: tuple[tuple[str, str], ...]
    """(key, upload id) of incomplete multipart uploads."""


def _keys(client: Any, bucket: str) -> Iterator[str]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents") or []:
            yield item["Key"]


def _uploads(client: Any, bucket: str) -> Iterator[tuple[str, str]]:
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for item in page.get("Uploads") or []:
            yield item["Key"], item["UploadId"]


def list_contents(client: Any, bucket: str) -> Contents:
    return Contents(keys=tuple(_keys(client, bucket)), uploads=tuple(_uploads(client, bucket)))


def empty_bucket(client: Any, bucket: str) -> Contents:
    """Delete every object and abort every multipart upload in ``bucket``; return what went.

    Lists again until nothing is left, so objects written while it runs go too.
    """
    gone_keys: list[str] = []
    gone_uploads: list[tuple[str, str]] = []
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        while True:
            contents = list_contents(client, bucket)
            if not contents.keys and not contents.uploads:
                return Contents(keys=tuple(gone_keys), uploads=tuple(gone_uploads))
            list(pool.map(lambda key: client.delete_object(Bucket=bucket, Key=key), contents.keys))
            list(
                pool.map(
                    lambda upload: client.abort_multipart_upload(
                        Bucket=bucket, Key=upload[0], UploadId=upload[1]
                    ),
                    contents.uploads,
                )
            )
            gone_keys.extend(contents.keys)
            gone_uploads.extend(contents.uploads)
