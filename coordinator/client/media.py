"""Content type and Cache-Control of each file a worker publishes, by its extension.

The media/manifest split and the default TTLs come from ``coordinator.delivery_rules``, the
same constants the stack's edge cache rules are built from: segments and init files are
immutable for a year, manifests live seconds.

References: RFC 8216 section 4 (``application/vnd.apple.mpegurl``), ISO/IEC 23009-1 Annex C
(``application/dash+xml``), IANA media types (``video/iso.segment``, ``video/mp2t``,
``audio/aac``, ``audio/ac3``, ``audio/eac3``, ``audio/mpeg``), RFC 4337 (``video/mp4``,
``audio/mp4``), W3C WebVTT (``text/vtt``), RFC 8246 (``immutable``), RFC 9111 (``max-age``).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import PurePosixPath

from ..delivery_rules import (
    DEFAULT_MANIFEST_TTL,
    MANIFEST_EXTENSIONS,
    MEDIA_EXTENSIONS,
    ONE_YEAR,
)

__all__ = [
    "CONTENT_TYPES",
    "FALLBACK_CONTENT_TYPE",
    "Kind",
    "cache_control",
    "content_type",
    "kind_of",
]

CONTENT_TYPES = {
    "m3u8": "application/vnd.apple.mpegurl",
    "mpd": "application/dash+xml",
    "m4s": "video/iso.segment",
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "m4a": "audio/mp4",
    "cmfv": "video/mp4",
    "cmfa": "audio/mp4",
    "cmft": "application/mp4",
    "ts": "video/mp2t",
    "aac": "audio/aac",
    "ac3": "audio/ac3",
    "ec3": "audio/eac3",
    "mp3": "audio/mpeg",
    "webm": "video/webm",
    "vtt": "text/vtt",
    "ttml": "application/ttml+xml",
    "json": "application/json",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
}
FALLBACK_CONTENT_TYPE = "application/octet-stream"


class Kind(StrEnum):
    """How the edge treats a file: cached for a year, for seconds, or by default rules."""

    MEDIA = "media"
    MANIFEST = "manifest"
    OTHER = "other"


def _extension(path: str) -> str:
    return PurePosixPath(path).suffix.lstrip(".").lower()


def kind_of(path: str) -> Kind:
    extension = _extension(path)
    if extension in MANIFEST_EXTENSIONS:
        return Kind.MANIFEST
    if extension in MEDIA_EXTENSIONS:
        return Kind.MEDIA
    return Kind.OTHER


def content_type(path: str) -> str:
    """The media type to sign and send for ``path``; octet-stream for unknown extensions."""
    return CONTENT_TYPES.get(_extension(path), FALLBACK_CONTENT_TYPE)


def cache_control(
    path: str,
    *,
    manifest_max_age: int = DEFAULT_MANIFEST_TTL,
    media_max_age: int = ONE_YEAR,
) -> str | None:
    """``Cache-Control`` matching the edge rules; None for files the rules do not cover.

    Media names never change (``immutable``: browsers do not even revalidate); manifests may
    be rewritten, so they live ``manifest_max_age`` seconds (1-2 s for live streams).
    """
    kind = kind_of(path)
    if kind is Kind.MEDIA:
        return f"public, max-age={media_max_age}, immutable"
    if kind is Kind.MANIFEST:
        return f"public, max-age={manifest_max_age}"
    return None
