"""What the delivery edge caches and for how long: one source for the stack's cache rules
(``infra/components/edge.py``) and the worker client's ``Cache-Control`` headers
(``coordinator/client/media.py``), so uploads and edge rules cannot drift apart.

Plain constants, no imports: the coordinator must not import Pulumi, and the infra imports this.

References: https://developers.cloudflare.com/cache/concepts/default-cache-behavior/ (which
extensions Cloudflare caches by default), https://developers.cloudflare.com/cache/how-to/cache-rules/
"""

from __future__ import annotations

__all__ = ["DEFAULT_MANIFEST_TTL", "MANIFEST_EXTENSIONS", "MEDIA_EXTENSIONS", "ONE_YEAR"]

# HLS and DASH manifests: rewritten while a live stream runs, or when a title is re-packaged.
MANIFEST_EXTENSIONS = ("m3u8", "mpd")
# Media a player fetches by an immutable name: CMAF/fMP4 segments and init files (m4s, mp4,
# m4v, m4a, cmfv, cmfa, cmft), MPEG-TS segments (ts), packed audio (aac, ac3, ec3, mp3),
# WebM and WebVTT subtitles. Of these Cloudflare caches only mp4, mp3 and webm by default.
# Not here: HLS AES keys (.key), which should not sit in a shared cache for a year.
MEDIA_EXTENSIONS = (
    "m4s",
    "mp4",
    "m4v",
    "m4a",
    "cmfv",
    "cmfa",
    "cmft",
    "ts",
    "aac",
    "ac3",
    "ec3",
    "mp3",
    "webm",
    "vtt",
)
ONE_YEAR = 31_536_000  # media TTL: segment names are immutable
DEFAULT_MANIFEST_TTL = 30  # VOD manifests; live streams want 1-2 s
