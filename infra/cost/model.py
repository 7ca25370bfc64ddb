"""What a video workload costs a month on R2 + Cloudflare's CDN versus S3 + CloudFront.

Pure functions over a frozen ``Workload`` (``infra/cost/workload.py``) and the checked price list
(``infra/cost/prices.py``, figures in ``infra/cost/prices.json``); nothing is priced here.

One unit convention, applied everywhere: GB = 2^30 bytes (1,073,741,824), TB = 1,024 GB,
PB = 1,024 TB. Sources: the S3 FAQ converts stored bytes to GB-months at 1,073,741,824 bytes
per GB (https://aws.amazon.com/s3/faqs/), and its per-GB data upload/retrieval example divides
KB by 1,048,576; CloudFront's tier steps (10+40+100+350+524 TB) make its first PB 1,024 TB.
No page we can read states the byte count of an internet-transfer GB or of R2's GB: the same
convention is applied to them, and docs/cost.md says so. Money is USD per month unless a name
says otherwise. ``main`` is the ``cost`` command that ``infra/cli.py`` dispatches to.

References: https://developers.cloudflare.com/r2/pricing/ ,
https://aws.amazon.com/cloudfront/pricing/ , https://aws.amazon.com/s3/pricing/
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from infra.cost.prices import PRICES_PATH, Prices, load_prices, tiered_cost_usd
from infra.cost.workload import (
    CONFIG_KEY,
    FIELDS,
    REQUIRED,
    Workload,
    example_hint,
    flag_name,
    load_stack_workload,
    workload_from_mapping,
)
from infra.residency import is_region_name, partition_of
from infra.stack_config import PROJECT_ROOT, load_stack_config

__all__ = [
    "BYTES_PER_GB",
    "CLOUDFRONT_PARTITIONS",
    "CostLines",
    "Estimate",
    "MigrationCost",
    "Volumes",
    "as_dict",
    "bar_chart",
    "check_comparison_available",
    "estimate",
    "load_stack_region",
    "main",
    "migration_cost",
    "payback_months",
    "r2_cloudflare_month",
    "render",
    "s3_cloudfront_month",
    "volumes",
]

BYTES_PER_GB = float(2**30)
GB_PER_TB = 1024.0
GB_PER_PB = 1024.0 * 1024.0
UNITS = "GB = 2^30 bytes, TB = 1,024 GB, PB = 1,024 TB"

# CloudFront has no endpoint in these partitions (botocore data/endpoints.json lists cloudfront
# only in aws and aws-cn; the GovCloud User Guide's service list has no CloudFront): a stack
# there has no S3 + CloudFront comparison inside its boundary.
CLOUDFRONT_PARTITIONS = frozenset({"aws", "aws-cn"})
_INSTEAD = {
    "aws-us-gov": (
        "CloudFront is outside the GovCloud (FedRAMP) boundary. A FedRAMP stack delivers from R2"
        " jurisdiction fedramp through regional hostnames with region key fedramp (this"
        " project), or, AWS-only, straight from S3 (or a load balancer) inside GovCloud at"
        " GovCloud's data-transfer-out rates, which prices.json does not carry"
    ),
    "aws-eusc": (
        "CloudFront is not offered in the AWS European Sovereign Cloud. An EU sovereign stack"
        " delivers from R2 jurisdiction eu through regional hostnames with region key eu (this"
        " project), or, AWS-only, straight from S3 inside eusc-de-east-1"
    ),
}
FORMATS = ("table", "json", "markdown")

_SECONDS_PER_HOUR = 3600.0
_SECONDS_PER_MINUTE = 60.0
_BITS_PER_BYTE = 8.0


def _per(count: float, unit: float, price_usd: float) -> float:
    return count / unit * price_usd


@dataclass(frozen=True)
class Volumes:
    """What the workload moves in a month, derived from the Workload alone."""

    delivered_gb: float
    """Bytes delivered to viewers (CDN egress), in GB."""
    viewer_requests: float
    origin_requests: float
    """Viewer requests the CDN cache misses, each one read from the bucket."""
    origin_gb: float
    segment_writes: float
    """Objects written per month for new encodes (all renditions)."""
    encoded_gb: float
    """New renditions written per month (informational: storage growth)."""
    segment_gb: float
    """Average segment object size across the ladder, in GB."""


def volumes(w: Workload) -> Volumes:
    """Turn viewing and encoding into bytes, requests and writes."""
    delivered_gb = (
        w.viewer_hours * _SECONDS_PER_HOUR * w.avg_bitrate_mbps * 1e6 / _BITS_PER_BYTE
    ) / BYTES_PER_GB
    viewer_requests = (
        w.viewer_hours * _SECONDS_PER_HOUR / w.segment_seconds * w.viewer_requests_per_segment
    )
    miss = 1.0 - w.cdn_hit_ratio
    encoded_seconds = w.encoded_minutes * _SECONDS_PER_MINUTE
    ladder_bytes_per_second = sum(w.rendition_kbps) * 1000 / _BITS_PER_BYTE
    mean_kbps = sum(w.rendition_kbps) / len(w.rendition_kbps)
    return Volumes(
        delivered_gb=delivered_gb,
        viewer_requests=viewer_requests,
        origin_requests=viewer_requests * miss,
        # The byte hit ratio is taken to equal the request hit ratio (segments of a ladder).
        origin_gb=delivered_gb * miss,
        segment_writes=(
            encoded_seconds / w.segment_seconds * len(w.rendition_kbps) * w.writes_per_segment
        ),
        encoded_gb=encoded_seconds * ladder_bytes_per_second / BYTES_PER_GB,
        segment_gb=mean_kbps * 1000 / _BITS_PER_BYTE * w.segment_seconds / BYTES_PER_GB,
    )


@dataclass(frozen=True)
class CostLines:
    """One column of the monthly bill, in USD."""

    storage_usd: float
    writes_usd: float
    """R2 Class A, or S3 PUT."""
    reads_usd: float
    """R2 Class B, or S3 GET: origin reads on CDN cache misses."""
    retrieval_usd: float
    """R2 Infrequent Access retrieval."""
    egress_usd: float
    """Bytes to viewers: free from R2 through Cloudflare, tiered on CloudFront."""
    requests_usd: float
    """Viewer requests at the CDN."""
    plan_usd: float = 0.0
    """The Cloudflare plan / Data Localization Suite fee, as the user supplied it."""

    @property
    def total_usd(self) -> float:
        return (
            self.storage_usd
            + self.writes_usd
            + self.reads_usd
            + self.retrieval_usd
            + self.egress_usd
            + self.requests_usd
            + self.plan_usd
        )


def r2_cloudflare_month(w: Workload, p: Prices) -> CostLines:
    """Monthly bill for R2 behind Cloudflare's CDN; the free tier applies to Standard only."""
    v = volumes(w)
    ia_share = w.origin_ia_share
    standard_reads = v.origin_requests * (1.0 - ia_share)
    ia_reads = v.origin_requests * ia_share
    standard_gb = w.r2_standard_tb * GB_PER_TB
    return CostLines(
        storage_usd=(
            max(0.0, standard_gb - p.r2_free_storage_gb_month) * p.r2_storage_usd_per_gb_month
            + w.r2_ia_tb * GB_PER_TB * p.r2_ia_storage_usd_per_gb_month
        ),
        # New encodes land in Standard; a lifecycle move to IA would be one more Class A each.
        writes_usd=_per(
            max(0.0, v.segment_writes - p.r2_free_class_a_per_month),
            1e6,
            p.r2_class_a_usd_per_million,
        ),
        reads_usd=(
            _per(
                max(0.0, standard_reads - p.r2_free_class_b_per_month),
                1e6,
                p.r2_class_b_usd_per_million,
            )
            + _per(ia_reads, 1e6, p.r2_ia_class_b_usd_per_million)
        ),
        retrieval_usd=v.origin_gb * ia_share * p.r2_ia_retrieval_usd_per_gb,
        egress_usd=v.delivered_gb * p.r2_egress_usd_per_gb,
        requests_usd=_per(v.viewer_requests, 1e4, p.cloudflare_requests_usd_per_10k),
        plan_usd=w.cloudflare_plan_usd_per_month or 0.0,
    )


def s3_cloudfront_month(w: Workload, p: Prices) -> CostLines:
    """Monthly bill for S3 Standard behind CloudFront (US/EU rates, always-free tier applied)."""
    v = volumes(w)
    tiers = p.cloudfront_transfer_out_tiers
    # The free GB are the first GB, so they come off the first tier's rate.
    free_gb = min(v.delivered_gb, p.cloudfront_free_transfer_gb_per_month)
    egress_usd = tiered_cost_usd(v.delivered_gb, tiers) - tiered_cost_usd(free_gb, tiers)
    return CostLines(
        storage_usd=tiered_cost_usd(w.s3_standard_tb * GB_PER_TB, p.s3_storage_tiers),
        writes_usd=_per(v.segment_writes, 1e3, p.s3_put_usd_per_thousand),
        reads_usd=_per(v.origin_requests, 1e3, p.s3_get_usd_per_thousand),
        retrieval_usd=v.origin_gb * p.s3_retrieval_usd_per_gb,
        egress_usd=egress_usd + v.origin_gb * p.s3_to_cloudfront_usd_per_gb,
        requests_usd=_per(
            max(0.0, v.viewer_requests - p.cloudfront_free_requests_per_month),
            1e4,
            p.cloudfront_https_usd_per_10k,
        ),
    )


@dataclass(frozen=True)
class MigrationCost:
    """The one-off cost of copying ``tb`` from S3 to R2 (Super Slurper or Sippy)."""

    tb: float
    objects: float
    s3_egress_usd: float
    s3_get_usd: float
    r2_writes_usd: float

    @property
    def total_usd(self) -> float:
        return self.s3_egress_usd + self.s3_get_usd + self.r2_writes_usd


def migration_cost(w: Workload, p: Prices) -> MigrationCost:
    """S3 internet egress (tiered, one billing month) + S3 GETs + R2 Class A for the copy.

    Objects are the ladder's average segment; Cloudflare's copiers write an object under 100 MiB
    with one Class A operation, and a segment is far smaller than that.
    """
    v = volumes(w)
    migrate_gb = w.migration_tb * GB_PER_TB
    objects = migrate_gb / v.segment_gb
    return MigrationCost(
        tb=w.migration_tb,
        objects=objects,
        s3_egress_usd=tiered_cost_usd(migrate_gb, p.s3_transfer_out_tiers),
        s3_get_usd=_per(objects, 1e3, p.s3_get_usd_per_thousand),
        r2_writes_usd=_per(objects * w.writes_per_segment, 1e6, p.r2_class_a_usd_per_million),
    )


def payback_months(one_off_usd: float, monthly_savings_usd: float) -> float | None:
    """Months of savings that repay the one-off cost; None when there are no savings."""
    if monthly_savings_usd <= 0:
        return None
    return one_off_usd / monthly_savings_usd


@dataclass(frozen=True)
class Estimate:
    """Both columns, the savings and the payback for one workload."""

    workload: Workload
    volumes: Volumes
    r2_cloudflare: CostLines
    s3_cloudfront: CostLines
    migration: MigrationCost
    prices_as_of: str
    s3_region: str = "us-east-1"

    @property
    def monthly_savings_usd(self) -> float:
        """What R2 + Cloudflare saves per month against S3 + CloudFront (negative: costs more)."""
        return self.s3_cloudfront.total_usd - self.r2_cloudflare.total_usd

    @property
    def payback_months(self) -> float | None:
        return payback_months(self.migration.total_usd, self.monthly_savings_usd)


def estimate(w: Workload, p: Prices) -> Estimate:
    """Everything the report shows, for one workload and one price set."""
    return Estimate(
        workload=w,
        volumes=volumes(w),
        r2_cloudflare=r2_cloudflare_month(w, p),
        s3_cloudfront=s3_cloudfront_month(w, p),
        migration=migration_cost(w, p),
        prices_as_of=p.as_of,
        s3_region=p.s3_region,
    )


_LINES = (
    ("storage_usd", "Storage"),
    ("writes_usd", "Writes (R2 Class A / S3 PUT)"),
    ("reads_usd", "Origin reads (R2 Class B / S3 GET)"),
    ("retrieval_usd", "IA retrieval"),
    ("egress_usd", "Egress to viewers"),
    ("requests_usd", "CDN requests"),
    ("plan_usd", "Cloudflare plan / DLS (user-supplied)"),
)
_R2_TITLE = "R2 + Cloudflare CDN"
_S3_TITLE = "S3 + CloudFront"


def _money(usd: float) -> str:
    return f"${usd:,.2f}"


def _payback_text(est: Estimate) -> str:
    months = est.payback_months
    if months is None:
        return (
            "never: R2 + Cloudflare CDN is not cheaper per month for this workload, "
            "so the copy does not pay back"
        )
    return f"{months:,.2f} months"


def _lines_dict(lines: CostLines) -> dict[str, float]:
    out = {name: round(value, 2) for name, value in asdict(lines).items()}
    out["total_usd"] = round(lines.total_usd, 2)
    return out


def as_dict(est: Estimate) -> dict[str, Any]:
    """The report as plain data (rounded to cents), the shape ``--format json`` prints."""
    v, m = est.volumes, est.migration
    months = est.payback_months
    return {
        "units": f"USD per month; {UNITS}",
        "prices_as_of": est.prices_as_of,
        "s3_region": est.s3_region,
        "columns": {
            "r2_cloudflare": _lines_dict(est.r2_cloudflare),
            "s3_cloudfront": _lines_dict(est.s3_cloudfront),
        },
        "monthly_savings_usd": round(est.monthly_savings_usd, 2),
        "migration": {
            "tb": m.tb,
            "objects": round(m.objects),
            "s3_egress_usd": round(m.s3_egress_usd, 2),
            "s3_get_usd": round(m.s3_get_usd, 2),
            "r2_writes_usd": round(m.r2_writes_usd, 2),
            "total_usd": round(m.total_usd, 2),
            "payback_months": None if months is None else round(months, 2),
            "payback": _payback_text(est),
        },
        "volumes": {
            "delivered_gb": round(v.delivered_gb, 3),
            "delivered_pb": round(v.delivered_gb / GB_PER_PB, 6),
            "viewer_requests": round(v.viewer_requests),
            "origin_requests": round(v.origin_requests),
            "origin_gb": round(v.origin_gb, 3),
            "segment_writes": round(v.segment_writes),
            "encoded_gb": round(v.encoded_gb, 3),
        },
        "workload": {
            **asdict(est.workload),
            "rendition_kbps": list(est.workload.rendition_kbps),
            "ia_read_share": est.workload.origin_ia_share,
            "migrate_tb": est.workload.migration_tb,
        },
    }


def _volume_text(gb: float) -> str:
    if gb >= GB_PER_PB:
        return f"{gb / GB_PER_PB:,.2f} PB"
    if gb >= GB_PER_TB:
        return f"{gb / GB_PER_TB:,.2f} TB"
    return f"{gb:,.2f} GB"


def _summary(est: Estimate) -> list[str]:
    v, m, w = est.volumes, est.migration, est.workload
    savings = est.monthly_savings_usd
    verdict = (
        f"R2 + Cloudflare CDN saves {_money(savings)} per month"
        if savings > 0
        else f"R2 + Cloudflare CDN costs {_money(-savings)} more per month"
    )
    return [
        verdict + ".",
        f"Migrating {m.tb:,.2f} TB ({m.objects:,.0f} objects) costs {_money(m.total_usd)} once "
        f"(S3 egress {_money(m.s3_egress_usd)}, S3 GET {_money(m.s3_get_usd)}, "
        f"R2 Class A {_money(m.r2_writes_usd)}); payback: {_payback_text(est)}.",
        f"Delivered {_volume_text(v.delivered_gb)} ({v.delivered_gb:,.0f} GB) to viewers in "
        f"{v.viewer_requests:,.0f} requests; {v.origin_requests:,.0f} origin reads at a "
        f"{w.cdn_hit_ratio:.0%} CDN hit ratio; {v.segment_writes:,.0f} segment writes.",
        f"S3 priced in {est.s3_region}; prices as of {est.prices_as_of}"
        f" (infra/cost/prices.json); {UNITS}.",
        (
            "Cloudflare plan / Data Localization Suite fee: "
            + (
                f"{_money(w.cloudflare_plan_usd_per_month)} as supplied (not published)."
                if w.cloudflare_plan_usd_per_month is not None
                else "not included; Enterprise and the DLS are quoted per contract: set"
                " workload.cloudflare_plan_usd_per_month."
            )
        ),
    ]


def render_table(est: Estimate, *, title: str) -> str:
    """A plain-text table for a terminal."""
    rows = [
        (label, getattr(est.r2_cloudflare, k), getattr(est.s3_cloudfront, k)) for k, label in _LINES
    ]
    rows.append(("Total", est.r2_cloudflare.total_usd, est.s3_cloudfront.total_usd))
    label_w = max(len(label) for label, _, _ in rows)
    r2_w = max(len(_R2_TITLE), *(len(_money(r2)) for _, r2, _ in rows))
    s3_w = max(len(_S3_TITLE), *(len(_money(s3)) for _, _, s3 in rows))
    out = [title, "", f"{'USD per month':<{label_w}}  {_R2_TITLE:>{r2_w}}  {_S3_TITLE:>{s3_w}}"]
    out.append(f"{'-' * label_w}  {'-' * r2_w}  {'-' * s3_w}")
    for index, (label, r2, s3) in enumerate(rows):
        if index == len(rows) - 1:
            out.append(f"{'-' * label_w}  {'-' * r2_w}  {'-' * s3_w}")
        out.append(f"{label:<{label_w}}  {_money(r2):>{r2_w}}  {_money(s3):>{s3_w}}")
    return "\n".join([*out, "", *_summary(est)]) + "\n"


def render_markdown(est: Estimate, *, title: str) -> str:
    """A Markdown table for a pull-request comment."""
    out = [f"### {title}", "", f"| USD per month | {_R2_TITLE} | {_S3_TITLE} |", "|---|---:|---:|"]
    for key, label in _LINES:
        r2, s3 = getattr(est.r2_cloudflare, key), getattr(est.s3_cloudfront, key)
        out.append(f"| {label} | {_money(r2)} | {_money(s3)} |")
    out.append(
        f"| **Total** | **{_money(est.r2_cloudflare.total_usd)}** | "
        f"**{_money(est.s3_cloudfront.total_usd)}** |"
    )
    chart = ["", "```mermaid", *bar_chart(est, title=title).splitlines(), "```"]
    return "\n".join([*out, *chart, "", *(f"- {line}" for line in _summary(est))]) + "\n"


def bar_chart(est: Estimate, *, title: str) -> str:
    """The two monthly totals as a Mermaid bar chart (``xychart-beta``, which GitHub renders).

    References: https://mermaid.js.org/syntax/xyChart.html"""
    r2, s3 = round(est.r2_cloudflare.total_usd, 2), round(est.s3_cloudfront.total_usd, 2)
    top = max(r2, s3, 1.0) * 1.1  # headroom above the taller bar
    shown = title.replace('"', "'")
    return (
        "xychart-beta\n"
        f'  title "{shown} (USD)"\n'
        f'  x-axis ["{_R2_TITLE}", "{_S3_TITLE}"]\n'
        f'  y-axis "USD per month" 0 --> {top:.2f}\n'
        f"  bar [{r2:.2f}, {s3:.2f}]\n"
    )


def render(est: Estimate, fmt: str, *, title: str = "Delivery cost per month") -> str:
    """The report in one of FORMATS; json is stable (sorted keys, fixed rounding)."""
    if fmt == "json":
        return json.dumps(as_dict(est), sort_keys=True, indent=2) + "\n"
    if fmt == "markdown":
        return render_markdown(est, title=title)
    if fmt == "table":
        return render_table(est, title=title)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def load_stack_region(stack: str, config_dir: Path) -> str:
    """The stack's ``r2-video:awsRegion``: S3 is priced where the stack puts it."""
    region = load_stack_config(stack, config_dir).values.get("r2-video:awsRegion")
    if not isinstance(region, str) or not is_region_name(region):
        raise ValueError(
            f"Pulumi.{stack}.yaml has no valid r2-video:awsRegion ({region!r}); S3 prices differ"
            " by region: set it, or pass --aws-region"
        )
    return region


def check_comparison_available(region: str) -> None:
    """Refuse a comparison column the stack's partition cannot have (CloudFront's boundary)."""
    partition = partition_of(region)
    if partition not in CLOUDFRONT_PARTITIONS:
        instead = _INSTEAD.get(partition, f"CloudFront is not offered in partition {partition}")
        raise ValueError(f"no S3 + CloudFront comparison for {region} ({partition}): {instead}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cost",
        description=(
            "Monthly cost of a video workload on R2 + Cloudflare CDN versus S3 + CloudFront, "
            f"and the payback of migrating. Reads {CONFIG_KEY} from Pulumi.<stack>.yaml; "
            "every field can be overridden by its flag."
        ),
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack", help="stack name, e.g. eu-prod")
    which.add_argument(
        "--all",
        action="store_true",
        help="every stack of --config-dir, one report after another; exit status 2 when any"
        " stack's report is refused (each says why)",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=PROJECT_ROOT,
        help="folder holding Pulumi.<stack>.yaml (default: the repository root)",
    )
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument(
        "--aws-region", help="price S3 in this region (default: r2-video:awsRegion of the stack)"
    )
    parser.add_argument(
        "--prices",
        type=Path,
        default=PRICES_PATH,
        help="price file (default: infra/cost/prices.json)",
    )
    overrides = parser.add_argument_group("workload overrides (win over the stack file)")
    for name, spec in FIELDS.items():
        extra = ", comma-separated" if name == "rendition_kbps" else ""
        overrides.add_argument(
            flag_name(name), dest=name, metavar="N", help=f"{spec.meaning}{extra}"
        )
    return parser


def _report(stack: str, args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    """One stack's report on stdout (0), or why it is refused on stderr (2)."""
    try:
        from_file = load_stack_workload(stack, args.config_dir)
        if from_file is None and not set(REQUIRED) <= set(overrides):
            raise ValueError(f"Pulumi.{stack}.yaml has no {CONFIG_KEY}; {example_hint(stack)}")
        workload = workload_from_mapping({**(from_file or {}), **overrides})
        region = args.aws_region or load_stack_region(stack, args.config_dir)
        check_comparison_available(region)
        report = render(
            estimate(workload, load_prices(args.prices, aws_region=region)),
            args.format,
            title=f"Delivery cost per month, stack {stack}",
        )
    except ValueError as err:
        print(f"cost: error: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(report)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``cost --stack S | --all [--config-dir DIR] [--format F] [--<field> N ...]``: 0 ok, 2 bad
    input (with ``--all``: 2 when any stack's report is refused; every stack is reported)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2
    overrides = {name: getattr(args, name) for name in FIELDS if getattr(args, name) is not None}
    if not args.all:
        return _report(args.stack, args, overrides)
    from infra.review.fleet import discover, progress_stream, run_fleet, summary, worst

    fleet = discover(args.config_dir)
    if fleet.problems:
        for problem in fleet.problems:
            print(f"cost: error: {problem}", file=sys.stderr)
        return 2
    results = run_fleet(
        fleet,
        lambda stack: _report(stack, args, overrides),
        progress=progress_stream(),
        verb="cost",
    )
    sys.stderr.write(summary(results, verb="cost"))
    return worst([r.exit for r in results])


if __name__ == "__main__":
    raise SystemExit(main())
