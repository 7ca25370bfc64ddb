"""A video platform's month as the cost model sees it: validated, with units in every name.

Read from one structured stack config key, ``r2-video:workload`` (snake_case fields), with
every field overridable by a command-line flag. Units: TB is 1,024 GB of 2^30 bytes (the price
lists' convention, see prices.json), bitrates are kbps or Mbps as named, durations are seconds
unless a name says otherwise.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

from infra.stack_config import PROJECT_ROOT, load_stack_config

__all__ = [
    "CONFIG_KEY",
    "FIELDS",
    "REQUIRED",
    "Workload",
    "example_hint",
    "flag_name",
    "load_stack_workload",
    "workload_from_mapping",
]

CONFIG_KEY = "r2-video:workload"


class _Spec(NamedTuple):
    meaning: str
    minimum: float
    maximum: float
    example: str
    above_minimum: bool = False  # True when the minimum itself is not allowed
    hint: str = ""  # the unit mistake a value outside the range most likely is


# One line per field: what it means, the plausible range, and a value to show in an example.
# The upper bounds catch unit mistakes (GB typed as TB, kbps as Mbps), not real platforms.
FIELDS: dict[str, _Spec] = {
    # 100,000 TB (about 100 PB) is beyond any single video library: a larger figure is GB.
    "r2_standard_tb": _Spec("TB stored in R2 Standard", 0, 1e5, "120", hint="GB typed as TB?"),
    "r2_ia_tb": _Spec("TB stored in R2 Infrequent Access", 0, 1e5, "0", hint="GB typed as TB?"),
    "s3_standard_tb": _Spec(
        "TB the same renditions would take in S3 Standard", 0, 1e5, "120", hint="GB typed as TB?"
    ),
    "encoded_minutes": _Spec("minutes of video encoded per month", 0, 1e9, "60000"),
    # Video renditions run from about 100 kbps to tens of Mbps: under 20 kbps is Mbps typed as
    # kbps, over 200,000 kbps (200 Mbps) is bits per second.
    "rendition_kbps": _Spec(
        "the rendition ladder, one bitrate in kbps per rendition",
        20,
        2e5,
        "[400, 1200, 3500]",
        hint="Mbps typed as kbps, or bit/s?",
    ),
    "viewer_hours": _Spec("hours watched per month", 0, 1e11, "10000000"),
    # 200 Mbps is beyond any delivered stream: a larger figure is kbps typed as Mbps.
    "avg_bitrate_mbps": _Spec(
        "average delivered bitrate in Mbps",
        0,
        200,
        "1.1",
        above_minimum=True,
        hint="kbps typed as Mbps?",
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
    "migrate_tb": _Spec("TB to copy from S3 to R2 once", 0, 1e5, "120", hint="GB typed as TB?"),
    # Not published: Enterprise plans and the Data Localization Suite are quoted per contract.
    "cloudflare_plan_usd_per_month": _Spec(
        "the Cloudflare plan and Data Localization Suite fee per month, USD (user-supplied)",
        0,
        1e7,
        "5000",
    ),
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
        hint = f" ({spec.hint})" if spec.hint else ""
        raise ValueError(
            f"workload.{name} must be {_range_text(spec)} ({spec.meaning}), got {value!r}{hint}"
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
    cloudflare_plan_usd_per_month: float | None = None
    """The Cloudflare plan / Data Localization Suite fee (not published: user-supplied)."""

    def __post_init__(self) -> None:
        ladder: object = self.rendition_kbps
        if isinstance(ladder, str | bytes) or not isinstance(ladder, Sequence) or not ladder:
            raise ValueError(
                f"workload.rendition_kbps must be a non-empty list of bitrates in kbps, "
                f"got {ladder!r}: write it as e.g. {FIELDS['rendition_kbps'].example}"
            )
        ladder_kbps = tuple(
            _check_number("rendition_kbps", kbps, FIELDS["rendition_kbps"]) for kbps in ladder
        )
        # A list passed in is stored as a tuple so the frozen workload is hashable and stable.
        object.__setattr__(self, "rendition_kbps", ladder_kbps)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "rendition_kbps" or value is None:
                continue
            object.__setattr__(self, f.name, _check_number(f.name, value, FIELDS[f.name]))
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
REQUIRED = tuple(f.name for f in fields(Workload) if f.default is MISSING)


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _missing_message(name: str) -> str:
    spec = FIELDS[name]
    example = "400" if name == "rendition_kbps" else spec.example
    path = f"workload.{name}[0]" if name == "rendition_kbps" else f"workload.{name}"
    return (
        f"workload.{name} is missing ({spec.meaning}): set it with "
        f"pulumi config set --path '{path}' {example}, or pass {flag_name(name)}"
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
                f"workload.{name} must be a number ({FIELDS[name].meaning}), got {value!r}: "
                f"write it as e.g. {FIELDS[name].example}"
            ) from None
    return value


def workload_from_mapping(data: Mapping[str, object]) -> Workload:
    """A Workload from the snake_case mapping under ``r2-video:workload`` (or merged flags)."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValueError(
            f"unknown workload field(s) {', '.join('workload.' + k for k in unknown)}; "
            f"known fields: {', '.join(FIELDS)}"
        )
    for name in REQUIRED:
        if data.get(name) is None:
            raise ValueError(_missing_message(name))
    values: dict[str, Any] = {
        name: _coerce(name, value) for name, value in data.items() if value is not None
    }
    return Workload(**values)


def example_hint(stack: str) -> str:
    return (
        f"set it with e.g. pulumi config set --stack {stack} --path "
        f"'workload.viewer_hours' 10000000 (one line per field; see docs/cost.md for the "
        f"full block to paste under config:)"
    )


def load_stack_workload(stack: str, config_dir: Path = PROJECT_ROOT) -> Mapping[str, object] | None:
    """The ``r2-video:workload`` mapping of ``Pulumi.<stack>.yaml``, or None when it is absent."""
    config = load_stack_config(stack, config_dir)
    if CONFIG_KEY in config.secret_keys:
        raise ValueError(
            f"{CONFIG_KEY} is encrypted (a Pulumi secret); the cost model needs plain numbers: "
            "set it again without --secret"
        )
    raw: object = config.values.get(CONFIG_KEY)
    if raw is None:
        return None
    with contextlib.suppress(json.JSONDecodeError):
        raw = json.loads(str(raw))
    if not isinstance(raw, Mapping):
        raise ValueError(
            f"Pulumi.{stack}.yaml: {CONFIG_KEY} must be a mapping of workload fields, got {raw!r}; "
            + example_hint(stack)
        )
    return {str(key): value for key, value in raw.items()}
