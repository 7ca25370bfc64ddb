"""What a video workload costs a month on R2 + Cloudflare's CDN versus S3 + CloudFront.

Pure functions over a frozen :class:`Workload`; every price comes from ``infra/prices.json``
(each figure with its source and the day it was checked), none is written here. Units: GB is
10^9 bytes, TB 10^12, PB 10^15, as cloud price lists use them; money is USD per month unless a
name says otherwise. :func:`main` is the ``cost`` command that ``infra/cli.py`` dispatches to.

References: https://developers.cloudflare.com/r2/pricing/ ,
https://aws.amazon.com/cloudfront/pricing/ , https://aws.amazon.com/s3/pricing/
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import yaml

__all__ = [
    "BYTES_PER_GB",
    "CONFIG_KEY",
    "PRICES_PATH",
    "CostLines",
    "Estimate",
    "MigrationCost",
    "Prices",
    "Tier",
    "Volumes",
    "Workload",
    "estimate",
    "load_prices",
    "load_stack_workload",
    "main",
    "migration_cost",
    "payback_months",
    "r2_cloudflare_month",
    "render",
    "s3_cloudfront_month",
    "tiered_cost_usd",
    "volumes",
    "workload_from_mapping",
]

BYTES_PER_GB = 1e9
GB_PER_TB = 1000.0
GB_PER_PB = 1e6
PRICES_PATH = Path(__file__).with_name("prices.json")
PROJECT = "r2-video"
CONFIG_KEY = f"{PROJECT}:workload"
# Pulumi.yaml and the Pulumi.<stack>.yaml files sit at the repository root, one level up.
DEFAULT_CONFIG_DIR = Path(__file__).resolve().parent.parent
FORMATS = ("table", "json", "markdown")

_SECONDS_PER_HOUR = 3600.0
_SECONDS_PER_MINUTE = 60.0
_BITS_PER_BYTE = 8.0
_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")


# --------------------------------------------------------------------------- the workload


class _Spec(NamedTuple):
    meaning: str
    minimum: float
    maximum: float
    example: str
    above_minimum: bool = False  # True when the minimum itself is not allowed


# One line per field: what it means, the plausible range, and a value to show in an example.
# The upper bounds catch unit mistakes (GB typed as TB, kbps as Mbps), not real platforms.
_SPECS: dict[str, _Spec] = {
    "r2_standard_tb": _Spec("TB stored in R2 Standard", 0, 1e6, "120"),
    "r2_ia_tb": _Spec("TB stored in R2 Infrequent Access", 0, 1e6, "0"),
    "s3_standard_tb": _Spec("TB the same renditions would take in S3 Standard", 0, 1e6, "120"),
    "encoded_minutes": _Spec("minutes of video encoded per month", 0, 1e9, "60000"),
    "rendition_kbps": _Spec(
        "the rendition ladder, one bitrate in kbps per rendition",
        0,
        1e6,
        "[400, 1200, 3500]",
        above_minimum=True,
    ),
    "viewer_hours": _Spec("hours watched per month", 0, 1e11, "10000000"),
    "avg_bitrate_mbps": _Spec(
        "average delivered bitrate in Mbps", 0, 1000, "1.1", above_minimum=True
    ),
    "cdn_hit_ratio": _Spec("fraction of viewer requests served from the CDN cache", 0, 1, "0.95"),
    "segment_seconds": _Spec("segment duration in seconds", 0, 60, "6", above_minimum=True),
    "viewer_requests_per_segment": _Spec(
        "viewer requests per segment played, manifests included", 1, 100, "1.1"
    ),
    "writes_per_segment": _Spec(
        "object writes per encoded segment per rendition, manifests included", 1, 100, "1"
    ),
    "ia_read_share": _Spec(
        "fraction of origin reads that hit Infrequent Access objects", 0, 1, "0.05"
    ),
    "migrate_tb": _Spec("TB to copy from S3 to R2 once", 0, 1e6, "120"),
}


def _range_text(spec: _Spec) -> str:
    low = f"greater than {spec.minimum:g}" if spec.above_minimum else f"at least {spec.minimum:g}"
    return f"{low} and at most {spec.maximum:g}"


def _check_number(name: str, value: object, spec: _Spec) -> float:
    """The value as a float, or ValueError naming the field and the range it must lie in."""
    # bool is an int in Python; a YAML `true` is never a quantity.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(
            f"workload.{name} must be a number ({spec.meaning}), got {value!r}: "
            f"write it as e.g. {spec.example}"
        )
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"workload.{name} must be a finite number ({spec.meaning}), got {value!r}")
    too_low = number <= spec.minimum if spec.above_minimum else number < spec.minimum
    if too_low or number > spec.maximum:
        raise ValueError(
            f"workload.{name} must be {_range_text(spec)} ({spec.meaning}), got {value!r}"
        )
    return number


@dataclass(frozen=True, kw_only=True)
class Workload:
    """One platform's month: what it stores, encodes and serves. Validated on construction."""

    r2_standard_tb: float
    """TB of renditions kept in R2 Standard (average over the month)."""
    s3_standard_tb: float
    """TB the same renditions take in S3 Standard in the comparison column."""
    encoded_minutes: float
    """Minutes of video encoded (and written once per rendition) per month."""
    rendition_kbps: tuple[float, ...]
    """The ladder: one bitrate in kbps per rendition written for every encoded minute."""
    viewer_hours: float
    """Hours watched per month."""
    avg_bitrate_mbps: float
    """Average bitrate actually delivered to viewers, in Mbps."""
    cdn_hit_ratio: float
    """Fraction of viewer requests (and bytes) served from the CDN cache, 0 to 1."""
    r2_ia_tb: float = 0.0
    """TB of renditions kept in R2 Infrequent Access."""
    segment_seconds: float = 6.0
    """Segment duration; turns hours into segment requests and writes."""
    viewer_requests_per_segment: float = 1.1
    """Requests per segment played: the segment plus its share of manifest and init fetches."""
    writes_per_segment: float = 1.0
    """Object writes per encoded segment per rendition (raise it to count manifests)."""
    ia_read_share: float | None = None
    """Share of origin reads served from IA; None means IA's share of the stored bytes."""
    migrate_tb: float | None = None
    """TB copied from S3 to R2 once; None means everything R2 stores."""

    def __post_init__(self) -> None:
        ladder: object = self.rendition_kbps
        if isinstance(ladder, str | bytes) or not isinstance(ladder, Sequence) or not ladder:
            raise ValueError(
                f"workload.rendition_kbps must be a non-empty list of bitrates in kbps, "
                f"got {ladder!r}: write it as e.g. {_SPECS['rendition_kbps'].example}"
            )
        ladder_kbps = tuple(
            _check_number("rendition_kbps", kbps, _SPECS["rendition_kbps"]) for kbps in ladder
        )
        # A list passed in is stored as a tuple so the frozen workload is hashable and stable.
        object.__setattr__(self, "rendition_kbps", ladder_kbps)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "rendition_kbps" or value is None:
                continue
            object.__setattr__(self, f.name, _check_number(f.name, value, _SPECS[f.name]))
        if self.ia_read_share and not self.r2_ia_tb:
            raise ValueError(
                f"workload.ia_read_share is {self.ia_read_share!r} but workload.r2_ia_tb is 0: "
                "nothing can be read from Infrequent Access; set r2_ia_tb or drop ia_read_share"
            )

    @property
    def origin_ia_share(self) -> float:
        """Share of origin reads that hit Infrequent Access objects."""
        if self.ia_read_share is not None:
            return self.ia_read_share
        stored_tb = self.r2_standard_tb + self.r2_ia_tb
        return self.r2_ia_tb / stored_tb if stored_tb else 0.0

    @property
    def migration_tb(self) -> float:
        """TB the one-off copy moves out of S3."""
        if self.migrate_tb is not None:
            return self.migrate_tb
        return self.r2_standard_tb + self.r2_ia_tb


# The fields without a default: a stack file (or the flags) must give each of them.
_REQUIRED = tuple(f.name for f in fields(Workload) if f.default is MISSING)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _missing_message(name: str) -> str:
    spec = _SPECS[name]
    example = "400" if name == "rendition_kbps" else spec.example
    path = f"workload.{name}[0]" if name == "rendition_kbps" else f"workload.{name}"
    return (
        f"workload.{name} is missing ({spec.meaning}): set it with "
        f"pulumi config set --path '{path}' {example}, or pass {_flag(name)}"
    )


def _coerce(name: str, value: object) -> object:
    """A config or flag value as the type Workload expects; numbers may arrive as strings.

    ``pulumi config set --path`` stores integers as numbers but decimals such as 0.95 as strings,
    so a numeric string is accepted; anything else is left for Workload to reject by name.
    """
    if isinstance(value, Mapping) and "secure" in value:
        raise ValueError(
            f"workload.{name} is encrypted (a Pulumi secret); the cost model needs a plain "
            f"number: set it again without --secret"
        )
    if name == "rendition_kbps":
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            return tuple(_coerce_scalar(name, part) for part in parts)
        if isinstance(value, Sequence):
            return tuple(_coerce_scalar(name, item) for item in value)
        return value
    return _coerce_scalar(name, value)


def _coerce_scalar(name: str, value: object) -> object:
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError(
                f"workload.{name} must be a number ({_SPECS[name].meaning}), got {value!r}: "
                f"write it as e.g. {_SPECS[name].example}"
            ) from None
    return value


def workload_from_mapping(data: Mapping[str, object]) -> Workload:
    """A Workload from the snake_case mapping under ``r2-video:workload`` (or merged flags)."""
    unknown = sorted(set(data) - set(_SPECS))
    if unknown:
        raise ValueError(
            f"unknown workload field(s) {', '.join('workload.' + k for k in unknown)}; "
            f"known fields: {', '.join(_SPECS)}"
        )
    for name in _REQUIRED:
        if data.get(name) is None:
            raise ValueError(_missing_message(name))
    values: dict[str, Any] = {
        name: _coerce(name, value) for name, value in data.items() if value is not None
    }
    return Workload(**values)


# --------------------------------------------------------------------------- the prices


@dataclass(frozen=True)
class Tier:
    """One volume tier: the next ``width_gb`` GB (None: all the rest) at ``usd_per_gb``."""

    width_gb: float | None
    usd_per_gb: float


@dataclass(frozen=True, kw_only=True)
class Prices:
    """The figures of ``prices.json`` the model uses, by name with their units."""

    r2_storage_usd_per_gb_month: float
    r2_class_a_usd_per_million: float
    r2_class_b_usd_per_million: float
    r2_egress_usd_per_gb: float
    r2_free_storage_gb_month: float
    r2_free_class_a_per_month: float
    r2_free_class_b_per_month: float
    r2_ia_storage_usd_per_gb_month: float
    r2_ia_retrieval_usd_per_gb: float
    r2_ia_class_a_usd_per_million: float
    r2_ia_class_b_usd_per_million: float
    cloudflare_requests_usd_per_10k: float
    s3_storage_tiers: tuple[Tier, ...]
    s3_put_usd_per_thousand: float
    s3_get_usd_per_thousand: float
    s3_retrieval_usd_per_gb: float
    s3_to_cloudfront_usd_per_gb: float
    s3_transfer_out_tiers: tuple[Tier, ...]
    cloudfront_transfer_out_tiers: tuple[Tier, ...]
    cloudfront_https_usd_per_10k: float
    cloudfront_free_transfer_gb_per_month: float
    cloudfront_free_requests_per_month: float
    as_of: str
    """The oldest ``as_of`` date among the figures: how fresh the whole set is."""


# Where each Prices field lives in prices.json (section, figure).
PRICE_FIGURES: dict[str, tuple[str, str]] = {
    "r2_storage_usd_per_gb_month": ("r2_standard", "storage_usd_per_gb_month"),
    "r2_class_a_usd_per_million": ("r2_standard", "class_a_usd_per_million"),
    "r2_class_b_usd_per_million": ("r2_standard", "class_b_usd_per_million"),
    "r2_egress_usd_per_gb": ("r2_standard", "egress_usd_per_gb"),
    "r2_free_storage_gb_month": ("r2_standard", "free_storage_gb_month"),
    "r2_free_class_a_per_month": ("r2_standard", "free_class_a_per_month"),
    "r2_free_class_b_per_month": ("r2_standard", "free_class_b_per_month"),
    "r2_ia_storage_usd_per_gb_month": ("r2_infrequent_access", "storage_usd_per_gb_month"),
    "r2_ia_retrieval_usd_per_gb": ("r2_infrequent_access", "retrieval_usd_per_gb"),
    "r2_ia_class_a_usd_per_million": ("r2_infrequent_access", "class_a_usd_per_million"),
    "r2_ia_class_b_usd_per_million": ("r2_infrequent_access", "class_b_usd_per_million"),
    "cloudflare_requests_usd_per_10k": ("cloudflare_cdn", "requests_usd_per_10k"),
    "s3_storage_tiers": ("s3_standard", "storage_tiers"),
    "s3_put_usd_per_thousand": ("s3_standard", "put_usd_per_thousand"),
    "s3_get_usd_per_thousand": ("s3_standard", "get_usd_per_thousand"),
    "s3_retrieval_usd_per_gb": ("s3_standard", "retrieval_usd_per_gb"),
    "s3_to_cloudfront_usd_per_gb": ("s3_standard", "transfer_to_cloudfront_usd_per_gb"),
    "s3_transfer_out_tiers": ("s3_standard", "transfer_out_internet_tiers"),
    "cloudfront_transfer_out_tiers": ("cloudfront", "transfer_out_tiers"),
    "cloudfront_https_usd_per_10k": ("cloudfront", "https_requests_usd_per_10k"),
    "cloudfront_free_transfer_gb_per_month": ("cloudfront", "free_transfer_out_gb_per_month"),
    "cloudfront_free_requests_per_month": ("cloudfront", "free_requests_per_month"),
}


def _price_number(where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number, got {value!r}")
    if value < 0:
        raise ValueError(f"{where} must not be negative, got {value!r}")
    return float(value)


def _figure(doc: Mapping[str, Any], section: str, name: str) -> tuple[object, str]:
    """The figure's value (a number or tiers) and its as_of date, after checking provenance."""
    where = f"prices.json {section}.{name}"
    figure = doc.get(section, {}).get(name)
    if not isinstance(figure, Mapping):
        raise ValueError(f"{where} is missing")
    source, as_of = figure.get("source"), figure.get("as_of")
    if not isinstance(source, str) or not source.startswith("https://"):
        raise ValueError(f"{where} needs a 'source' https URL, got {source!r}")
    try:
        date.fromisoformat(str(as_of))
    except ValueError:
        raise ValueError(f"{where} needs an 'as_of' date (YYYY-MM-DD), got {as_of!r}") from None
    if "tiers" in figure:
        return _tiers(where, figure["tiers"]), str(as_of)
    return _price_number(f"{where}.value", figure.get("value")), str(as_of)


def _tiers(where: str, raw: object) -> tuple[Tier, ...]:
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{where}.tiers must be a non-empty list")
    tiers: list[Tier] = []
    for index, item in enumerate(raw):
        at = f"{where}.tiers[{index}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{at} must be an object with width_gb and usd_per_gb")
        last = index == len(raw) - 1
        width = item.get("width_gb")
        # Only the last tier is open-ended, so every GB has exactly one rate.
        if last != (width is None):
            raise ValueError(f"{at}.width_gb must be null on the last tier and only there")
        width_gb = None if width is None else _price_number(f"{at}.width_gb", width)
        if width_gb == 0:
            raise ValueError(f"{at}.width_gb must be positive")
        tiers.append(Tier(width_gb, _price_number(f"{at}.usd_per_gb", item.get("usd_per_gb"))))
    return tuple(tiers)


def load_prices(path: Path = PRICES_PATH) -> Prices:
    """Read and check the price file: every figure needs a source URL and an as_of date."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    values: dict[str, Any] = {}
    dates: list[str] = []
    for attr, (section, name) in PRICE_FIGURES.items():
        values[attr], as_of = _figure(doc, section, name)
        dates.append(as_of)
    return Prices(**values, as_of=min(dates))


# --------------------------------------------------------------------------- the arithmetic


def tiered_cost_usd(quantity_gb: float, tiers: Sequence[Tier]) -> float:
    """Cost of ``quantity_gb`` through volume tiers: each GB at the rate of the tier it falls in."""
    cost_usd = 0.0
    remaining_gb = quantity_gb
    for tier in tiers:
        if remaining_gb <= 0:
            break
        in_tier_gb = remaining_gb if tier.width_gb is None else min(remaining_gb, tier.width_gb)
        cost_usd += in_tier_gb * tier.usd_per_gb
        remaining_gb -= in_tier_gb
    return cost_usd


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

    @property
    def total_usd(self) -> float:
        return (
            self.storage_usd
            + self.writes_usd
            + self.reads_usd
            + self.retrieval_usd
            + self.egress_usd
            + self.requests_usd
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
    )


# --------------------------------------------------------------------------- the report

_LINES = (
    ("storage_usd", "Storage"),
    ("writes_usd", "Writes (R2 Class A / S3 PUT)"),
    ("reads_usd", "Origin reads (R2 Class B / S3 GET)"),
    ("retrieval_usd", "IA retrieval"),
    ("egress_usd", "Egress to viewers"),
    ("requests_usd", "CDN requests"),
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
        "units": "USD per month; GB = 10^9 bytes, TB = 10^12, PB = 10^15",
        "prices_as_of": est.prices_as_of,
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
        f"Prices as of {est.prices_as_of} (infra/prices.json); GB = 10^9 bytes.",
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
    return "\n".join([*out, "", *(f"- {line}" for line in _summary(est))]) + "\n"


def render(est: Estimate, fmt: str, *, title: str = "Delivery cost per month") -> str:
    """The report in one of FORMATS; json is stable (sorted keys, fixed rounding)."""
    if fmt == "json":
        return json.dumps(as_dict(est), sort_keys=True, indent=2) + "\n"
    if fmt == "markdown":
        return render_markdown(est, title=title)
    if fmt == "table":
        return render_table(est, title=title)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


# --------------------------------------------------------------------------- stack config


def _example_hint(stack: str) -> str:
    return (
        f"set it with e.g. pulumi config set --stack {stack} --path "
        f"'workload.viewer_hours' 10000000 (one line per field; see docs/cost.md for the "
        f"full block to paste under config:)"
    )


def load_stack_workload(stack: str, config_dir: Path) -> Mapping[str, object] | None:
    """The ``r2-video:workload`` mapping of ``Pulumi.<stack>.yaml``, or None when it is absent."""
    if not _STACK_NAME.fullmatch(stack):
        raise ValueError(
            f"--stack must be a stack name such as eu-prod (letters, digits, '-', '_', '.'), "
            f"got {stack!r}"
        )
    path = config_dir / f"Pulumi.{stack}.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(
            f"{path} does not exist: create the stack file or point --config-dir at the folder "
            f"holding Pulumi.{stack}.yaml"
        ) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML: {err}") from None
    doc = {} if doc is None else doc
    if not isinstance(doc, Mapping):
        raise ValueError(f"{path} must be a YAML mapping with a 'config:' section")
    config = doc.get("config") or {}
    if not isinstance(config, Mapping):
        raise ValueError(f"{path}: 'config:' must be a mapping of '{PROJECT}:<key>' entries")
    if CONFIG_KEY not in config and "workload" in config:
        raise ValueError(
            f"{path} has 'workload' without the project prefix: the key is {CONFIG_KEY}"
        )
    raw = config.get(CONFIG_KEY)
    if raw is None:
        return None
    if isinstance(raw, str):
        # `pulumi config set workload '{...}'` (without --path) stores the JSON as a string.
        with contextlib.suppress(json.JSONDecodeError):
            raw = json.loads(raw)
    if not isinstance(raw, Mapping):
        raise ValueError(
            f"{path}: {CONFIG_KEY} must be a mapping of workload fields, got {raw!r}; "
            + _example_hint(stack)
        )
    return {str(key): value for key, value in raw.items()}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cost",
        description=(
            "Monthly cost of a video workload on R2 + Cloudflare CDN versus S3 + CloudFront, "
            f"and the payback of migrating. Reads {CONFIG_KEY} from Pulumi.<stack>.yaml; "
            "every field can be overridden by its flag."
        ),
    )
    parser.add_argument("--stack", required=True, help="stack name, e.g. eu-prod")
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=DEFAULT_CONFIG_DIR,
        help="folder holding Pulumi.<stack>.yaml (default: the repository root)",
    )
    parser.add_argument("--format", choices=FORMATS, default="table")
    overrides = parser.add_argument_group("workload overrides (win over the stack file)")
    for name, spec in _SPECS.items():
        extra = ", comma-separated" if name == "rendition_kbps" else ""
        overrides.add_argument(_flag(name), dest=name, metavar="N", help=f"{spec.meaning}{extra}")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``cost --stack S [--config-dir DIR] [--format F] [--<field> N ...]``: 0 ok, 2 bad input."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2
    overrides = {name: getattr(args, name) for name in _SPECS if getattr(args, name) is not None}
    try:
        from_file = load_stack_workload(args.stack, args.config_dir)
        if from_file is None and not set(_REQUIRED) <= set(overrides):
            raise ValueError(
                f"Pulumi.{args.stack}.yaml has no {CONFIG_KEY}; {_example_hint(args.stack)}"
            )
        workload = workload_from_mapping({**(from_file or {}), **overrides})
        report = render(
            estimate(workload, load_prices()),
            args.format,
            title=f"Delivery cost per month, stack {args.stack}",
        )
    except ValueError as err:
        print(f"cost: error: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
