"""Tearing down a dev stack: `empty-bucket` against a real S3 server on loopback
(``coordinator.embedded_store``, which checks SigV4 and refuses to delete a non-empty bucket as
R2 does: "BucketNotEmpty", docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucket.html)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from coordinator.embedded_store import EmbeddedStore, embedded_store
from coordinator.s3client import make_client
from infra.cli import main

BUCKET = "video-dev-delivery"  # Pulumi.dev.yaml deliveryBucketName


@pytest.fixture(scope="module")
def store() -> Iterator[EmbeddedStore]:
    with embedded_store() as running:
        yield running


@pytest.fixture
def s3(store: EmbeddedStore, monkeypatch):
    monkeypatch.setenv("R2_ACCESS_KEY_ID", store.access_key)
    monkeypatch.setenv("R2_SECRET_ACCESS_KEY", store.secret_key)
    return make_client(endpoint=store.endpoint, region="auto", credentials=store.credentials)


def _fill(s3) -> None:
    s3.create_bucket(Bucket=BUCKET)
    for i in range(25):
        s3.put_object(Bucket=BUCKET, Key=f"vod/title-{i}/seg-{i}.m4s", Body=b"x" * 10)
    s3.create_multipart_upload(Bucket=BUCKET, Key="vod/big.mp4")


def test_destroy_fails_on_a_bucket_with_objects_and_empty_bucket_fixes_it(s3, store, capsys):
    _fill(s3)
    with pytest.raises(ClientError, match="BucketNotEmpty"):
        s3.delete_bucket(Bucket=BUCKET)

    # Without --yes it only counts.
    assert main(["empty-bucket", "--stack", "dev", "--endpoint-url", store.endpoint]) == 0
    assert "25 objects, 1 incomplete multipart uploads" in capsys.readouterr().out
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 25

    assert main(["empty-bucket", "--stack", "dev", "--endpoint-url", store.endpoint, "--yes"]) == 0
    assert "deleted 25 objects, aborted 1 multipart uploads" in capsys.readouterr().out
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    s3.delete_bucket(Bucket=BUCKET)  # what `pulumi destroy` does next


def test_a_prod_stack_is_refused(s3, store, capsys):
    code = main(["empty-bucket", "--stack", "eu-prod", "--endpoint-url", store.endpoint, "--yes"])
    assert code == 2
    assert "prod" in capsys.readouterr().err


def test_without_credentials_it_exits_2(monkeypatch, capsys):
    monkeypatch.delenv("R2_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("R2_SECRET_ACCESS_KEY", raising=False)
    assert main(["empty-bucket", "--stack", "dev"]) == 2
    assert "R2_ACCESS_KEY_ID" in capsys.readouterr().err


def test_wrong_credentials_are_a_clear_error_not_a_traceback(store, monkeypatch, capsys):
    monkeypatch.setenv("R2_ACCESS_KEY_ID", store.access_key)
    monkeypatch.setenv("R2_SECRET_ACCESS_KEY", "not-the-secret")
    assert main(["empty-bucket", "--stack", "dev", "--endpoint-url", store.endpoint]) == 1
    assert "error: video-dev-delivery" in capsys.readouterr().err
