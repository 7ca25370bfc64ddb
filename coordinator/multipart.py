"""Multipart uploads as R2 needs them: size limits, how an object is cut into parts, which
parts a complete may name, and the ETag the assembled object gets.

References: https://developers.cloudflare.com/r2/platform/limits/ ,
https://developers.cloudflare.com/r2/objects/multipart-objects/
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import Conflict, InvalidInput

__all__ = [
    "LIST_PARTS_PAGE",
    "MAX_OBJECT_SIZE",
    "MAX_PARTS",
    "MAX_PART_SIZE",
    "MAX_PART_URLS",
    "MAX_PUT_SIZE",
    "MIN_PART_SIZE",
    "UPLOAD_ID",
    "MultipartPlan",
    "UploadedPart",
    "check_stored_parts",
    "checked_parts",
    "multipart_etag",
    "plan_multipart",
    "validate_upload_id",
]

MiB = 1024**2
GiB = 1024**3
TiB = 1024**4
# R2: "The max upload size is 5 MiB less than 5 GiB" for one PUT and for one part, and "the
# object size limit is 5 GiB less than 5 TiB".
MAX_PUT_SIZE = 5 * GiB - 5 * MiB
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = MAX_PUT_SIZE
MAX_PARTS = 10_000
MAX_OBJECT_SIZE = 5 * TiB - 5 * GiB
# Part URLs handed out per response: 10,000 URLs of a long key would exceed Lambda's 6 MB
# response limit. The rest come from the resume listing, which re-presigns missing parts.
MAX_PART_URLS = 1000
LIST_PARTS_PAGE = 1000  # S3's ListParts page size
# An S3 or R2 ETag: hex MD5 (a "-N" suffix for multipart objects), quoted or not.
_ETAG = re.compile(r'"?([0-9A-Za-z_.:+/=-]{1,128})"?')
_MD5_HEX = re.compile(r"[0-9a-fA-F]{32}")
# Upload ids travel as one URL path segment. S3 promises no format; in practice they are
# base64url-like (S3, R2) or UUIDs (MinIO). No '/': it could not round-trip through a route.
UPLOAD_ID = re.compile(r"[A-Za-z0-9._~=+-]{1,1024}")


def validate_upload_id(value: object) -> str:
    if not isinstance(value, str) or UPLOAD_ID.fullmatch(value) is None:
        raise InvalidInput("upload_id is malformed", code="invalid_upload_id")
    return value


@dataclass(frozen=True, slots=True)
class MultipartPlan:
    """How an object of ``size`` bytes is cut: equal parts of ``part_size``, a shorter last one.

    R2 needs every part but the last to be the same size (S3 does not, but accepts it).
    """

    size: int
    part_size: int
    part_count: int

    def part_length(self, part_number: int) -> int:
        """Bytes in part ``part_number`` (1-based)."""
        if not 1 <= part_number <= self.part_count:
            raise ValueError(f"part_number {part_number} outside 1..{self.part_count}")
        if part_number < self.part_count:
            return self.part_size
        return self.size - self.part_size * (self.part_count - 1)


def plan_multipart(size: object) -> MultipartPlan:
    """The smallest whole-MiB part size (at least 5 MiB) that fits ``size`` in 10,000 parts."""
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_OBJECT_SIZE:
        raise InvalidInput(
            f"size must be an integer from 1 to {MAX_OBJECT_SIZE} bytes (4.995 TiB)",
            code="invalid_size",
        )
    needed = -(-size // MAX_PARTS)  # ceil: the part size that makes exactly MAX_PARTS parts
    part_size = max(MIN_PART_SIZE, -(-needed // MiB) * MiB)
    if part_size > MAX_PART_SIZE:  # unreachable below MAX_OBJECT_SIZE; kept as a guard
        raise InvalidInput("size needs parts larger than R2 accepts", code="invalid_size")
    return MultipartPlan(size=size, part_size=part_size, part_count=-(-size // part_size))


def multipart_etag(part_etags: Sequence[str]) -> str | None:
    """The ETag S3 and R2 give an object assembled from parts with these (MD5) ETags: the MD5
    of the parts' binary MD5s, ``-`` and the part count; None if an ETag is not an MD5.

    References: https://developers.cloudflare.com/r2/objects/multipart-objects/ (R2 mimics S3
    for uploads created after 2023-06-21).
    """
    digests = []
    for etag in part_etags:
        text = etag.strip('"')
        if _MD5_HEX.fullmatch(text) is None:
            return None
        digests.append(bytes.fromhex(text))
    combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(digests)}"


def checked_parts(parts: object, expected: int) -> list[str]:
    """The ETags of parts 1..expected, in order, each quoted as S3 wants them."""
    if not isinstance(parts, list) or not parts:
        raise InvalidInput("parts must be a non-empty list", code="invalid_parts")
    if len(parts) != expected:
        raise InvalidInput(
            f"expected {expected} parts for the declared size, got {len(parts)}",
            code="invalid_parts",
        )
    etags = []
    for position, part in enumerate(parts, 1):
        if not isinstance(part, dict):
            raise InvalidInput("each part must be an object", code="invalid_parts")
        unknown = sorted(str(name)[:64] for name in set(part) - {"part_number", "etag"})
        if unknown:
            raise InvalidInput(
                f"part {position} has unknown field(s): {', '.join(map(repr, unknown[:5]))}",
                code="invalid_parts",
            )
        number, etag = part.get("part_number"), part.get("etag")
        if number != position or isinstance(number, bool):
            raise InvalidInput(
                f"parts must be listed in order 1..{expected}; position {position} "
                f"has part_number {number!r}",
                code="invalid_parts",
            )
        match = _ETAG.fullmatch(etag) if isinstance(etag, str) else None
        if match is None:
            raise InvalidInput(f"part {position} has a malformed etag", code="invalid_parts")
        etags.append(f'"{match.group(1)}"')
    return etags


@dataclass(frozen=True, slots=True)
class UploadedPart:
    """One part as the store lists it (ListParts)."""

    part_number: int
    etag: str
    size: int


def check_stored_parts(
    plan: MultipartPlan, etags: Sequence[str], stored: Mapping[int, UploadedPart]
) -> None:
    """Refuse unless the store holds exactly parts 1..N of ``plan`` with ``etags``: 409
    ``parts_mismatch`` naming the parts to upload (again) when one is missing or of the wrong
    size, 400 ``invalid_parts`` when the worker's ETag is not the stored part's."""
    again = [
        n
        for n in range(1, plan.part_count + 1)
        if n not in stored or stored[n].size != plan.part_length(n)
    ]
    if again:
        shown = ", ".join(str(n) for n in again[:20]) + (" ..." if len(again) > 20 else "")
        raise Conflict(
            f"the stored parts do not make the declared {plan.size} bytes: upload part(s) "
            f"{shown} (missing or of the wrong size)",
            code="parts_mismatch",
        )
    extra = sorted(n for n in stored if n > plan.part_count)
    if extra:
        raise Conflict(
            f"the upload holds parts beyond the plan's {plan.part_count}: {extra[:20]}",
            code="parts_mismatch",
        )
    wrong = [n for n, etag in enumerate(etags, 1) if stored[n].etag.strip('"') != etag.strip('"')]
    if wrong:
        raise InvalidInput(
            f"the etag given for part(s) {', '.join(str(n) for n in wrong[:20])} is not the "
            "stored part's: send the ETags the part uploads answered",
            code="invalid_parts",
        )
