"""Where a stack's data lives, drawn as a Mermaid flowchart (GitHub renders it in Markdown).

One box per place data can be pinned: the R2 jurisdiction (with the location hint), Cloudflare's
edge (a box per Regional Services region, one for the worldwide edge), and an AWS box per
partition and region; in each, the resources of the residency statement that sit there
(``GUARANTEES``). Arrows follow the data: master (S3) -> encoding worker -> renditions (R2) ->
the edge hostname -> viewer, plus Sippy's copy from its source bucket. Resources outside the
stack's jurisdiction are drawn red (``outside``), resources a pull request flags orange
(``flagged``).

Untrusted input (a PR's plan) only ever reaches a label through ``_label``: plain characters,
inside double quotes, so nothing in a plan can add a node, an edge, a link or a click handler.

References: https://mermaid.js.org/syntax/flowchart.html (subgraphs, classDef, edge labels).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from infra.residency import partition_of
from infra.review.policy.view import Resource, StackView, _known, view_from_plan

__all__ = ["FLAGGED_STYLE", "OUTSIDE_STYLE", "data_flow", "fenced", "plan_data_flow"]

R2_BUCKET = "cloudflare:index/r2Bucket:R2Bucket"
R2_CUSTOM_DOMAIN = "cloudflare:index/r2CustomDomain:R2CustomDomain"
R2_SIPPY = "cloudflare:index/r2BucketSippy:R2BucketSippy"
REGIONAL_HOSTNAME = "cloudflare:index/regionalHostname:RegionalHostname"
S3_BUCKET = "aws:s3/bucket:Bucket"
FUNCTION = "aws:lambda/function:Function"

OUTSIDE_STYLE = "fill:#fde2e2,stroke:#c62828,color:#8e0000,stroke-width:2px"
FLAGGED_STYLE = "fill:#fff3cd,stroke:#e65100,color:#6d3600,stroke-width:2px"
_UNSAFE = re.compile(r"[^A-Za-z0-9 _.:/,()'+=-]")
_MAX_LABEL = 80
_STADIUM = ("([", "])")  # people and machines outside the stack


def _label(text: Any) -> str:
    """A quoted Mermaid label holding only plain characters."""
    shown = _UNSAFE.sub("?", str(text))[:_MAX_LABEL]
    return f'"{shown}"'


def _short(type_token: str) -> str:
    return type_token.rsplit(":", 1)[-1]


class _Drawing:
    def __init__(self) -> None:
        self.lines: list[str] = ["flowchart LR"]
        self.ids: dict[str, str] = {}

    def node_id(self, key: str) -> str:
        return self.ids.setdefault(key, f"n{len(self.ids)}")

    def node(self, key: str, text: str, indent: int, shape: tuple[str, str] = ("[", "]")) -> str:
        node = self.node_id(key)
        self.lines.append(f"{'  ' * indent}{node}{shape[0]}{_label(text)}{shape[1]}")
        return node

    def box(self, key: str, title: str, indent: int) -> None:
        self.lines.append(f"{'  ' * indent}subgraph {self.node_id(key)}[{_label(title)}]")

    def end(self, indent: int) -> None:
        self.lines.append(f"{'  ' * indent}end")

    def edge(self, a: str, b: str, text: str | None = None, *, dotted: bool = False) -> None:
        arrow = "-.->" if dotted else "-->"
        middle = f"|{_label(text)}|" if text else ""
        self.lines.append(f"  {a} {arrow}{middle} {b}")


def data_flow(
    view: StackView,
    shown_types: Iterable[str],
    *,
    outside: Iterable[str] = (),
    flagged: Iterable[str] = (),
) -> str:
    """The Mermaid text (no fences) of where ``view``'s data lives.

    ``shown_types``: the resource types to draw (the residency statement's); ``outside`` and
    ``flagged``: URNs drawn in the outside and flagged colours."""
    types = set(shown_types)
    resources = [r for r in view.resources if r.type in types]
    d = _Drawing()
    r2 = [r for r in resources if r.type in (R2_BUCKET, R2_SIPPY)]
    buckets = [r for r in r2 if r.type == R2_BUCKET]
    domains = [r for r in resources if r.type == R2_CUSTOM_DOMAIN]
    regional = {r.inputs.get("hostname"): r for r in resources if r.type == REGIONAL_HOSTNAME}
    # Cloudflare: the R2 jurisdiction, then the edge by where each hostname is processed.
    d.box("cloudflare", "Cloudflare", 1)
    for bucket in buckets:
        value = bucket.inputs.get("jurisdiction") or "default"
        hint = bucket.inputs.get("location")
        title = f"R2 jurisdiction {value}" + (f", location hint {hint}" if _known(hint) else "")
        if value == "default":
            title += " (not pinned)"
        d.box(f"r2:{bucket.urn}", title, 2)
        d.node(bucket.urn, f"{bucket.name} (R2Bucket): renditions", 3)
        for sippy in (r for r in r2 if r.type == R2_SIPPY):
            d.node(sippy.urn, f"{sippy.name} (R2BucketSippy)", 3)
        d.end(2)
    by_region: dict[str, list[Resource]] = {}
    for domain in domains:
        host = domain.inputs.get("domain")
        key = regional[host].inputs.get("regionKey") if host in regional else None
        by_region.setdefault(str(key) if _known(key) else "", []).append(domain)
    for key in sorted(by_region):
        title = f"edge: Regional Services region {key}" if key else "edge: worldwide (not pinned)"
        d.box(f"edge:{key}", title, 2)
        for domain in by_region[key]:
            d.node(domain.urn, f"{domain.inputs.get('domain')} (R2CustomDomain)", 3)
            host = domain.inputs.get("domain")
            if host in regional:
                d.node(regional[host].urn, f"{regional[host].name} (RegionalHostname)", 3)
        d.end(2)
    d.end(1)
    # AWS: a box per partition and region.
    aws: dict[tuple[str, str], list[Resource]] = {}
    for r in resources:
        if r.type.startswith("aws:"):
            region = view.aws_region(r)
            where = (partition_of(region), region) if _known(region) else ("?", "unknown region")
            aws.setdefault(where, []).append(r)
    sources: dict[str, tuple[str, str]] = {}
    for sippy in (r for r in r2 if r.type == R2_SIPPY):
        source = sippy.inputs.get("source")
        region = source.get("region") if isinstance(source, Mapping) else None
        if _known(region):
            sources[sippy.urn] = (partition_of(region), region)
            aws.setdefault(sources[sippy.urn], [])
    for (partition, region), members in sorted(aws.items()):
        d.box(f"aws:{partition}:{region}", f"AWS partition {partition}, region {region}", 1)
        for r in members:
            holds = ": masters" if r.type == S3_BUCKET else ""
            d.node(r.urn, f"{r.name} ({_short(r.type)}){holds}", 2)
        for sippy_urn, where in sources.items():
            if where == (partition, region):
                d.node(f"source:{sippy_urn}", "Sippy source S3 bucket (old renditions)", 2)
        d.end(1)
    worker = d.node("worker", "encoding workers: anywhere (not pinned)", 1, _STADIUM)
    viewer = d.node("viewer", "viewers", 1, _STADIUM)
    for r in resources:
        if r.type == S3_BUCKET:
            d.edge(d.node_id(r.urn), worker, "master: presigned GET")
        elif r.type == FUNCTION:
            d.edge(d.node_id(r.urn), worker, "presigned URLs", dotted=True)
    for bucket in buckets:
        d.edge(worker, d.node_id(bucket.urn), "renditions: presigned PUT")
        for domain in domains:
            d.edge(d.node_id(bucket.urn), d.node_id(domain.urn))
    for domain in domains:
        d.edge(d.node_id(domain.urn), viewer, "HTTPS")
    for sippy_urn in sources:
        for bucket in buckets:
            d.edge(d.node_id(f"source:{sippy_urn}"), d.node_id(bucket.urn), "copied on first read")
    d.lines += [f"  classDef outside {OUTSIDE_STYLE}", f"  classDef flagged {FLAGGED_STYLE}"]
    for name, urns in (("outside", outside), ("flagged", flagged)):
        drawn = sorted({d.ids[u] for u in urns if u in d.ids}, key=lambda n: int(n[1:]))
        if drawn:
            d.lines.append(f"  class {','.join(drawn)} {name}")
    return "\n".join(d.lines) + "\n"


def fenced(diagram: str) -> str:
    """A Markdown code block GitHub renders as the diagram."""
    return f"```mermaid\n{diagram}```\n"


def plan_data_flow(
    plan: Mapping[str, Any],
    config: Mapping[str, Any],
    shown_types: Iterable[str],
    *,
    flagged: Iterable[str] = (),
) -> str:
    """``data_flow`` of a plan document with its stack config (no resource marked outside)."""
    return data_flow(view_from_plan(plan, config), shown_types, flagged=flagged)
