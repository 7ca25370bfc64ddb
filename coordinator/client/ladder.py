"""A packaged HLS or DASH ladder on disk: its files, what each manifest names, and the order
in which they may be published so that no manifest is ever visible before the files it names.

``scan_ladder(root)`` reads every ``.m3u8`` and ``.mpd`` under ``root``, resolves the URIs they
name (relative to the manifest, RFC 3986), and returns the files in *waves*: wave 0 holds every
file that names nothing (segments, init files, subtitles, posters); a manifest sits one wave
after the last file it names, so media playlists come after their segments and the master
playlist (which names media playlists) comes last. A manifest naming a file that is not in the
directory, a URI that climbs out of it, or a root-relative URI is an error: a player would see a
broken ladder.

What counts as a reference:

* HLS: URI lines, and the ``URI`` attribute of ``EXT-X-MAP``, ``EXT-X-MEDIA``,
  ``EXT-X-I-FRAME-STREAM-INF``, ``EXT-X-PART`` and ``EXT-X-SESSION-DATA``. Not keys
  (``EXT-X-KEY``, ``EXT-X-SESSION-KEY``: served by a key server, never from a shared cache),
  preload hints (files of the future) or rendition reports (live hints).
* DASH: ``BaseURL`` at every level, ``SegmentTemplate`` (``$RepresentationID$``,
  ``$Number$``, ``$Time$``, ``$Bandwidth$``, width formats such as ``$Number%05d$``) with a
  ``SegmentTimeline`` or with ``@duration`` over the period's duration, ``SegmentList``,
  ``SegmentBase``/``Initialization`` and a Representation whose ``BaseURL`` is the file itself.
  Documents with a DTD are refused (no entity expansion).

Absolute URLs (``https://...``) name files elsewhere: they are listed, not checked.

References: RFC 8216 sections 4.2 (attribute lists), 4.3 (tags); ISO/IEC 23009-1 sections 5.3.9
(segment information), 5.3.9.4.4 (template identifiers), 5.6 (BaseURL); RFC 3986 section 5.
"""

from __future__ import annotations

import math
import posixpath
import re
import xml.etree.ElementTree as ET  # DTDs are refused before parsing (see _parse_xml)
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from .media import Kind, kind_of

__all__ = ["Ladder", "LadderError", "dash_references", "hls_references", "scan_ladder"]

MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # a long VOD playlist is a few MB; more is not a manifest
MAX_SEGMENTS = 1_000_000  # per representation: a bound on what a template may expand to

# RFC 8216 4.2: AttributeName=AttributeValue, comma-separated; quoted strings hold commas.
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"\r\n]*"|[^",]*)')
_URI_TAGS = frozenset(
    {
        "#EXT-X-MAP",
        "#EXT-X-MEDIA",
        "#EXT-X-I-FRAME-STREAM-INF",
        "#EXT-X-PART",
        "#EXT-X-SESSION-DATA",
    }
)
# ISO/IEC 23009-1 5.3.9.4.4: $$ or $Identifier$ or $Identifier%0[width]d$.
_TEMPLATE = re.compile(r"\$(?:(RepresentationID|Number|Bandwidth|Time)(?:%0(\d{1,2})d)?)?\$")
_DURATION = re.compile(
    r"P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)


class LadderError(ValueError):
    """The directory is not a ladder that can be published safely; the message says why."""


@dataclass(frozen=True, slots=True)
class Ladder:
    """The files of a ladder (relative POSIX paths), what each manifest names, and the waves."""

    root: Path
    files: tuple[str, ...]
    references: Mapping[str, frozenset[str]]
    waves: tuple[tuple[str, ...], ...]
    external: tuple[str, ...]

    def wave_of(self, path: str) -> int:
        for number, wave in enumerate(self.waves):
            if path in wave:
                return number
        raise KeyError(path)


# ---------------------------------------------------------------------------------------------
# Manifests


def hls_references(text: str) -> list[str]:
    """The URIs an HLS playlist names, in order (raw, unresolved)."""
    lines = text.splitlines()
    if not lines or lines[0].strip().lstrip("\ufeff") != "#EXTM3U":
        raise LadderError("not an HLS playlist: the first line must be #EXTM3U (RFC 8216 4.3.1.1)")
    found = []
    for raw in lines[1:]:
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("#"):
            found.append(line)
            continue
        tag, _, attributes = line.partition(":")
        if tag in _URI_TAGS:
            for name, value in _ATTRIBUTE.findall(attributes):
                if name == "URI":
                    found.append(value.strip('"'))
    return found


def _local(tag: object) -> str:
    return str(tag).rpartition("}")[2]


def _children(element: ET.Element | None, name: str) -> list[ET.Element]:
    if element is None:
        return []
    return [child for child in element if _local(child.tag) == name]


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _parse_xml(text: str) -> ET.Element:
    # No DTD, no entities: nothing to expand (billion laughs) and nothing external to fetch.
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise LadderError("MPD with a DTD refused: DASH manifests need none")
    try:
        return ET.fromstring(text)  # noqa: S314 - DTDs refused above
    except ET.ParseError as exc:
        raise LadderError(f"MPD is not well-formed XML: {exc}") from None


def _seconds(value: str | None) -> float | None:
    """An xs:duration (``PT1H2M3.5S``, ``P1DT2S``) in seconds; None when absent."""
    if value is None:
        return None
    match = _DURATION.fullmatch(value.strip())
    if match is None or value.strip() in ("P", "PT"):
        raise LadderError(f"MPD duration {value!r} is not an xs:duration such as PT10M4.5S")
    parts = {name: float(number or 0) for name, number in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]


def _fill(template: str, *, rep_id: str, bandwidth: str, number: int = 0, time: int = 0) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, width = match.group(1), match.group(2)
        if name is None:
            return "$"
        value = {"RepresentationID": rep_id, "Bandwidth": bandwidth}.get(name)
        if value is None:
            value = str(number if name == "Number" else time)
        if width and name != "RepresentationID":
            value = value.zfill(int(width))
        return value

    return _TEMPLATE.sub(substitute, template)


def _merged(levels: list[ET.Element], name: str) -> tuple[dict[str, str], ET.Element | None]:
    """Attributes of element ``name`` inherited down the levels (lower wins), and the deepest
    one's SegmentTimeline (or SegmentURL parent for SegmentList)."""
    attributes: dict[str, str] = {}
    deepest = None
    for level in levels:
        element = _child(level, name)
        if element is not None:
            attributes.update(element.attrib)
            deepest = element
    return attributes, deepest


def _timeline(timeline: ET.Element, *, period_end: float | None, timescale: int) -> Iterator[int]:
    """Start times of the segments a SegmentTimeline describes (5.3.9.6)."""
    entries = _children(timeline, "S")
    now = 0
    for index, entry in enumerate(entries):
        if "t" in entry.attrib:
            now = int(entry.attrib["t"])
        duration = int(entry.attrib["d"])
        if duration <= 0:
            raise LadderError("SegmentTimeline S@d must be positive")
        repeat = int(entry.attrib.get("r", "0"))
        if repeat < 0:  # until the next S@t, or the end of the period
            following = entries[index + 1].attrib.get("t") if index + 1 < len(entries) else None
            if following is not None:
                end = int(following)
            elif period_end is not None:
                end = round(period_end * timescale)
            else:
                raise LadderError("SegmentTimeline S@r=-1 without a period duration")
            repeat = max(0, math.ceil((end - now) / duration) - 1)
        if repeat >= MAX_SEGMENTS:
            raise LadderError(f"SegmentTimeline repeats more than {MAX_SEGMENTS} times")
        for _ in range(repeat + 1):
            yield now
            now += duration


def dash_references(text: str) -> list[str]:
    """The URIs a static DASH MPD names (resolved against its BaseURLs, not its location)."""
    root = _parse_xml(text)
    if _local(root.tag) != "MPD":
        raise LadderError("not a DASH manifest: the root element must be MPD")
    found: list[str] = []
    total = _seconds(root.get("mediaPresentationDuration"))
    periods = _children(root, "Period")
    for index, period in enumerate(periods):
        start = _seconds(period.get("start")) or 0.0
        length = _seconds(period.get("duration"))
        if length is None and index + 1 < len(periods):
            following = _seconds(periods[index + 1].get("start"))
            length = None if following is None else following - start
        if length is None and total is not None:
            length = total - start
        for adaptation in _children(period, "AdaptationSet"):
            for representation in _children(adaptation, "Representation"):
                levels = [root, period, adaptation, representation]
                found.extend(_representation_uris(levels, length))
    return found


def _join(base: str, reference: str) -> str:
    """RFC 3986 resolution of ``reference`` against ``base`` (both may be relative here)."""
    if not base or urlsplit(reference).scheme or reference.startswith("/"):
        return reference
    if urlsplit(base).scheme:
        return urljoin(base, reference)
    return posixpath.join(posixpath.dirname(base) if not base.endswith("/") else base, reference)


def _representation_uris(levels: list[ET.Element], period_seconds: float | None) -> list[str]:
    base = ""
    for level in levels:
        base_url = _child(level, "BaseURL")
        if base_url is not None and (base_url.text or "").strip():
            base = _join(base, (base_url.text or "").strip())
    representation = levels[-1]
    rep_id = representation.get("id", "")
    bandwidth = representation.get("bandwidth", "0")
    uris = []

    template, deepest = _merged(levels[1:], "SegmentTemplate")
    if template:
        if "initialization" in template:
            uris.append(_fill(template["initialization"], rep_id=rep_id, bandwidth=bandwidth))
        media = template.get("media")
        if media is not None:
            timescale = int(template.get("timescale", "1"))
            number = int(template.get("startNumber", "1"))
            timeline = _child(deepest, "SegmentTimeline") if deepest is not None else None
            if timeline is None:
                for level in reversed(levels[1:]):
                    element = _child(level, "SegmentTemplate")
                    timeline = _child(element, "SegmentTimeline") if element is not None else None
                    if timeline is not None:
                        break
            if timeline is not None:
                starts = list(_timeline(timeline, period_end=period_seconds, timescale=timescale))
            else:
                if "duration" not in template or period_seconds is None:
                    raise LadderError(
                        f"Representation {rep_id!r}: a SegmentTemplate needs a SegmentTimeline, "
                        "or @duration and a period duration, to say how many segments exist"
                    )
                each = int(template["duration"])
                count = math.ceil(period_seconds * timescale / each - 1e-9)
                if count > MAX_SEGMENTS:
                    raise LadderError(f"Representation {rep_id!r} expands to {count} segments")
                starts = [i * each for i in range(count)]
            for offset, start in enumerate(starts):
                uris.append(
                    _fill(
                        media,
                        rep_id=rep_id,
                        bandwidth=bandwidth,
                        number=number + offset,
                        time=start,
                    )
                )
        return [_join(base, uri) if base else uri for uri in uris]

    _, segment_list = _merged(levels[1:], "SegmentList")
    if segment_list is not None:
        initialization = _child(segment_list, "Initialization")
        if initialization is not None and initialization.get("sourceURL"):
            uris.append(initialization.get("sourceURL", ""))
        uris.extend(
            u.get("media", "") for u in _children(segment_list, "SegmentURL") if u.get("media")
        )
        return [_join(base, uri) if base else uri for uri in uris]

    _, segment_base = _merged(levels[1:], "SegmentBase")
    initialization = _child(segment_base, "Initialization") if segment_base is not None else None
    if initialization is not None and initialization.get("sourceURL"):
        uris.append(_join(base, initialization.get("sourceURL", "")))
    if base and not base.endswith("/"):
        uris.append(base)  # the Representation is this one file (on-demand profile, subtitles)
    return uris


# ---------------------------------------------------------------------------------------------
# Resolution and order


def resolve(manifest: str, uri: str) -> str | None:
    """The ladder path ``uri`` names from ``manifest``; None for an absolute URL elsewhere."""
    parts = urlsplit(uri)
    if parts.scheme or parts.netloc:
        return None
    path = unquote(parts.path)
    if not path:
        raise LadderError(f"{manifest}: an empty URI names no file")
    if path.startswith("/"):
        raise LadderError(
            f"{manifest}: root-relative URI {parts.path[:200]!r} cannot be checked; "
            "use a relative one"
        )
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(manifest), path))
    if joined == ".." or joined.startswith("../"):
        raise LadderError(
            f"{manifest}: URI {parts.path[:200]!r} climbs out of the ladder directory"
        )
    return joined


def _waves(files: Collection[str], references: Mapping[str, frozenset[str]]) -> list[list[str]]:
    level: dict[str, int] = {}
    visiting: set[str] = set()

    def depth(path: str) -> int:
        if path in level:
            return level[path]
        if path in visiting:
            raise LadderError(f"manifests name each other in a cycle (through {path})")
        visiting.add(path)
        named = references.get(path, frozenset())
        result = 1 + max((depth(other) for other in named), default=-1) if named else 0
        visiting.discard(path)
        level[path] = result
        return result

    for path in sorted(files):
        depth(path)
    waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for path in sorted(files):
        waves[level[path]].append(path)
    return waves


def _files(root: Path, exclude: Collection[Path]) -> list[str]:
    resolved_root = root.resolve()
    skip = {p.resolve() for p in exclude}
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_dir() or path.resolve() in skip:
            continue
        if path.is_symlink() and not path.resolve().is_relative_to(resolved_root):
            raise LadderError(f"{path.relative_to(root)} links outside the ladder directory")
        if not path.is_file():
            continue
        found.append(path.relative_to(root).as_posix())
    return found


def scan_ladder(root: Path, *, exclude: Collection[Path] = ()) -> Ladder:
    """The ladder under ``root``: its files, each manifest's references, and the waves."""
    if not root.is_dir():
        raise LadderError(f"{root} is not a directory")
    files = _files(root, exclude)
    if not files:
        raise LadderError(f"{root} holds no files to publish")
    present = set(files)
    references: dict[str, frozenset[str]] = {}
    external: set[str] = set()
    for path in files:
        if kind_of(path) is not Kind.MANIFEST:
            continue
        raw = (root / path).read_bytes()
        if len(raw) > MAX_MANIFEST_BYTES:
            raise LadderError(f"{path}: larger than {MAX_MANIFEST_BYTES} bytes, not a manifest")
        try:
            text = raw.decode("utf-8-sig")  # RFC 8216 4.1: UTF-8, no BOM (tolerated here)
        except UnicodeDecodeError:
            raise LadderError(f"{path}: not UTF-8 text") from None
        try:
            uris = hls_references(text) if path.endswith(".m3u8") else dash_references(text)
        except LadderError as exc:
            raise LadderError(f"{path}: {exc}") from None
        named = set()
        for uri in uris:
            target = resolve(path, uri)
            if target is None:
                external.add(uri)
            elif target != path:
                named.add(target)
        missing = sorted(named - present)
        if missing:
            shown = ", ".join(missing[:5]) + (
                f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            )
            raise LadderError(f"{path} names files that are not in the directory: {shown}")
        references[path] = frozenset(named)
    waves = _waves(files, references)
    return Ladder(
        root=root,
        files=tuple(files),
        references=references,
        waves=tuple(tuple(w) for w in waves),
        external=tuple(sorted(external)),
    )
