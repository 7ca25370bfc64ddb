"""The fleet view: one row a stack saying where its data lives, its verdicts and its cost.

``python -m infra.cli fleet [--format markdown|json]`` plans every stack in one process
(``infra/review/fleet.py``) and builds a row from each plan document and stack config: the
jurisdiction, location hint, AWS partition and region, every delivery hostname and whether a
regional hostname pins it, the residency statement's verdict, the policy rules' verdict, the
plan's digest (SHA-256 of its ``plan --format json`` bytes, so ``sha256sum plans/<stack>.json``
matches) and the monthly cost where ``infra/cost`` prices it, or why it does not.

The review (``infra/review/judge.py``) renders the rows a pull request touches from the PR's plans,
which are untrusted: every value shown passes ``_cell`` (plain characters only).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from infra.residency import is_region_name, partition_of
from infra.review.policy.rules import evaluate, mandatory_failures
from infra.review.policy.view import _known, view_from_plan
from infra.review.residency_statement import (
    R2_BUCKET,
    R2_CUSTOM_DOMAIN,
    REGIONAL_HOSTNAME,
    statement_from_plan,
)

__all__ = [
    "FleetRow",
    "Hostname",
    "plan_digest",
    "render_json",
    "render_markdown",
    "row_from_plan",
    "row_unplanned",
]

_AWS_PROVIDER = "pulumi:providers:aws"
# What a cell may show of untrusted text: no Markdown, HTML, mentions or line breaks.
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/$+=,;()'\- ]")
_MAX_CELL = 120


@dataclass(frozen=True, slots=True)
class Hostname:
    name: str
    regional: bool
    """A RegionalHostname pins TLS termination and processing of it to ``region_key``."""
    region_key: str | None = None


@dataclass(frozen=True, slots=True)
class FleetRow:
    stack: str
    planned: bool
    """False when the stack could not be planned (``problem`` says why)."""
    environment: str = "-"
    jurisdiction: str = "-"
    location_hint: str | None = None
    aws_partition: str | None = None
    aws_region: str | None = None
    hostnames: tuple[Hostname, ...] = ()
    residency: str = "-"
    """``inside``, ``no promise`` (jurisdiction default) or ``OUTSIDE: <resources>``."""
    policy: str = "-"
    """``pass`` or ``FAIL: <mandatory rules>``, with the count of rules passed."""
    plan_digest: str | None = None
    r2_cloudflare_usd: float | None = None
    s3_cloudfront_usd: float | None = None
    cost_note: str = ""
    """Why there is no price, or what the price leaves out."""
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def plan_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 of the plan as ``plan --format json`` writes it (the committed file's bytes)."""
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _first_sentence(message: str) -> str:
    for stop in ("; ", ". "):
        message = message.split(stop, 1)[0]
    return message.rstrip(".")


def _cost(config: Mapping[str, Any], region: str | None) -> tuple[float | None, float | None, str]:
    """(R2 + CDN, S3 + CloudFront, note) for the stack's workload, priced in ``region``."""
    from infra.cost.model import CLOUDFRONT_PARTITIONS, check_comparison_available, estimate
    from infra.cost.prices import PRICES_PATH, load_prices
    from infra.cost.workload import CONFIG_KEY, workload_from_mapping

    raw: Any = config.get(CONFIG_KEY)
    if raw is None:
        return None, None, f"not priced: no {CONFIG_KEY} in the stack file"
    if not _known(region) or not is_region_name(region):
        return None, None, "not priced: no AWS region in the plan"
    partition = partition_of(region)
    if partition not in CLOUDFRONT_PARTITIONS:
        return None, None, f"no S3 + CloudFront to compare: no CloudFront in {partition}"
    priced = json.loads(PRICES_PATH.read_text(encoding="utf-8"))["s3_standard"]["regions"]
    if region not in priced:
        return None, None, f"not priced: prices.json has no sourced S3 prices for {region}"
    try:
        with contextlib.suppress(json.JSONDecodeError, TypeError):
            raw = json.loads(raw)
        if not isinstance(raw, Mapping):
            raise ValueError(f"{CONFIG_KEY} is not a mapping of workload fields")
        workload = workload_from_mapping({str(k): v for k, v in raw.items()})
        check_comparison_available(region)  # the one rule, kept where the cost command has it
        est = estimate(workload, load_prices(aws_region=region))
    except ValueError as error:
        return None, None, "not priced: " + _first_sentence(str(error))
    note = "" if workload.cloudflare_plan_usd_per_month is not None else "plan / DLS fee not in it"
    return round(est.r2_cloudflare.total_usd, 2), round(est.s3_cloudfront.total_usd, 2), note


def row_from_plan(document: Mapping[str, Any], config: Mapping[str, Any]) -> FleetRow:
    """The fleet row of a plan document (``plan --format json``) with its stack config."""
    view = view_from_plan(document, config)
    context = view.context
    buckets = view.of_type(R2_BUCKET)
    hint = buckets[0].inputs.get("location") if buckets else None
    providers = view.of_type(_AWS_PROVIDER)
    region = providers[0].inputs.get("region") if providers else None
    region = region if _known(region) else None
    regional = {
        r.inputs.get("hostname"): r.inputs.get("regionKey") for r in view.of_type(REGIONAL_HOSTNAME)
    }
    hostnames = tuple(
        sorted(
            (
                Hostname(
                    str(domain),
                    domain in regional,
                    str(regional[domain]) if _known(regional.get(domain)) else None,
                )
                for r in view.of_type(R2_CUSTOM_DOMAIN)
                if _known(domain := r.inputs.get("domain"))
            ),
            key=lambda h: h.name,
        )
    )
    statement = statement_from_plan(document, config)
    if statement.outside:
        residency = "OUTSIDE: " + ", ".join(e.resource for e in statement.outside)
    elif statement.jurisdiction == "default":
        residency = "no promise (jurisdiction default)"
    else:
        residency = f"inside {statement.jurisdiction}"
    results = evaluate(view)
    failed = mandatory_failures(results)
    passed = len([r for r in results if r.passed])
    policy = (
        f"FAIL: {', '.join(r.rule.name for r in failed)}"
        if failed
        else f"pass ({passed}/{len(results)})"
    )
    r2_usd, s3_usd, note = _cost(config, region)
    return FleetRow(
        stack=str(document.get("stack")),
        planned=True,
        environment=context.environment,
        jurisdiction=context.jurisdiction.value,
        location_hint=str(hint) if _known(hint) else None,
        aws_partition=partition_of(region) if region else None,
        aws_region=region,
        hostnames=hostnames,
        residency=residency,
        policy=policy,
        plan_digest=plan_digest(document),
        r2_cloudflare_usd=r2_usd,
        s3_cloudfront_usd=s3_usd,
        cost_note=note,
    )


def row_unplanned(stack: str, config: Mapping[str, Any], problem: str) -> FleetRow:
    """The row of a stack that could not be planned: what its config says, and why."""
    jurisdiction = config.get("r2-video:jurisdiction")
    environment = config.get("r2-video:environment")
    return FleetRow(
        stack=stack,
        planned=False,
        environment=str(environment) if isinstance(environment, str) else "-",
        jurisdiction=str(jurisdiction) if isinstance(jurisdiction, str) else "-",
        problem=problem,
    )


def _cell(value: Any) -> str:
    """Plain text for a Markdown table cell (the review shows rows of untrusted plans)."""
    text = _UNSAFE.sub("?", str(value))
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 3] + "..."


def _money(usd: float | None) -> str:
    return "-" if usd is None else f"${usd:,.2f}"


def _markdown_row(row: FleetRow, label: str | None = None) -> str:
    name = f"`{_cell(row.stack)}`" + (f" ({label})" if label else "")
    if not row.planned:
        cells = [name, _cell(row.environment), _cell(row.jurisdiction), "-", "-", "-"]
        cells += [f"**not planned**: {_cell(row.problem)}", "-", "-", "-"]
        return "| " + " | ".join(cells) + " |"
    hosts = (
        "<br>".join(
            f"`{_cell(h.name)}` "
            + (f"regional ({_cell(h.region_key)})" if h.regional else "**not regional**")
            for h in row.hostnames
        )
        or "none"
    )
    aws = f"{_cell(row.aws_partition)} {_cell(row.aws_region)}" if row.aws_region else "-"
    if row.r2_cloudflare_usd is not None:
        cost = f"{_money(row.r2_cloudflare_usd)} (S3 + CloudFront {_money(row.s3_cloudfront_usd)})"
        if row.cost_note:
            cost += f", {_cell(row.cost_note)}"
    else:
        cost = _cell(row.cost_note)
    residency = _cell(row.residency)
    policy = _cell(row.policy)
    return (
        f"| {name} | {_cell(row.environment)} | {_cell(row.jurisdiction)}"
        f" | {_cell(row.location_hint or 'none')} | {aws} | {hosts}"
        f" | {'**' + residency + '**' if residency.startswith('OUTSIDE') else residency}"
        f" | {'**' + policy + '**' if policy.startswith('FAIL') else policy}"
        f" | `{(row.plan_digest or '-')[:12]}` | {cost} |"
    )


HEADER = (
    "| stack | env | jurisdiction | location hint | AWS partition, region | hostnames"
    " | residency | policy | plan digest | cost a month (R2 + CDN) |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def render_markdown(rows: list[FleetRow], *, title: str | None = "Fleet") -> str:
    """One table row a stack, in the order given."""
    lines = [f"# {title}", ""] if title else []
    lines += [HEADER, *(_markdown_row(r) for r in rows)]
    return "\n".join(lines) + "\n"


def render_rows(pairs: list[tuple[FleetRow, str]]) -> str:
    """Rows with a label each (the review's ``before`` and ``after``), under the header."""
    return "\n".join([HEADER, *(_markdown_row(r, label) for r, label in pairs)]) + "\n"


def render_json(rows: list[FleetRow]) -> str:
    return json.dumps([r.to_json() for r in rows], indent=2, sort_keys=True) + "\n"
