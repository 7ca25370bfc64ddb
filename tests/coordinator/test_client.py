"""The worker client against the embedded store (a real SigV4-checking S3 server): a ladder
round-trips byte for byte with the right headers, manifests land after what they name, and a
worker killed mid-publish resumes by uploading only what is missing.

Expected content types and Cache-Control values are written here from their sources (RFC 8216,
ISO/IEC 23009-1, IANA, W3C WebVTT, RFC 8246; the stack's edge rules: media one year, manifests
30 s by default), never read from the client. The store-side order is recorded by a transport
that wraps the client's connection to the store: a PUT counts when the store has answered it.
"""

from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from coordinator.client import (
    CoordinatorApi,
    CoordinatorRefused,
    Journal,
    Publisher,
    PublishOptions,
    Transfer,
)
from coordinator.client.api import RetryPolicy

from .conftest import DELIVERY_BUCKET, Job

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
THRESHOLD = 5 * MiB  # the client's smallest multipart threshold (R2's smallest part)
BIG = 5 * MiB + 4321  # the coordinator cuts it into 5 MiB and a tail: 2 parts

# From the sources named in the module docstring.
HLS_TYPE = "application/vnd.apple.mpegurl"  # RFC 8216 section 4
DASH_TYPE = "application/dash+xml"  # ISO/IEC 23009-1 Annex C
EXPECTED_TYPE = {
    "m3u8": HLS_TYPE,
    "mpd": DASH_TYPE,
    "m4s": "video/iso.segment",  # IANA
    "mp4": "video/mp4",  # RFC 4337
    "ts": "video/mp2t",  # IANA, RFC 8216 section 3.2
    "aac": "audio/aac",  # IANA
    "vtt": "text/vtt",  # W3C WebVTT
}
MEDIA_CACHE = "public, max-age=31536000, immutable"  # one year, RFC 8246 immutable
MANIFEST_CACHE = "public, max-age=30"


def _rng_bytes(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


def _playlist(segments: list[str], *, init: str | None = None) -> str:
    head = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    if init:
        head += f'#EXT-X-MAP:URI="{init}"\n'
    return head + "".join(f"#EXTINF:4.0,\n{s}\n" for s in segments) + "#EXT-X-ENDLIST\n"


@dataclass
class SampleLadder:
    root: Path
    files: dict[str, bytes]
    names: dict[str, set[str]]  # manifest -> the files it names, written by hand


def build_ladder(root: Path, *, big: int = BIG) -> SampleLadder:
    """Three renditions: HLS with fMP4 init segments, TS and packed AAC audio, WebVTT
    subtitles and a master playlist; DASH with init segments and subtitles; one MP4 download."""
    rng = random.Random(1216)
    files: dict[str, bytes] = {}
    names: dict[str, set[str]] = {}
    for rendition in ("360p", "720p", "1080p"):
        base = f"hls/{rendition}"
        segments = [f"seg{i}.m4s" for i in range(3)]
        files[f"{base}/init.mp4"] = _rng_bytes(rng, 900)
        for s in segments:
            files[f"{base}/{s}"] = _rng_bytes(rng, 40_000)
        files[f"{base}/index.m3u8"] = _playlist(segments, init="init.mp4").encode()
        names[f"{base}/index.m3u8"] = {f"{base}/init.mp4"} | {f"{base}/{s}" for s in segments}
    files["hls/ts/seg0.ts"] = _rng_bytes(rng, 18_800)
    files["hls/ts/seg 1.ts"] = _rng_bytes(rng, 18_800)  # a space, percent-encoded below
    files["hls/ts/index.m3u8"] = _playlist(["seg0.ts", "seg%201.ts"]).encode()
    names["hls/ts/index.m3u8"] = {"hls/ts/seg0.ts", "hls/ts/seg 1.ts"}
    files["hls/audio/a0.aac"] = _rng_bytes(rng, 3_000)
    files["hls/audio/index.m3u8"] = _playlist(["a0.aac"]).encode()
    names["hls/audio/index.m3u8"] = {"hls/audio/a0.aac"}
    files["hls/subs/en0.vtt"] = b"WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nHello\n"
    files["hls/subs/index.m3u8"] = _playlist(["en0.vtt"]).encode()
    names["hls/subs/index.m3u8"] = {"hls/subs/en0.vtt"}
    files["hls/master.m3u8"] = (
        b"#EXTM3U\n"
        b'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/index.m3u8"\n'
        b'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="s",NAME="English, CC",URI="subs/index.m3u8"\n'
        b'#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example.com/k1"\n'
        b'#EXT-X-SESSION-DATA:DATA-ID="com.example.chapters",'
        b'URI="https://cdn.example.com/c.json?sig=s3cr3t"\n'
        b'#EXT-X-STREAM-INF:BANDWIDTH=800000,AUDIO="a",SUBTITLES="s"\n360p/index.m3u8\n'
        b'#EXT-X-STREAM-INF:BANDWIDTH=2500000,AUDIO="a",SUBTITLES="s"\n720p/index.m3u8\n'
        b'#EXT-X-STREAM-INF:BANDWIDTH=5000000,AUDIO="a",SUBTITLES="s"\n1080p/index.m3u8\n'
        b"#EXT-X-STREAM-INF:BANDWIDTH=300000\nts/index.m3u8\n"
    )
    names["hls/master.m3u8"] = {
        "hls/audio/index.m3u8",
        "hls/subs/index.m3u8",
        "hls/360p/index.m3u8",
        "hls/720p/index.m3u8",
        "hls/1080p/index.m3u8",
        "hls/ts/index.m3u8",
    }
    dash_named = set()
    for rendition in ("360p", "720p", "1080p"):
        files[f"dash/v/init-{rendition}.mp4"] = _rng_bytes(rng, 700)
        dash_named.add(f"dash/v/init-{rendition}.mp4")
        for number in (1, 2, 3):  # SegmentTimeline: t=0 d=4000 r=1, then d=2000: 3 segments
            name = f"dash/v/{rendition}-{number:04d}.m4s"
            files[name] = _rng_bytes(rng, 30_000)
            dash_named.add(name)
    files["dash/subs/en.vtt"] = b"WEBVTT\n\n00:00:00.000 --> 00:00:02.000\nHallo\n"
    dash_named.add("dash/subs/en.vtt")
    files["dash/manifest.mpd"] = b"""<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT10S"
     minBufferTime="PT2S" profiles="urn:mpeg:dash:profile:isoff-live:2011">
  <Period id="p0">
    <AdaptationSet contentType="video" mimeType="video/mp4">
      <BaseURL>v/</BaseURL>
      <SegmentTemplate timescale="1000" initialization="init-$RepresentationID$.mp4"
                       media="$RepresentationID$-$Number%04d$.m4s" startNumber="1">
        <SegmentTimeline><S t="0" d="4000" r="1"/><S d="2000"/></SegmentTimeline>
      </SegmentTemplate>
      <Representation id="360p" bandwidth="800000"/>
      <Representation id="720p" bandwidth="2500000"/>
      <Representation id="1080p" bandwidth="5000000"/>
    </AdaptationSet>
    <AdaptationSet contentType="text" mimeType="text/vtt" lang="en">
      <Representation id="en" bandwidth="100"><BaseURL>subs/en.vtt</BaseURL></Representation>
    </AdaptationSet>
  </Period>
</MPD>
"""
    names["dash/manifest.mpd"] = dash_named
    files["download/movie.mp4"] = _rng_bytes(rng, big)
    for relative, data in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return SampleLadder(root=root, files=files, names=names)


class Killed(Exception):
    """The injected fault: the worker 'dies' instead of sending this request."""


@dataclass
class Seen:
    method: str
    key: str  # the object key, decoded
    part: int | None
    status: int
    started: int
    ended: int


class RecordingTransport(httpx.BaseTransport):
    """Wraps the connection to the store: records every request as the store answered it, and
    can kill the worker before the N-th PUT or before a given part."""

    def __init__(self, *, kill_before_put: int | None = None, kill_part: int | None = None):
        self.inner = httpx.HTTPTransport()
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.puts = 0
        self.kill_before_put = kill_before_put
        self.kill_part = kill_part

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        query = parse_qs(urlsplit(str(request.url)).query)
        part = int(query["partNumber"][0]) if "partNumber" in query else None
        with self.lock:
            if request.method == "PUT":
                self.puts += 1
                if self.kill_before_put is not None and self.puts >= self.kill_before_put:
                    raise Killed(f"killed before PUT {self.puts}")
                if self.kill_part is not None and part == self.kill_part:
                    raise Killed(f"killed before part {part}")
        started = time.monotonic_ns()
        response = self.inner.handle_request(request)
        response.read()
        ended = time.monotonic_ns()
        path = unquote(request.url.path).split("/", 2)[2]  # /<bucket>/<key>
        with self.lock:
            self.seen.append(Seen(request.method, path, part, response.status_code, started, ended))
        return response

    def close(self) -> None:
        self.inner.close()

    def ok_puts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "PUT" and s.status == 200]


def _publish(
    served: str,
    job: Job,
    root: Path,
    transport: RecordingTransport,
    **options: Any,
) -> Any:
    fast = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
    with CoordinatorApi(served, job_id=job.job_id, token=job.token, retry=fast) as api:
        transfer = Transfer(client=httpx.Client(transport=transport, timeout=30), retry=fast)
        chosen = PublishOptions(**{"multipart_threshold": THRESHOLD, **options})
        publisher = Publisher(api=api, transfer=transfer, options=chosen)
        return publisher.publish(root, journal=Journal(root / ".state.jsonl", job_id=job.job_id))


@pytest.fixture
def ladder(tmp_path: Path) -> SampleLadder:
    return build_ladder(tmp_path / "ladder")


def _units(ladder: SampleLadder) -> set[tuple[str, int | None]]:
    """What the store must see once: a PUT per small file, a PUT per part of the big one."""
    units: set[tuple[str, int | None]] = set()
    for path, data in ladder.files.items():
        if len(data) >= THRESHOLD:
            units |= {(path, n) for n in range(1, -(-len(data) // (5 * MiB)) + 1)}
        else:
            units.add((path, None))
    return units


def _key_units(job: Job, seen: list[Seen]) -> list[tuple[str, int | None]]:
    return [(s.key.removeprefix(job.prefix), s.part) for s in seen]


def test_a_ladder_round_trips_byte_for_byte_with_its_headers(
    served: str, job: Job, ladder: SampleLadder, s3: Any
) -> None:
    transport = RecordingTransport()
    summary = _publish(served, job, ladder.root, transport, concurrency=4)

    assert summary.files == len(ladder.files) == summary.verified
    listed = s3.list_objects_v2(Bucket=DELIVERY_BUCKET, Prefix=job.prefix)["Contents"]
    assert {o["Key"].removeprefix(job.prefix) for o in listed} == set(ladder.files)
    for path, data in ladder.files.items():
        stored = s3.get_object(Bucket=DELIVERY_BUCKET, Key=job.prefix + path)
        assert stored["Body"].read() == data, path
        extension = path.rsplit(".", 1)[1]
        assert stored["ContentType"] == EXPECTED_TYPE[extension], path
        expected = MANIFEST_CACHE if extension in ("m3u8", "mpd") else MEDIA_CACHE
        assert stored.get("CacheControl") == expected, path  # multipart too (download/movie.mp4)
    # Every unit went to the store once; the journal never left the worker.
    assert sorted(_key_units(job, transport.ok_puts()), key=str) == sorted(_units(ladder), key=str)


def test_a_multipart_object_carries_the_media_cache_control(
    served: str, job: Job, ladder: SampleLadder, s3: Any
) -> None:
    _publish(served, job, ladder.root, RecordingTransport())
    stored = s3.head_object(Bucket=DELIVERY_BUCKET, Key=job.prefix + "download/movie.mp4")
    assert stored.get("CacheControl") == MEDIA_CACHE


def test_every_manifest_reaches_the_store_after_the_files_it_names(
    served: str, job: Job, ladder: SampleLadder
) -> None:
    transport = RecordingTransport()
    _publish(served, job, ladder.root, transport, concurrency=8)
    puts = transport.ok_puts()
    answered: dict[str, int] = {}
    for seen in puts:
        path = seen.key.removeprefix(job.prefix)
        answered[path] = max(answered.get(path, 0), seen.ended)
    sent = {s.key.removeprefix(job.prefix): s.started for s in puts if s.part is None}
    for manifest, named in ladder.names.items():
        for path in named:
            assert answered[path] < sent[manifest], f"{manifest} was sent before {path} was stored"
    # The master names media playlists: it went last of all.
    assert sent["hls/master.m3u8"] == max(sent.values())


@pytest.mark.parametrize("kill", [{"kill_before_put": 9}, {"kill_part": 2}], ids=["files", "part"])
def test_a_killed_worker_resumes_and_uploads_only_what_was_missing(
    served: str, job: Job, ladder: SampleLadder, s3: Any, kill: dict[str, int]
) -> None:
    first = RecordingTransport(**kill)
    with pytest.raises(Killed):
        _publish(served, job, ladder.root, first, concurrency=4)
    before = set(_key_units(job, first.ok_puts()))
    assert before and before < _units(ladder)

    second = RecordingTransport()
    summary = _publish(served, job, ladder.root, second, concurrency=4)
    after = _key_units(job, second.ok_puts())

    assert len(after) == len(set(after)), "a unit was uploaded twice in the resumed run"
    assert not before & set(after), "the resumed run uploaded what the store already had"
    assert before | set(after) == _units(ladder)
    assert summary.verified == len(ladder.files)
    if "kill_part" in kill:
        assert summary.resumed_uploads == 1 and summary.multipart_files == 0
    for path, data in ladder.files.items():
        body = s3.get_object(Bucket=DELIVERY_BUCKET, Key=job.prefix + path)["Body"].read()
        assert body == data, path


def test_a_second_publish_of_a_finished_ladder_uploads_nothing(
    served: str, job: Job, ladder: SampleLadder
) -> None:
    _publish(served, job, ladder.root, RecordingTransport())
    again = RecordingTransport()
    summary = _publish(served, job, ladder.root, again)
    assert again.seen == []
    assert summary.skipped_files == summary.files == summary.verified


@pytest.fixture
def cli_env() -> Iterator[Callable[[str], dict[str, str]]]:
    def make(token: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COORDINATOR_")}
        env["COORDINATOR_WORKER_TOKEN"] = token
        return env

    yield make


def test_the_command_publishes_and_prints_a_json_summary_without_secrets(
    served: str, job: Job, tmp_path: Path, cli_env: Callable[[str], dict[str, str]]
) -> None:
    small = build_ladder(tmp_path / "small", big=4 * MiB)
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", "publish", "--coordinator", served,
         "--job", job.job_id, "--json", str(small.root)],
        cwd=REPO, env=cli_env(job.token), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is True
    assert summary["files"] == summary["verified"] == len(small.files)
    assert summary["waves"] == [len(small.files) - len(small.names), len(small.names) - 1, 1]
    assert summary["external_references"] == ["https://cdn.example.com/c.json?…"]
    output = result.stdout + result.stderr
    assert job.token not in output and "X-Amz-Signature" not in output and "s3cr3t" not in output


def test_the_command_wants_the_token_from_the_environment(
    served: str, job: Job, ladder: SampleLadder, cli_env: Callable[[str], dict[str, str]]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", "publish", "--coordinator", served,
         "--job", job.job_id, str(ladder.root)],
        cwd=REPO, env=cli_env(""), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "COORDINATOR_WORKER_TOKEN" in result.stderr


def test_the_command_fails_clearly_on_a_refused_token(
    served: str, job: Job, ladder: SampleLadder, cli_env: Callable[[str], dict[str, str]]
) -> None:
    forged = job.token[:-4] + ("AAAA" if not job.token.endswith("AAAA") else "BBBB")
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", "publish", "--coordinator", served,
         "--job", job.job_id, str(ladder.root)],
        cwd=REPO, env=cli_env(forged), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "401" in result.stderr and forged not in result.stderr
    assert "%|" not in result.stderr, "no progress bar when stdout is not a terminal"


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_the_command_shows_a_progress_bar_on_a_terminal(
    served: str, job: Job, tmp_path: Path, cli_env: Callable[[str], dict[str, str]]
) -> None:
    import fcntl
    import pty
    import struct
    import termios

    small = build_ladder(tmp_path / "tty", big=4 * MiB)
    leader, follower = pty.openpty()
    # rows, columns: a pseudo-terminal starts 0 x 0, and a bar 0 columns wide prints nothing
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "coordinator", "publish", "--coordinator", served,
         "--job", job.job_id, str(small.root)],
        cwd=REPO, env=cli_env(job.token), stdout=follower, stderr=follower,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the child closes the terminal (EOF, or EIO)
        ready, _, _ = select.select([leader], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0, seen.decode(errors="replace")
    text = seen.decode(errors="replace")
    assert "100%|" in text and "published" in text


class CoordinatorFaults(httpx.BaseTransport):
    """Wraps the worker's connection to the coordinator and tampers with complete calls:
    ``lose`` forwards the first one and then loses its answer (a timeout); ``answer`` replaces
    the first one's answer without forwarding it."""

    def __init__(self, *, lose: bool = False, answer: httpx.Response | None = None) -> None:
        self.inner = httpx.HTTPTransport()
        self.lose = lose
        self.answer = answer
        self.completes = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/complete"):
            self.completes += 1
            if self.completes == 1 and self.answer is not None:
                return self.answer
            if self.completes == 1 and self.lose:
                self.inner.handle_request(request).read()
                raise httpx.ReadTimeout("answer lost", request=request)
        return self.inner.handle_request(request)


def _publish_through(served: str, job: Job, root: Path, faults: CoordinatorFaults) -> Any:
    fast = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
    client = httpx.Client(transport=faults, timeout=30)
    with CoordinatorApi(
        served, job_id=job.job_id, token=job.token, client=client, retry=fast
    ) as api:
        transfer = Transfer(client=httpx.Client(timeout=30), retry=fast)
        options = PublishOptions(multipart_threshold=THRESHOLD)
        publisher = Publisher(api=api, transfer=transfer, options=options)
        return publisher.publish(root, journal=Journal(root / ".state.jsonl", job_id=job.job_id))


def test_a_complete_whose_answer_was_lost_is_retried_and_409_already_completed_is_success(
    served: str, job: Job, ladder: SampleLadder, s3: Any
) -> None:
    faults = CoordinatorFaults(lose=True)
    summary = _publish_through(served, job, ladder.root, faults)
    assert faults.completes == 2  # the retry heard 409 already_completed (docs/coordinator.md)
    assert summary.verified == summary.files
    body = s3.get_object(Bucket=DELIVERY_BUCKET, Key=job.prefix + "download/movie.mp4")["Body"]
    assert body.read() == ladder.files["download/movie.mp4"]


def test_a_409_about_the_parts_is_repaired_through_the_status_route(
    served: str, job: Job, ladder: SampleLadder
) -> None:
    mismatch = {"error": {"code": "parts_mismatch", "message": "part 2 has the wrong size"}}
    faults = CoordinatorFaults(answer=httpx.Response(409, json=mismatch))
    summary = _publish_through(served, job, ladder.root, faults)
    assert faults.completes == 2 and summary.verified == summary.files


def test_a_completed_object_the_store_got_wrong_is_uploaded_again(
    served: str, job: Job, ladder: SampleLadder, s3: Any
) -> None:
    wrong = {"error": {"code": "store_integrity", "message": "not the declared size"}}
    faults = CoordinatorFaults(answer=httpx.Response(502, json=wrong))
    summary = _publish_through(served, job, ladder.root, faults)
    assert faults.completes == 2 and summary.multipart_files == 2  # a second upload, completed
    body = s3.get_object(Bucket=DELIVERY_BUCKET, Key=job.prefix + "download/movie.mp4")["Body"]
    assert body.read() == ladder.files["download/movie.mp4"]


def test_an_unknown_refusal_of_complete_stops_the_publish_with_its_code(
    served: str, job: Job, ladder: SampleLadder
) -> None:
    novel = {"error": {"code": "brand_new_rule", "message": "no"}}
    faults = CoordinatorFaults(answer=httpx.Response(422, json=novel))
    with pytest.raises(CoordinatorRefused) as refused:
        _publish_through(served, job, ladder.root, faults)
    assert (refused.value.status, refused.value.code) == (422, "brand_new_rule")
    assert "complete multipart" in str(refused.value)
