"""Input checks shared by the component args and the stack settings.

Component args collect every problem before raising, so a stack with three mistakes hears about
all three at once; ``infra.settings`` then names the config key that fixes each one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "ArgsError",
    "Problems",
    "in_zone",
    "is_hostname",
    "is_origin",
    "is_r2_bucket_name",
    "is_s3_bucket_name",
]

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
# R2: 3-63 characters, lowercase letters, digits and hyphens, starting and ending alphanumeric.
_R2_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
# S3 allows dots too, but a dotted name breaks TLS on virtual-hosted URLs; we refuse it.
_S3_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
# Reserved by S3 for access points, Object Lambda, directory and table buckets.
_S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", "--x-s3", "--table-s3")


class ArgsError(ValueError):
    """Invalid component args; ``problems`` maps each offending field to what is wrong."""

    def __init__(self, owner: str, problems: list[tuple[str, str]]) -> None:
        self.owner = owner
        self.problems = problems
        lines = "\n".join(f"  - {name}: {message}" for name, message in problems)
        super().__init__(f"invalid {owner}:\n{lines}")


@dataclass
class Problems:
    """Collects (field, message) pairs; ``raise_if_any`` raises them together."""

    owner: str
    found: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, message: str) -> None:
        self.found.append((name, message))

    def check(self, ok: bool, name: str, message: str) -> None:
        if not ok:
            self.add(name, message)

    def raise_if_any(self) -> None:
        if self.found:
            raise ArgsError(self.owner, self.found)


def is_hostname(value: str) -> bool:
    """A lowercase DNS hostname of two or more labels (no scheme, port, path or final dot)."""
    labels = value.split(".")
    return (
        len(value) <= 253
        and len(labels) >= 2
        and all(_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def in_zone(hostname: str, zone: str) -> bool:
    """True when ``hostname`` is the zone apex or a name under it."""
    return hostname == zone or hostname.endswith("." + zone)


def is_origin(value: str, *, allow_http: bool) -> bool:
    """A CORS origin exactly as browsers send it: ``scheme://host[:port]``, nothing more."""
    parts = urlsplit(value)
    if parts.scheme not in (("https", "http") if allow_http else ("https",)):
        return False
    try:
        port = parts.port
    except ValueError:
        return False
    host = parts.hostname or ""
    rebuilt = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    return rebuilt == value and (is_hostname(host) or host == "localhost")


def is_r2_bucket_name(value: str) -> bool:
    return _R2_BUCKET.fullmatch(value) is not None


def is_s3_bucket_name(value: str) -> bool:
    return (
        _S3_BUCKET.fullmatch(value) is not None
        and not value.startswith(_S3_RESERVED_PREFIXES)
        and not value.endswith(_S3_RESERVED_SUFFIXES)
    )
