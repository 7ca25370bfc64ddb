"""A small packaged ladder written to disk, for the demo and the publish bench: HLS (fMP4,
three video renditions, one audio, WebVTT subtitles, master playlist), DASH (SegmentTemplate
with a SegmentTimeline, init segments, a subtitle track) and a progressive MP4 download.

The media bytes are seeded pseudo-random stand-ins (not real video); the manifests are valid
RFC 8216 playlists and an ISO/IEC 23009-1 MPD naming exactly the files written.
"""

from __future__ import annotations

import random
from pathlib import Path

__all__ = ["RENDITIONS", "write_sample_ladder"]

RENDITIONS = (("360p", 800_000, "640x360"), ("720p", 2_500_000, "1280x720"),
              ("1080p", 5_000_000, "1920x1080"))  # fmt: skip
SEGMENT_SECONDS = 4


def _bytes(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def _media_playlist(segments: list[str], *, init: str | None) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{SEGMENT_SECONDS}",
             "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-MEDIA-SEQUENCE:0"]  # fmt: skip
    if init is not None:
        lines.append(f'#EXT-X-MAP:URI="{init}"')
    for name in segments:
        lines += [f"#EXTINF:{SEGMENT_SECONDS}.000,", name]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def write_sample_ladder(
    root: Path,
    *,
    segments: int = 3,
    segment_size: int = 64 * 1024,
    download_size: int = 12 * 1024 * 1024 + 4321,
    seed: int = 42,
) -> list[Path]:
    """Write the ladder under ``root``; returns every file written."""
    rng = random.Random(seed)  # noqa: S311 - reproducible stand-in bytes, not a secret
    files: dict[str, bytes | str] = {}
    # HLS, fMP4 segments
    for name, _, _ in RENDITIONS:
        seg = [f"seg_{i:05d}.m4s" for i in range(segments)]
        files[f"hls/{name}/init.mp4"] = _bytes(rng, 1024)
        for s in seg:
            files[f"hls/{name}/{s}"] = _bytes(rng, segment_size)
        files[f"hls/{name}/index.m3u8"] = _media_playlist(seg, init="init.mp4")
    audio = [f"seg_{i:05d}.m4s" for i in range(segments)]
    files["hls/audio/en/init.mp4"] = _bytes(rng, 512)
    for s in audio:
        files[f"hls/audio/en/{s}"] = _bytes(rng, segment_size // 8)
    files["hls/audio/en/index.m3u8"] = _media_playlist(audio, init="init.mp4")
    cues = [f"sub_{i:05d}.vtt" for i in range(segments)]
    for i, s in enumerate(cues):
        start = i * SEGMENT_SECONDS
        files[f"hls/subs/en/{s}"] = (
            f"WEBVTT\n\n00:00:{start:02d}.000 --> 00:00:{start + 2:02d}.000\nLine {i}\n"
        )
    files["hls/subs/en/index.m3u8"] = _media_playlist(cues, init=None)
    master = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="English",LANGUAGE="en",DEFAULT=YES,'
        'URI="audio/en/index.m3u8"',
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",'
        'DEFAULT=NO,URI="subs/en/index.m3u8"',
    ]
    for name, bandwidth, resolution in RENDITIONS:
        master += [
            f"#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},RESOLUTION={resolution},"
            f'CODECS="avc1.640028,mp4a.40.2",AUDIO="aud",SUBTITLES="subs"',
            f"{name}/index.m3u8",
        ]
    files["hls/master.m3u8"] = "\n".join(master) + "\n"

    # DASH: one SegmentTemplate for every Representation, numbered segments
    duration = segments * SEGMENT_SECONDS
    for name, _, _ in RENDITIONS:
        files[f"dash/init-{name}.mp4"] = _bytes(rng, 1024)
        for i in range(1, segments + 1):
            files[f"dash/chunk-{name}-{i:05d}.m4s"] = _bytes(rng, segment_size)
    files["dash/init-audio.mp4"] = _bytes(rng, 512)
    for i in range(1, segments + 1):
        files[f"dash/chunk-audio-{i:05d}.m4s"] = _bytes(rng, segment_size // 8)
    files["dash/subs/en.vtt"] = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nHello\n"
    representations = "\n".join(
        f'      <Representation id="{name}" bandwidth="{bandwidth}" width="{res.split("x")[0]}"'
        f' height="{res.split("x")[1]}" codecs="avc1.640028"/>'
        for name, bandwidth, res in RENDITIONS
    )
    timeline = f'<S t="0" d="{SEGMENT_SECONDS * 1000}" r="{segments - 1}"/>'
    files["dash/manifest.mpd"] = f"""<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" minBufferTime="PT2S"
     profiles="urn:mpeg:dash:profile:isoff-live:2011" mediaPresentationDuration="PT{duration}S">
  <Period id="0" start="PT0S">
    <AdaptationSet contentType="video" mimeType="video/mp4" segmentAlignment="true">
      <SegmentTemplate timescale="1000" initialization="init-$RepresentationID$.mp4"
                       media="chunk-$RepresentationID$-$Number%05d$.m4s" startNumber="1">
        <SegmentTimeline>{timeline}</SegmentTimeline>
      </SegmentTemplate>
{representations}
    </AdaptationSet>
    <AdaptationSet contentType="audio" mimeType="audio/mp4" lang="en">
      <SegmentTemplate timescale="1000" initialization="init-$RepresentationID$.mp4"
                       media="chunk-$RepresentationID$-$Number%05d$.m4s" startNumber="1"
                       duration="{SEGMENT_SECONDS * 1000}"/>
      <Representation id="audio" bandwidth="128000" codecs="mp4a.40.2"/>
    </AdaptationSet>
    <AdaptationSet contentType="text" mimeType="text/vtt" lang="en">
      <Representation id="subs-en" bandwidth="256">
        <BaseURL>subs/en.vtt</BaseURL>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"""
    if download_size:
        files["download/1080p.mp4"] = _bytes(rng, download_size)

    written = []
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            target.write_text(content, encoding="utf-8")
        else:
            target.write_bytes(content)
        written.append(target)
    return written
