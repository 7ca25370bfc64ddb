"""The price list of the cost model, read from ``infra/cost/prices.json`` and checked.

Every figure there carries its source URL and the day it was checked (``as_of``); a figure
without them is refused. Nothing is priced in code.

References: https://developers.cloudflare.com/r2/pricing/ ,
https://aws.amazon.com/cloudfront/pricing/ , https://aws.amazon.com/s3/pricing/
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

__all__ = ["PRICES_PATH", "PRICE_FIGURES", "Prices", "Tier", "load_prices", "tiered_cost_usd"]

PRICES_PATH = Path(__file__).with_name("prices.json")


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
    s3_region: str = "us-east-1"
    """The AWS region the S3 figures are for (the stack's own)."""


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


def _check_s3_region(doc: Mapping[str, Any], aws_region: str) -> None:
    regions = doc.get("s3_standard", {}).get("regions")
    if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
        raise ValueError("prices.json s3_standard.regions must list the regions its figures price")
    if aws_region not in regions:
        raise ValueError(
            f"prices.json has sourced S3 prices for {', '.join(regions)} only, not for"
            f" {aws_region!r}; the model does not guess another region's prices. Copy"
            " prices.json, set s3_standard.regions and every s3_standard figure (with its source"
            f" URL and as_of) from AWS's price page for {aws_region}, and pass it with --prices"
        )


def load_prices(path: Path = PRICES_PATH, *, aws_region: str = "us-east-1") -> Prices:
    """Read and check the price file: every figure needs a source URL and an as_of date, and
    the S3 figures must be for ``aws_region`` (prices differ by region and partition)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    _check_s3_region(doc, aws_region)
    values: dict[str, Any] = {}
    dates: list[str] = []
    for attr, (section, name) in PRICE_FIGURES.items():
        values[attr], as_of = _figure(doc, section, name)
        dates.append(as_of)
    return Prices(**values, as_of=min(dates), s3_region=aws_region)


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
