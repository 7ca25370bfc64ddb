"""The residency statement of a stack: where its data is pinned, by what, and what is not pinned.

Computed from the offline plan (``plan --format json``) and the stack's config, never written by
hand: ``python -m infra.cli residency --stack S [--format markdown|json]``. For every resource
that stores, processes or transports data it says what the resource holds, where it is pinned
(R2 jurisdiction, Regional Services key, AWS region and partition), by which setting, and the
provider's documented guarantee with its source; then, as plainly, what the stack does NOT pin.

A data-bearing resource outside the stack's jurisdiction makes the statement's ``outside`` list
non-empty, and the command exit 1. ``markdown_change(base, head)`` is the hook a PR review calls
to show how the statement changes.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from coordinator.endpoints import REGION_KEYS, Jurisdiction
from infra.residency import allowed_region, partition_of
from infra.review.picture import data_flow, fenced
from infra.review.policy.view import Resource, StackView, _known, view_from_plan

__all__ = [
    "GUARANTEES",
    "NOT_PINNED",
    "Entry",
    "Statement",
    "markdown_change",
    "render_json",
    "render_markdown",
    "statement_from_plan",
]

R2_BUCKET = "cloudflare:index/r2Bucket:R2Bucket"
R2_CUSTOM_DOMAIN = "cloudflare:index/r2CustomDomain:R2CustomDomain"
R2_SIPPY = "cloudflare:index/r2BucketSippy:R2BucketSippy"
REGIONAL_HOSTNAME = "cloudflare:index/regionalHostname:RegionalHostname"
S3_BUCKET = "aws:s3/bucket:Bucket"
KMS_KEY = "aws:kms/key:Key"
SECRETS_MANAGER_SECRET = "aws:secretsmanager/secret:Secret"  # noqa: S105 (a type token)
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
FUNCTION = "aws:lambda/function:Function"
FUNCTION_URL = "aws:lambda/functionUrl:FunctionUrl"
HTTP_API = "aws:apigatewayv2/api:Api"
SNS_TOPIC = "aws:sns/topic:Topic"

_R2_DATA_LOCATION = "https://developers.cloudflare.com/r2/reference/data-location/"
_REGIONAL_SERVICES = "https://developers.cloudflare.com/data-localization/regional-services/"
_AWS_PRIVACY = "https://aws.amazon.com/compliance/data-privacy-faq/"
_AWS_PARTITIONS = (
    "https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html"
)


@dataclass(frozen=True, slots=True)
class Guarantee:
    """What a resource type holds and what its provider documents about where it stays."""

    role: str
    """stores, processes or transports."""
    holds: str
    text: str
    source: str
    data_bearing: bool
    """True when the resource keeps data at rest (it must be inside the jurisdiction)."""


# One entry per resource type that stores, processes or transports data. The guarantee is a
# paraphrase of the source; legal reads the source.
GUARANTEES: dict[str, Guarantee] = {
    R2_BUCKET: Guarantee(
        "stores",
        "renditions (HLS/DASH segments, manifests, MP4)",
        "objects in a bucket with a jurisdiction are guaranteed to be stored inside it;"
        " a location hint is best effort only",
        _R2_DATA_LOCATION + "#jurisdictional-restrictions",
        True,
    ),
    R2_CUSTOM_DOMAIN: Guarantee(
        "transports",
        "renditions on their way from the bucket to viewers on the custom hostname",
        "the custom domain reads from the bucket through the bucket's jurisdiction; where the"
        " request is processed is the hostname's (regional hostname or worldwide)",
        "https://developers.cloudflare.com/r2/buckets/public-buckets/",
        False,
    ),
    R2_SIPPY: Guarantee(
        "transports",
        "renditions copied on first read from the source S3 bucket",
        "objects are copied from the source bucket's region into the bucket's jurisdiction",
        "https://developers.cloudflare.com/r2/data-migration/sippy/",
        False,
    ),
    REGIONAL_HOSTNAME: Guarantee(
        "processes",
        "viewer requests for the hostname: TLS termination, HTTP processing, cache",
        "Cloudflare steers the hostname's traffic to data centers in the region for TLS"
        " termination and processing",
        _REGIONAL_SERVICES + "regional-hostnames/",
        False,
    ),
    S3_BUCKET: Guarantee(
        "stores",
        "mezzanine masters (every version)",
        "content stays in the AWS Region the customer chooses; AWS does not move it without"
        " the customer's agreement",
        _AWS_PRIVACY,
        True,
    ),
    KMS_KEY: Guarantee(
        "stores",
        "the key that encrypts the masters",
        "a KMS key belongs to one Region; its key material never leaves AWS KMS unencrypted",
        "https://docs.aws.amazon.com/kms/latest/developerguide/overview.html",
        True,
    ),
    SECRETS_MANAGER_SECRET: Guarantee(
        "stores",
        "coordinator keys: admin key, worker-token keys, R2 access keys, playback key",
        "a secret is stored in the Region it is created in (replication is opt-in, none here)",
        "https://docs.aws.amazon.com/secretsmanager/latest/userguide/replicate-secrets.html",
        True,
    ),
    LOG_GROUP: Guarantee(
        "stores",
        "coordinator logs: request metadata (job ids, object keys), no object content",
        "log data is stored in the Region of the log group",
        _AWS_PRIVACY,
        True,
    ),
    FUNCTION: Guarantee(
        "processes",
        "presigning: holds the keys in memory, signs URLs, sees object keys",
        "the function runs in the Region it is created in",
        _AWS_PRIVACY,
        False,
    ),
    FUNCTION_URL: Guarantee(
        "transports",
        "control-plane and worker requests and presigned URLs",
        "the endpoint is served from the function's Region",
        "https://docs.aws.amazon.com/lambda/latest/dg/urls-configuration.html",
        False,
    ),
    HTTP_API: Guarantee(
        "transports",
        "control-plane and worker requests and presigned URLs",
        "a regional API is served from its Region",
        "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api.html",
        False,
    ),
    SNS_TOPIC: Guarantee(
        "transports",
        "coordinator alarm notifications (alarm names and metric values, no content)",
        "the topic lives in its Region; it delivers to whatever subscriptions it has (e-mail,"
        " HTTPS, ...), wherever they are",
        "https://docs.aws.amazon.com/sns/latest/dg/welcome.html",
        False,
    ),
}


@dataclass(frozen=True, slots=True)
class Limit:
    """Something the stack does not pin, said plainly."""

    what: str
    why: str
    source: str


NOT_PINNED: tuple[Limit, ...] = (
    Limit(
        "Cloudflare account metadata: bucket names, API tokens, zone and rule configuration,"
        " analytics and request logs",
        "kept in Cloudflare's core, not in the bucket's jurisdiction; only the separate"
        " Customer Metadata Boundary product bounds it, and this program does not configure it",
        "https://developers.cloudflare.com/data-localization/metadata-boundary/",
    ),
    Limit(
        "Edge caching and processing of delivery hostnames without a regional hostname",
        "served, cached and logged in any Cloudflare data center worldwide; with a regional"
        " hostname, traffic still arrives on Cloudflare's shared anycast addresses and is"
        " steered to the region for TLS termination",
        _REGIONAL_SERVICES,
    ),
    Limit(
        "Cache rules and the signed-delivery rule (its HMAC key is part of the rule expression)",
        "zone configuration: stored and distributed to Cloudflare's whole network",
        "https://developers.cloudflare.com/ruleset-engine/rules-language/functions/",
    ),
    Limit(
        "AWS IAM roles, users and policies",
        "IAM is global within a partition: defined once, used in every Region of it",
        _AWS_PARTITIONS,
    ),
    Limit(
        "AWS account metadata: resource names, tags, billing and usage records",
        "handled by AWS's account-wide systems, not bound to the stack's Region",
        _AWS_PRIVACY,
    ),
    Limit(
        "Encoding workers and the networks they use",
        "workers run wherever the operator runs them; a presigned URL works from anywhere,"
        " so the program cannot pin where masters are read or renditions written from",
        "docs/coordinator.md",
    ),
    Limit(
        "Pulumi state (resource inputs and outputs, secrets encrypted)",
        "kept in the state backend the operator chooses (`pulumi login`), not by this program",
        "https://www.pulumi.com/docs/iac/concepts/state-and-backends/",
    ),
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One resource that stores, processes or transports data."""

    resource: str
    type: str
    role: str
    holds: str
    pinned_to: str
    setting: str
    guarantee: str
    source: str
    inside: bool
    data_bearing: bool


@dataclass(frozen=True, slots=True)
class Statement:
    stack: str
    jurisdiction: str
    aws_region: str | None
    aws_partition: str | None
    entries: tuple[Entry, ...]
    not_pinned: tuple[Limit, ...] = NOT_PINNED
    notes: tuple[str, ...] = field(default=())
    diagram: str = field(default="", compare=False)
    """Mermaid: the places data lives, its resources and flows (``infra/review/picture.py``)."""

    @property
    def outside(self) -> list[Entry]:
        """Data-bearing resources outside the stack's jurisdiction: the command exits 1."""
        return [e for e in self.entries if e.data_bearing and not e.inside]


def _short(type_token: str) -> str:
    return type_token.rsplit(":", 1)[-1]


def _entry(view: StackView, r: Resource, j: Jurisdiction) -> Entry:
    g = GUARANTEES[r.type]
    if r.type.startswith("cloudflare:"):
        if r.type == REGIONAL_HOSTNAME:
            key = r.inputs.get("regionKey")
            pinned = f"Regional Services region {key!r}" if _known(key) else "not pinned"
            inside = _known(key) and key in REGION_KEYS.get(j, ())
            setting = "r2-video:regionalHostnames (region key from the jurisdiction)"
        elif r.type == R2_SIPPY:
            source = (r.inputs.get("source") or {}).get("region")
            pinned = f"from AWS {source} into R2 jurisdiction {j.value!r}"
            inside = _known(source) and allowed_region(j, source)
            setting = "r2-video:sippy.sourceRegion"
        else:
            value = r.inputs.get("jurisdiction") or Jurisdiction.DEFAULT.value
            hint = r.inputs.get("location")
            if value == Jurisdiction.DEFAULT.value:
                pinned = "not pinned (no jurisdiction: any Cloudflare location)"
            else:
                pinned = f"R2 jurisdiction {value!r}"
            if _known(hint):
                pinned += f", location hint {hint!r} (best effort)"
            inside = value == j.value
            setting = "r2-video:jurisdiction" + (", r2-video:locationHint" if _known(hint) else "")
    else:
        region = view.aws_region(r)
        if _known(region):
            pinned = f"AWS region {region} (partition {partition_of(region)})"
            inside = allowed_region(j, region)
        else:
            pinned, inside = "unknown region", False
        setting = "r2-video:awsRegion (the stack's AWS provider)"
    if j is Jurisdiction.DEFAULT:
        inside = True  # no residency promise, nothing to be outside of
    return Entry(
        resource=r.name,
        type=_short(r.type),
        role=g.role,
        holds=g.holds,
        pinned_to=pinned,
        setting=setting,
        guarantee=g.text,
        source=g.source,
        inside=bool(inside),
        data_bearing=g.data_bearing,
    )


def statement_from_plan(
    plan: Mapping[str, Any], config: Mapping[str, Any], *, flagged: Iterable[str] = ()
) -> Statement:
    """The statement of an offline plan document with its stack config; ``flagged``: URNs the
    picture draws in the review's flag colour."""
    view = view_from_plan(plan, config)
    j = view.context.jurisdiction
    order = {"stores": 0, "processes": 1, "transports": 2}
    by_urn = {r.urn: _entry(view, r, j) for r in view.resources if r.type in GUARANTEES}
    entries = tuple(sorted(by_urn.values(), key=lambda e: (order[e.role], e.type, e.resource)))
    outside = [urn for urn, e in by_urn.items() if not e.inside]
    diagram = data_flow(view, GUARANTEES, outside=outside, flagged=flagged)
    providers = [r for r in view.resources if r.type == "pulumi:providers:aws"]
    region = providers[0].inputs.get("region") if providers else None
    hostnames = {r.inputs.get("hostname") for r in view.of_type(REGIONAL_HOSTNAME)}
    notes = []
    for r in view.of_type(R2_CUSTOM_DOMAIN):
        domain = r.inputs.get("domain")
        if domain not in hostnames:
            notes.append(
                f"`{domain}` has no regional hostname: its delivery is processed and cached"
                " worldwide (see what is not pinned)."
            )
    if j is Jurisdiction.DEFAULT:
        notes.append("Jurisdiction `default`: this stack makes no residency promise.")
    return Statement(
        stack=str(plan.get("stack")),
        jurisdiction=j.value,
        aws_region=region if _known(region) else None,
        aws_partition=partition_of(region) if _known(region) else None,
        entries=entries,
        notes=tuple(notes),
        diagram=diagram,
    )


def render_json(statement: Statement) -> str:
    document = asdict(statement)
    del document["diagram"]  # a picture of the entries, for the Markdown only
    document["outside"] = [e.resource for e in statement.outside]
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(statement: Statement) -> str:
    s = statement
    lines = [
        f"# Residency statement: stack `{s.stack}`",
        "",
        "Generated by `python -m infra.cli residency --stack "
        f"{s.stack}` from the offline plan; do not edit by hand.",
        "",
        f"- R2 jurisdiction: `{s.jurisdiction}`",
        f"- AWS region: `{s.aws_region}` (partition `{s.aws_partition}`)",
        "",
    ]
    if s.diagram:
        lines += [
            "## Where the data lives",
            "",
            "Boxes are the places data is pinned to; red: outside the jurisdiction.",
            "",
            fenced(s.diagram),
        ]
    lines += [
        "## Where data is pinned",
        "",
        "| resource | role | holds | pinned to | by setting | provider's guarantee | source |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e in s.entries:
        mark = "" if e.inside else " **(OUTSIDE the jurisdiction)**"
        lines.append(
            f"| `{e.resource}` ({e.type}) | {e.role} | {_cell(e.holds)} |"
            f" {_cell(e.pinned_to)}{mark} | `{e.setting}` | {_cell(e.guarantee)} | {e.source} |"
        )
    lines += ["", "## What is NOT pinned", ""]
    for limit in s.not_pinned:
        lines.append(f"- **{limit.what}**: {limit.why}. Source: {limit.source}")
    if s.notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in s.notes]
    outside = s.outside
    lines += ["", "## Verdict", ""]
    if outside:
        names = ", ".join(f"`{e.resource}`" for e in outside)
        lines.append(f"FAIL: data-bearing resources outside `{s.jurisdiction}`: {names}.")
    else:
        lines.append(f"Every data-bearing resource is inside `{s.jurisdiction}`.")
    return "\n".join(lines) + "\n"


def markdown_change(
    base: Mapping[str, Any],
    head: Mapping[str, Any],
    base_config: Mapping[str, Any],
    head_config: Mapping[str, Any],
) -> str:
    """For a PR review: a unified diff of the statement before and after (empty when equal)."""
    before = render_markdown(statement_from_plan(base, base_config)).splitlines(keepends=True)
    after = render_markdown(statement_from_plan(head, head_config)).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, "residency (base)", "residency (head)"))
