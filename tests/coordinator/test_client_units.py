"""The worker client's parts without a store: manifest parsing and order (RFC 8216, ISO/IEC
23009-1), content types and Cache-Control (their sources, written here), retries of the
coordinator API and of presigned PUTs (httpx.MockTransport), and the Lambda never importing it.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from coordinator.client.api import (
    CoordinatorApi,
    CoordinatorRefused,
    CoordinatorUnavailable,
    RetryPolicy,
)
from coordinator.client.journal import Journal
from coordinator.client.ladder import (
    LadderError,
    dash_references,
    hls_references,
    scan_ladder,
)
from coordinator.client.media import cache_control, content_type
from coordinator.client.transfer import StoreRefusedUpload, Transfer, UrlExpired, redact

REPO = Path(__file__).resolve().parents[2]

# RFC 8216 section 8.4 "Master Playlist with Alternative Audio" (abridged to its URIs' shapes)
RFC8216_MASTER = """#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",LANGUAGE="en",NAME="English",DEFAULT=YES,AUTOSELECT=YES,URI="main/english-audio.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",LANGUAGE="de",NAME="Deutsch",DEFAULT=NO,AUTOSELECT=YES,URI="main/german-audio.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",LANGUAGE="en",NAME="Commentary",DEFAULT=NO,AUTOSELECT=NO
#EXT-X-STREAM-INF:BANDWIDTH=1280000,CODECS="avc1.42e01e,mp4a.40.2",AUDIO="aac"
low/video-only.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2560000,CODECS="avc1.42e01e,mp4a.40.2",AUDIO="aac"
mid/video-only.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=86000,URI="low/iframe.m3u8"
"""
# RFC 8216 section 8.2 "Live Media Playlist Using HTTPS", plus a MAP, a KEY and a hint.
MEDIA = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:8
#EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0"
#EXT-X-KEY:METHOD=AES-128,URI="https://priv.example.com/key.php?r=52"
#EXTINF:8.0,
https://priv.example.com/fileSequence2680.ts
#EXTINF:8.0,
fileSequence2681.ts
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="next.part.mp4"
"""


def test_hls_references_are_uri_lines_and_uri_attributes_but_not_keys_or_hints() -> None:
    assert hls_references(RFC8216_MASTER) == [
        "main/english-audio.m3u8",
        "main/german-audio.m3u8",
        "low/video-only.m3u8",
        "mid/video-only.m3u8",
        "low/iframe.m3u8",
    ]
    assert hls_references(MEDIA) == [
        "init.mp4",
        "https://priv.example.com/fileSequence2680.ts",
        "fileSequence2681.ts",
    ]


def test_an_hls_playlist_must_start_with_extm3u() -> None:
    with pytest.raises(LadderError, match="EXTM3U"):
        hls_references("#EXTINF:4,\nseg.ts\n")


MPD_TEMPLATE = """<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"
  mediaPresentationDuration="PT0H0M9.5S">
  <BaseURL>media/</BaseURL>
  <Period>
    <AdaptationSet>
      <SegmentTemplate timescale="90000" duration="180000" startNumber="7"
        initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/$Number%03d$.m4s"/>
      <Representation id="v1" bandwidth="1000"/>
    </AdaptationSet>
    <AdaptationSet>
      <Representation id="a1" bandwidth="64000">
        <SegmentTemplate timescale="10" initialization="a-init.mp4"
                         media="a-$Time$-$Bandwidth$.m4s">
          <SegmentTimeline><S t="5" d="20" r="2"/><S d="15"/></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
    <AdaptationSet>
      <Representation id="t" bandwidth="1">
        <SegmentList><Initialization sourceURL="t/init.mp4"/>
          <SegmentURL media="t/1.m4s"/><SegmentURL media="t/2.m4s"/></SegmentList>
      </Representation>
      <Representation id="s" bandwidth="1"><BaseURL>subs/de.vtt</BaseURL></Representation>
    </AdaptationSet>
  </Period>
</MPD>"""


def test_dash_templates_timelines_lists_and_base_urls_expand_as_the_standard_says() -> None:
    # ISO/IEC 23009-1: @duration 2 s over 9.5 s -> ceil(4.75) = 5 segments numbered from 7,
    # %03d pads; a timeline t=5 d=20 r=2 then d=15 gives times 5, 25, 45, 65; $Bandwidth$ is
    # the Representation's; BaseURL "media/" prefixes everything below the MPD.
    assert dash_references(MPD_TEMPLATE) == [
        "media/v1/init.mp4",
        *[f"media/v1/{n:03d}.m4s" for n in range(7, 12)],
        "media/a-init.mp4",
        *[f"media/a-{t}-64000.m4s" for t in (5, 25, 45, 65)],
        "media/t/init.mp4",
        "media/t/1.m4s",
        "media/t/2.m4s",
        "media/subs/de.vtt",
    ]


def test_an_mpd_with_a_dtd_is_refused_before_parsing() -> None:
    laughs = '<?xml version="1.0"?><!DOCTYPE MPD [<!ENTITY a "aaaa">]><MPD>&a;</MPD>'
    with pytest.raises(LadderError, match="DTD"):
        dash_references(laughs)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_waves_put_segments_first_media_playlists_next_and_the_master_last(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "master.m3u8": "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n",
            "v/index.m3u8": '#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n#EXTINF:4,\ns%201.m4s\n',
            "v/init.mp4": "i",
            "v/s 1.m4s": "s",
            "poster.jpg": "p",
        },
    )
    ladder = scan_ladder(tmp_path)
    assert ladder.waves == (
        ("poster.jpg", "v/init.mp4", "v/s 1.m4s"),
        ("v/index.m3u8",),
        ("master.m3u8",),
    )


@pytest.mark.parametrize(
    ("playlist", "problem"),
    [
        ("#EXTM3U\n#EXTINF:4,\nmissing.ts\n", "not in the directory: missing.ts"),
        ("#EXTM3U\n#EXTINF:4,\n../../etc/passwd\n", "climbs out"),
        ("#EXTM3U\n#EXTINF:4,\n..%2F..%2Fsecret.ts\n", "climbs out"),
        ("#EXTM3U\n#EXTINF:4,\n/abs/seg.ts\n", "root-relative"),
    ],
)
def test_a_manifest_that_would_break_for_a_player_is_refused(
    tmp_path: Path, playlist: str, problem: str
) -> None:
    _write(tmp_path / "d", {"index.m3u8": playlist})
    with pytest.raises(LadderError, match=problem):
        scan_ladder(tmp_path / "d")


def test_a_refusal_never_quotes_a_uris_query_string(tmp_path: Path) -> None:
    _write(tmp_path / "d", {"index.m3u8": "#EXTM3U\n#EXTINF:4,\n/abs/seg.ts?token=s3cr3t\n"})
    with pytest.raises(LadderError) as refused:
        scan_ladder(tmp_path / "d")
    assert "/abs/seg.ts" in str(refused.value) and "s3cr3t" not in str(refused.value)


def test_manifests_naming_each_other_in_a_cycle_are_refused(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {"a.m3u8": "#EXTM3U\n#EXTINF:4,\nb.m3u8\n", "b.m3u8": "#EXTM3U\n#EXTINF:4,\na.m3u8\n"},
    )
    with pytest.raises(LadderError, match="cycle"):
        scan_ladder(tmp_path)


# -- media --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a/master.m3u8", "application/vnd.apple.mpegurl"),  # RFC 8216 section 4
        ("manifest.mpd", "application/dash+xml"),  # ISO/IEC 23009-1 Annex C
        ("seg.m4s", "video/iso.segment"),  # IANA
        ("init.MP4", "video/mp4"),  # RFC 4337; extensions are case-insensitive
        ("a.m4a", "audio/mp4"),  # RFC 4337
        ("v.cmfv", "video/mp4"),  # CTA-5001 (CMAF)
        ("s.ts", "video/mp2t"),  # IANA
        ("a.aac", "audio/aac"),  # IANA
        ("a.ec3", "audio/eac3"),  # RFC 4598
        ("sub.vtt", "text/vtt"),  # W3C WebVTT
        ("notes.xyz", "application/octet-stream"),
    ],
)
def test_content_types_follow_their_registrations(path: str, expected: str) -> None:
    assert content_type(path) == expected


def test_cache_control_matches_the_edge_rules() -> None:
    # The stack caches media a year (names are immutable, RFC 8246) and manifests 30 s by
    # default (README "How delivery works"); a live stream asks for 1 s.
    assert cache_control("v/seg1.m4s") == "public, max-age=31536000, immutable"
    assert cache_control("v/sub.vtt") == "public, max-age=31536000, immutable"
    assert cache_control("index.m3u8") == "public, max-age=30"
    assert cache_control("index.m3u8", manifest_max_age=1) == "public, max-age=1"
    assert cache_control("poster.jpg") is None


# -- the coordinator API ------------------------------------------------------------------------


def _api(handler, *, attempts: int = 3) -> tuple[CoordinatorApi, list[float]]:
    slept: list[float] = []
    policy = RetryPolicy(attempts=attempts, sleep=slept.append, rng=lambda: 0.5)
    client = httpx.Client(transport=httpx.MockTransport(handler))
    api = CoordinatorApi(
        "http://c.test", job_id="j/1", token="tok-123", client=client, retry=policy
    )
    return api, slept


def test_503_is_retried_honouring_retry_after_then_succeeds() -> None:
    busy = {"error": {"code": "store_unavailable", "message": "x"}}
    answers = iter(
        [
            httpx.Response(503, headers={"Retry-After": "5"}, json=busy),
            httpx.Response(200, json={"files": [{"path": "a"}]}),
        ]
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    api, slept = _api(handler)
    assert api.outputs([{"path": "a", "content_type": "video/mp4"}]) == [{"path": "a"}]
    assert slept == [5.0]  # Retry-After (5 s) beats the jittered 0.1 s
    assert seen[0].url.raw_path == b"/v1/jobs/j%2F1/outputs"  # the job id is one path segment
    assert seen[0].headers["authorization"] == "Bearer tok-123"


def test_a_4xx_is_raised_at_once_with_its_code_and_never_the_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"error": {"code": "parts_mismatch", "message": "re-upload 2"}}
        return httpx.Response(409, json=body)

    api, slept = _api(handler)
    with pytest.raises(CoordinatorRefused) as caught:
        api.complete_multipart("up+1/=", path="a.mp4", size=1, parts=[])
    assert (caught.value.status, caught.value.code) == (409, "parts_mismatch")
    assert "tok-123" not in str(caught.value)
    assert slept == []


def test_502_store_integrity_is_final_not_retried() -> None:
    # docs/coordinator.md: 502 store_integrity, "do not retry the same call: upload again".
    body = {"error": {"code": "store_integrity", "message": "not the declared size"}}
    api, slept = _api(lambda request: httpx.Response(502, json=body))
    with pytest.raises(CoordinatorRefused) as caught:
        api.complete_multipart("u", path="a.mp4", size=1, parts=[])
    assert (caught.value.status, caught.value.code, slept) == (502, "store_integrity", [])


def test_the_coordinator_failing_every_time_ends_in_a_clear_error() -> None:
    api, slept = _api(lambda request: httpx.Response(502, text="<html>bad gateway</html>"))
    with pytest.raises(CoordinatorUnavailable, match="3 times; last: 502 unknown"):
        api.inputs()
    assert len(slept) == 2


# -- transfers ----------------------------------------------------------------------------------

URL = "http://store.test/bucket/k.m4s?X-Amz-Signature=abcdef&X-Amz-Credential=x"


def _transfer(handler) -> tuple[Transfer, list[float]]:
    slept: list[float] = []
    policy = RetryPolicy(attempts=3, sleep=slept.append, rng=lambda: 1.0)
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return Transfer(client=client, retry=policy), slept


def test_a_put_sends_content_md5_and_is_retried_on_5xx_and_timeouts() -> None:
    data = b"segment bytes"
    md5 = hashlib.md5(data).digest()  # noqa: S324 - S3's ETag and Content-MD5 (RFC 1864)
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow", request=request)
        if len(calls) == 2:
            return httpx.Response(500, text="<Error><Code>InternalError</Code></Error>")
        return httpx.Response(200, headers={"ETag": f'"{md5.hex()}"'})

    transfer, slept = _transfer(handler)
    result = transfer.put(URL, data, headers={"Content-Type": "video/iso.segment"}, what="k")
    assert (result.etag, result.attempts) == (md5.hex(), 3)
    assert calls[-1].headers["content-md5"] == base64.b64encode(md5).decode()
    assert calls[-1].headers["content-type"] == "video/iso.segment"
    assert slept == [0.2, 0.4]  # full jitter at its ceiling: 0.2 s, then doubled


def test_a_put_whose_etag_is_not_the_md5_of_the_bytes_is_an_error() -> None:
    transfer, _ = _transfer(lambda request: httpx.Response(200, headers={"ETag": '"0" '}))
    with pytest.raises(StoreRefusedUpload, match="not stored as sent"):
        transfer.put(URL, b"x", what="k")


def test_refusals_say_what_happened_without_the_signature() -> None:
    expired = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    transfer, slept = _transfer(lambda request: httpx.Response(403, text=expired))
    with pytest.raises(UrlExpired) as caught:
        transfer.put(URL, b"x", what="k")
    assert "abcdef" not in str(caught.value) and slept == []
    denied = "<Error><Code>SignatureDoesNotMatch</Code></Error>"
    transfer, _ = _transfer(lambda request: httpx.Response(403, text=denied))
    with pytest.raises(StoreRefusedUpload, match="403 SignatureDoesNotMatch") as refused:
        transfer.put(URL, b"x", what="k")
    assert "abcdef" not in str(refused.value)
    assert redact(URL) == "http://store.test/bucket/k.m4s?…"


# -- journal and packaging ----------------------------------------------------------------------


def test_the_journal_survives_a_line_cut_short_and_ignores_another_jobs(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    journal = Journal(path, job_id="j1")
    journal.record_stored("a.ts", size=3, md5="m", etag="m")
    journal.record_upload("b.mp4", size=9, md5="n", upload_id="u1")
    with path.open("a") as handle:
        handle.write('{"path": "c.ts", "size": 1, "md5"')  # the crash
    again = Journal(path, job_id="j1")
    assert again.done("a.ts", size=3, md5="m") is not None
    assert again.done("a.ts", size=3, md5="other") is None  # changed bytes are not done
    assert again.upload_of("b.mp4", size=9, md5="n") == "u1"
    assert Journal(path, job_id="j2").stored == {}


def test_the_lambda_handler_never_imports_the_client() -> None:
    code = (
        "import sys, coordinator.lambda_handler; "
        "print(sorted(m for m in ('coordinator.client', 'httpx', 'tqdm') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
