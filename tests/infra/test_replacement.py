"""What a real `pulumi up` replaces or refuses, seen in the resource options the program
registers (the mocks do not act on them, so the requests themselves are read).

Expected values come from terraform-provider-cloudflare (which pulumi-cloudflare 6.x bridges):
internal/services/r2_bucket/schema.go has RequiresReplace on ``name`` and ``account_id`` but not
on ``jurisdiction``; its ``location`` keeps the state's value (locationIgnorePlanModifier); the
R2 children's schema.go files (r2_bucket_cors, r2_bucket_lifecycle, r2_managed_domain,
r2_custom_domain) have RequiresReplace on ``account_id`` and ``bucket_name`` only.
"""

from __future__ import annotations

import pytest

from infra.review.risk import BORDER_PROPERTIES, REPLACE_ON_CHANGE

R2_BUCKET = "cloudflare:index/r2Bucket:R2Bucket"
R2_CHILDREN = (
    "cloudflare:index/r2BucketCors:R2BucketCors",
    "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle",
    "cloudflare:index/r2ManagedDomain:R2ManagedDomain",
    "cloudflare:index/r2CustomDomain:R2CustomDomain",
)


# The options do not depend on the stack's settings: one stack with custom domains and one
# without keep the suite fast.
@pytest.mark.parametrize("stack", ["dev", "eu-prod"])
def test_a_new_jurisdiction_replaces_the_bucket_and_every_r2_child(registrations, stack):
    requests = registrations(stack)[1]
    (bucket,) = [r for r in requests if r.type == R2_BUCKET]
    assert "jurisdiction" in bucket.replaceOnChanges, bucket.name
    # Deleted first: R2 refuses to delete a bucket with objects, so nothing is created then.
    assert bucket.deleteBeforeReplace, bucket.name
    children = [r for r in requests if r.type in R2_CHILDREN]
    assert {r.type for r in children} == set(R2_CHILDREN)
    for child in children:
        assert "jurisdiction" in child.replaceOnChanges, child.name
    for domain in [r for r in children if r.type == R2_CHILDREN[3]]:
        # A hostname is attached to one bucket at a time.
        assert domain.deleteBeforeReplace, domain.name


def test_risk_table_knows_what_replaces_each_r2_child():
    for type_token in R2_CHILDREN:
        assert {"accountId", "bucketName", "jurisdiction"} <= set(REPLACE_ON_CHANGE[type_token])


def test_a_location_hint_change_is_a_border_flag_not_a_replacement():
    # The provider ignores a changed location (state wins): nothing is replaced, nothing moves.
    assert "location" not in REPLACE_ON_CHANGE[R2_BUCKET]
    assert "ignores" in BORDER_PROPERTIES[R2_BUCKET]["location"]
