"""R2Credentials: S3 keys for exactly one R2 bucket, minted by the program (no human in the loop).

A Cloudflare account API token allowed only "Workers R2 Storage Bucket Item Write" (and, when
asked, "... Item Read", which Sippy needs) on one bucket (its resource string from
``coordinator.endpoints.token_resource``, which carries the bucket's jurisdiction) is turned
into S3 credentials the way Cloudflare documents: the access key id is the token's id, the
secret access key the SHA-256 (hex) of the token's value. Both are
Pulumi secrets from the moment they exist: encrypted in state, masked in every plan and preview.

Item Write covers what the coordinator signs for workers (PUT, multipart create/upload/
complete/abort, list parts), and more: per Cloudflare's token docs it also reads and lists
objects ("Object Read & Write": read, write and list objects in the buckets it is scoped to;
there is no write-only R2 permission). Blast radius of a leaked key pair: every object in this
one bucket can be read, listed, overwritten and deleted; nothing else (no bucket settings, no
other bucket, no other account resource). References: https://developers.cloudflare.com/r2/api/tokens/
(Permissions).
The permission group's id is looked up by name with the provider's data source, never pasted.

The Cloudflare API token the program runs with needs "Account API Tokens Write" to create it.

References: https://developers.cloudflare.com/r2/api/tokens/ ,
https://developers.cloudflare.com/fundamentals/api/how-to/create-via-api/
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_cloudflare as cloudflare

from coordinator.endpoints import Jurisdiction, is_account_id, token_resource

from .validation import Problems, is_r2_bucket_name

__all__ = [
    "BUCKET_ITEM_READ",
    "BUCKET_ITEM_WRITE",
    "BUCKET_SCOPE",
    "R2Credentials",
    "R2CredentialsArgs",
    "pick_permission_group",
    "policy_resources",
    "s3_secret_access_key",
]

BUCKET_ITEM_READ = "Workers R2 Storage Bucket Item Read"
BUCKET_ITEM_WRITE = "Workers R2 Storage Bucket Item Write"
# Scope of the permission groups that take a bucket resource string.
BUCKET_SCOPE = "com.cloudflare.edge.r2.bucket"


@dataclass(frozen=True, kw_only=True, slots=True)
class R2CredentialsArgs:
    """What an R2Credentials needs; validated on construction."""

    account_id: str
    """Cloudflare account of the bucket (32 hex characters)."""
    jurisdiction: Jurisdiction
    """The bucket's jurisdiction: part of the token's resource string."""
    bucket_name: pulumi.Input[str]
    """The one bucket the keys may write to (an Output ties the token to the bucket's creation)."""
    token_name: str
    """Name of the API token, as shown in the Cloudflare dashboard."""
    permissions: tuple[str, ...] = (BUCKET_ITEM_WRITE,)
    """Bucket-scoped permission groups the token gets (item read and/or item write)."""

    def __post_init__(self) -> None:
        problems = Problems("R2CredentialsArgs")
        problems.check(
            is_account_id(self.account_id), "account_id", "must be 32 lowercase hex characters"
        )
        if isinstance(self.bucket_name, str):
            problems.check(
                is_r2_bucket_name(self.bucket_name),
                "bucket_name",
                "must be 3-63 lowercase letters, digits or hyphens",
            )
        problems.check(0 < len(self.token_name) <= 120, "token_name", "must be 1-120 characters")
        problems.check(
            bool(self.permissions)
            and len(set(self.permissions)) == len(self.permissions)
            and set(self.permissions) <= {BUCKET_ITEM_READ, BUCKET_ITEM_WRITE},
            "permissions",
            f"must be {BUCKET_ITEM_READ!r} and/or {BUCKET_ITEM_WRITE!r}, each once",
        )
        problems.raise_if_any()


def s3_secret_access_key(token_value: str) -> str:
    """R2's S3 secret access key for an API token: the SHA-256 (hex) of its value."""
    return hashlib.sha256(token_value.encode("utf-8")).hexdigest()


def pick_permission_group(groups: Sequence[Any], name: str = BUCKET_ITEM_WRITE) -> str:
    """The id of the one permission group called ``name`` that can be scoped to a bucket.

    Raises ValueError (which fails the preview) when there is none or more than one, rather
    than create a token with a guess.
    """
    found = [
        g
        for g in groups
        if _field(g, "name") == name and BUCKET_SCOPE in (_field(g, "scopes") or [])
    ]
    if len(found) != 1:
        raise ValueError(
            f"expected one Cloudflare permission group named {name!r} with scope"
            f" {BUCKET_SCOPE}, found {len(found)}"
        )
    return str(_field(found[0], "id"))


def policy_resources(resource: str) -> str:
    """The policy's ``resources`` JSON, compact and key-sorted (Terraform's ``jsonencode`` form).

    The provider sends this string to the API as raw JSON and stores the raw JSON the API
    returns, with no normalisation (terraform-provider-cloudflare
    internal/services/account_token/custom.go: ``MarshalCustom``,
    ``unmarshalCustomWithSnapshot``). Its acceptance tests write ``jsonencode(...)``
    (testdata/*.tf): compact, keys sorted. ``json.dumps``' default separators add spaces that
    would differ byte for byte from what comes back, a change on every preview.
    """
    return json.dumps({resource: "*"}, separators=(",", ":"), sort_keys=True)


def _field(group: Any, key: str) -> Any:
    return group.get(key) if isinstance(group, dict) else getattr(group, key, None)


class R2Credentials(pulumi.ComponentResource):
    """A bucket-scoped R2 API token and the S3 credentials derived from it."""

    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]
    resource: pulumi.Output[str]

    def __init__(
        self, name: str, args: R2CredentialsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("r2-video:access:R2Credentials", name, None, opts)
        group_ids = [
            cloudflare.get_account_api_token_permission_groups_list_output(
                account_id=args.account_id,
                # The API filters by exact, URL-encoded name; pick_permission_group checks again.
                name=quote(permission),
                opts=pulumi.InvokeOutputOptions(parent=self),
            ).results.apply(lambda groups, wanted=permission: pick_permission_group(groups, wanted))
            for permission in args.permissions
        ]
        self.resource = pulumi.Output.from_input(args.bucket_name).apply(
            lambda bucket: token_resource(args.account_id, args.jurisdiction, bucket)
        )
        self.token = cloudflare.AccountToken(
            f"{name}-token",
            account_id=args.account_id,
            name=args.token_name,
            policies=[
                cloudflare.AccountTokenPolicyArgs(
                    effect="allow",
                    permission_groups=[
                        cloudflare.AccountTokenPolicyPermissionGroupArgs(id=group_id)
                        for group_id in group_ids
                    ],
                    # Exactly one bucket, in its jurisdiction: nothing else in the account.
                    resources=self.resource.apply(policy_resources),
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Secrets from the start: Output.secret() whatever the engine does with the token's
        # own secret outputs, so no derived value ever shows in a plan or a log.
        self.access_key_id = pulumi.Output.secret(self.token.id)
        self.secret_access_key = pulumi.Output.secret(self.token.value.apply(s3_secret_access_key))
        self.register_outputs(
            {
                "access_key_id": self.access_key_id,
                "secret_access_key": self.secret_access_key,
                "resource": self.resource,
            }
        )
