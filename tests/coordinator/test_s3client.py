"""The boto3 clients the coordinator builds: SigV4, and no default checksums (R2 answered 501).

References: https://github.com/boto/botocore/pull/3277 , cloudflare-docs PR 19236.
"""

from __future__ import annotations

from typing import Any

from coordinator.embedded_store import EmbeddedStore
from coordinator.s3client import LazyClient, make_client


def test_uploads_carry_no_checksum_headers(store: EmbeddedStore, s3: Any) -> None:
    client = make_client(endpoint=store.endpoint, region="auto", credentials=store.credentials)
    sent: list[dict[str, str]] = []
    client.meta.events.register(
        "before-send.s3", lambda request, **_: sent.append(dict(request.headers))
    )
    client.put_object(Bucket="test-delivery", Key="checksums/a.bin", Body=b"payload")
    upload = client.create_multipart_upload(Bucket="test-delivery", Key="checksums/b.bin")
    client.upload_part(
        Bucket="test-delivery",
        Key="checksums/b.bin",
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=b"part",
    )
    client.abort_multipart_upload(
        Bucket="test-delivery", Key="checksums/b.bin", UploadId=upload["UploadId"]
    )
    assert len(sent) == 4
    for headers in sent:
        assert not [name for name in headers if "checksum" in name.lower()], headers
        assert headers["Authorization"].startswith(b"AWS4-HMAC-SHA256 ")


def test_lazy_client_is_built_once_and_hides_credentials(store: EmbeddedStore) -> None:
    lazy = LazyClient(endpoint=store.endpoint, region="auto", credentials=store.credentials)
    assert lazy() is lazy()
    assert store.secret_key not in repr(lazy)
