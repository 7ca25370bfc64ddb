"""Publish a ladder directory through the coordinator: wave by wave, so that every manifest
reaches the store after every file it names, resuming what an earlier run left unfinished.

For each wave (``ladder.scan_ladder``): files the journal already records with the same bytes
are skipped; small files get presigned PUTs (up to 100 per coordinator call); files of at least
``multipart_threshold`` bytes go by multipart, their parts in the same bounded pool; each
multipart upload is finished through the status route (it lists what the store holds and
re-signs what is missing, also after a crash) and completed. The next wave starts only when
every object of this one is stored and verified.

Verification: every single PUT and every part is sent with Content-MD5 and its ETag must be
the MD5 of the bytes read; a completed multipart object's ETag must be the MD5 of its parts'
MD5s with ``-N``; the summary counts files whose stored ETag matches the local bytes.

Answers the coordinator may give on complete, by ``error.code``: 409 ``already_completed`` (a
retried or raced complete: the object holds exactly these parts) is success; 400
``invalid_parts`` or another 409 (the parts are not what the plan says) is repaired once by
asking the status route again and re-uploading what it lists; 404 (the upload is gone) starts
the upload over once, and so does 502 ``store_integrity`` (the store completed something other
than the parts: upload again). Any other 4xx stops the publish with the coordinator's code and
message.

References: docs/coordinator.md (Multipart); RFC 8216 and ISO/IEC 23009-1 via ``ladder``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from threading import Lock
from typing import Any

from ..delivery_rules import DEFAULT_MANIFEST_TTL, ONE_YEAR
from ..multipart import multipart_etag
from .api import CoordinatorApi, CoordinatorRefused
from .journal import DEFAULT_NAME, Journal
from .ladder import scan_ladder
from .media import cache_control, content_type
from .transfer import Transfer, UrlExpired, md5_of_file, read_range, redact

__all__ = ["PublishError", "PublishOptions", "PublishSummary", "Publisher"]

MiB = 1024 * 1024
OUTPUTS_PER_CALL = 100  # the coordinator's MAX_FILES_PER_REQUEST
PARTS_PER_ANSWER = 1000  # the coordinator's MAX_PART_URLS
# s3transfer's (and so `aws s3 cp`'s) default multipart threshold: 8 MiB.
DEFAULT_MULTIPART_THRESHOLD = 8 * MiB


class PublishError(Exception):
    """The publish cannot go on; the message says what happened and what to do."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PublishOptions:
    """How to publish; the defaults match the stack's edge rules and `aws s3 cp`."""

    concurrency: int = 8
    """Transfers in flight at once (PUTs and parts together)."""
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    """Files of at least this many bytes go by multipart."""
    manifest_max_age: int = DEFAULT_MANIFEST_TTL
    """Cache-Control max-age of manifests (1-2 s for live streams)."""
    media_max_age: int = ONE_YEAR
    """Cache-Control max-age of media files (immutable names)."""

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.concurrency <= 256:
            problems.append("concurrency must be 1 to 256")
        if self.multipart_threshold < 5 * MiB:
            problems.append("multipart_threshold must be at least 5 MiB (R2's smallest part)")
        for name in ("manifest_max_age", "media_max_age"):
            if not 0 <= getattr(self, name) <= ONE_YEAR:
                problems.append(f"{name} must be 0 to {ONE_YEAR} seconds")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(slots=True)
class PublishSummary:
    """What a publish did, for people and (``as_json``) for machines. No URL, no token."""

    job_id: str
    files: int = 0
    bytes: int = 0
    skipped_files: int = 0
    skipped_bytes: int = 0
    uploaded_files: int = 0
    uploaded_bytes: int = 0
    puts: int = 0
    parts: int = 0
    multipart_files: int = 0
    resumed_uploads: int = 0
    retries: int = 0
    verified: int = 0
    waves: list[int] = field(default_factory=list)
    external_references: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.verified == self.files
        data["seconds"] = round(self.seconds, 3)
        rate = self.uploaded_bytes / self.seconds / MiB if self.seconds > 0 else 0.0
        data["throughput_mib_s"] = round(rate, 2)
        return data


@dataclass(slots=True)
class _Local:
    size: int
    md5: str | None  # hex; None until hashed (a small file is hashed as it is sent)


@dataclass(slots=True)
class _Upload:
    path: str
    upload_id: str
    size: int
    part_size: int
    part_count: int
    part_md5: dict[int, str] = field(default_factory=dict)


class Publisher:
    """Publishes ladders for one job through ``api`` with ``transfer``, recorded in a journal."""

    def __init__(
        self,
        *,
        api: CoordinatorApi,
        transfer: Transfer,
        options: PublishOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.transfer = transfer
        self.options = options or PublishOptions()
        self.clock = clock
        self._lock = Lock()

    # -- entry point ----------------------------------------------------------------------------

    def publish(
        self,
        root: Path,
        *,
        journal: Journal,
        on_start: Callable[[int, int], None] | None = None,
    ) -> PublishSummary:
        """Publish ``root``; ``on_start(total_bytes, already_stored_bytes)`` sets up progress."""
        started = self.clock()
        # The journal is the worker's own record, never published (nor one left by another run).
        ladder = scan_ladder(root, exclude=[journal.path, root / DEFAULT_NAME])
        # Query strings of external URLs may carry tokens (signed key URLs): never echo them.
        external = sorted({redact(uri) for uri in ladder.external})
        summary = PublishSummary(job_id=self.api.job_id, external_references=external)
        with ThreadPoolExecutor(max_workers=self.options.concurrency) as pool:
            threshold = self.options.multipart_threshold
            known = set(journal.stored) | set(journal.uploads)

            def inspect(path: str) -> _Local:
                # A small file no run has recorded is hashed as it is sent, not twice.
                size = (root / path).stat().st_size
                hashed = path in known or size >= threshold
                return _Local(size=size, md5=md5_of_file(root / path) if hashed else None)

            local = dict(zip(ladder.files, pool.map(inspect, ladder.files), strict=True))
            summary.files = len(ladder.files)
            summary.bytes = sum(info.size for info in local.values())
            already = [p for p in ladder.files if journal.done(p, **_key(local[p])) is not None]
            summary.skipped_files = len(already)
            summary.skipped_bytes = sum(local[p].size for p in already)
            if on_start is not None:
                on_start(summary.bytes, summary.skipped_bytes)
            for wave in ladder.waves:
                summary.waves.append(len(wave))
                todo = [p for p in wave if journal.done(p, **_key(local[p])) is None]
                self._wave(pool, root, todo, local, journal, summary)
        summary.verified = sum(
            1 for p in ladder.files if journal.done(p, **_key(local[p])) is not None
        )
        summary.retries = self.api.retries + self.transfer.retries
        summary.seconds = self.clock() - started
        if summary.verified != summary.files:
            raise PublishError(
                f"{summary.files - summary.verified} of {summary.files} files are not verified"
            )
        return summary

    # -- one wave -------------------------------------------------------------------------------

    def _wave(
        self,
        pool: ThreadPoolExecutor,
        root: Path,
        todo: Sequence[str],
        local: Mapping[str, _Local],
        journal: Journal,
        summary: PublishSummary,
    ) -> None:
        threshold = self.options.multipart_threshold
        small = [p for p in todo if local[p].size < threshold]
        large = [p for p in todo if local[p].size >= threshold]
        futures: list[Future[None]] = []
        # Large files first: their parts are the longest pole, so they start before the queue
        # of small files rather than after it.
        uploads = []
        for path in large:
            upload, parts = self._start_multipart(path, local[path], journal, summary)
            uploads.append(upload)
            futures.extend(self._submit_parts(pool, root, upload, parts, summary))
        for start in range(0, len(small), OUTPUTS_PER_CALL):
            batch = small[start : start + OUTPUTS_PER_CALL]
            for signed in self.api.outputs([_declare(p) for p in batch]):
                path = signed["path"]
                futures.append(
                    pool.submit(self._put_file, root, path, signed, local[path], journal, summary)
                )
        _wait(futures)
        for upload in uploads:
            self._finish_multipart(pool, root, upload, local[upload.path], journal, summary)

    def _put_file(
        self,
        root: Path,
        path: str,
        signed: Mapping[str, Any],
        info: _Local,
        journal: Journal,
        summary: PublishSummary,
    ) -> None:
        data = (root / path).read_bytes()
        digest = hashlib.md5(data, usedforsecurity=False)
        if len(data) != info.size or info.md5 not in (None, digest.hexdigest()):
            raise PublishError(f"{path} changed while publishing; publish again")
        info.md5 = digest.hexdigest()
        for fresh in (False, True):
            headers = dict(signed["headers"])
            rule = self._cache_control(path)
            if rule is not None:
                headers["Cache-Control"] = rule
            try:
                result = self.transfer.put(
                    signed["url"], data, headers=headers, what=path, md5=digest.digest()
                )
            except UrlExpired:
                if fresh:
                    raise
                signed = self.api.outputs([_declare(path)])[0]  # ask once for a fresh URL
                continue
            journal.record_stored(path, size=info.size, md5=info.md5, etag=result.etag)
            with self._lock:
                summary.puts += 1
                summary.uploaded_files += 1
                summary.uploaded_bytes += info.size
            return

    # -- multipart ------------------------------------------------------------------------------

    def _start_multipart(
        self, path: str, info: _Local, journal: Journal, summary: PublishSummary
    ) -> tuple[_Upload, list[Mapping[str, Any]]]:
        upload_id = journal.upload_of(path, size=info.size, md5=_hashed(info))
        if upload_id is not None:
            try:
                status = self.api.multipart_status(upload_id, path=path, size=info.size)
            except CoordinatorRefused as exc:
                if exc.status != 404:
                    raise
                journal.forget_upload(path)  # gone (aborted, expired): start over
            else:
                summary.resumed_uploads += 1
                return _upload_from(path, upload_id, status), list(status["parts"])
        answer = self.api.create_multipart(
            path,
            size=info.size,
            content_type=content_type(path),
            cache_control=self._cache_control(path),
        )
        upload_id = str(answer["upload_id"])
        journal.record_upload(path, size=info.size, md5=_hashed(info), upload_id=upload_id)
        summary.multipart_files += 1
        return _upload_from(path, upload_id, answer), list(answer["parts"])

    def _cache_control(self, path: str) -> str | None:
        """The Cache-Control a file is stored with: on its PUT, or at a multipart's creation."""
        return cache_control(
            path,
            manifest_max_age=self.options.manifest_max_age,
            media_max_age=self.options.media_max_age,
        )

    def _submit_parts(
        self,
        pool: ThreadPoolExecutor,
        root: Path,
        upload: _Upload,
        parts: Iterable[Mapping[str, Any]],
        summary: PublishSummary,
    ) -> list[Future[None]]:
        return [
            pool.submit(
                self._put_part, root, upload, int(part["part_number"]), part["url"], summary
            )
            for part in parts
        ]

    def _put_part(
        self, root: Path, upload: _Upload, number: int, url: str, summary: PublishSummary
    ) -> None:
        start = (number - 1) * upload.part_size
        length = min(upload.part_size, upload.size - start)
        data = read_range(root / upload.path, start, length)
        try:
            result = self.transfer.put(url, data, what=f"{upload.path} part {number}")
        except UrlExpired:
            return  # the status round re-signs the parts still missing
        with self._lock:
            upload.part_md5[number] = result.etag
            summary.parts += 1
            summary.uploaded_bytes += length

    def _finish_multipart(
        self,
        pool: ThreadPoolExecutor,
        root: Path,
        upload: _Upload,
        info: _Local,
        journal: Journal,
        summary: PublishSummary,
    ) -> None:
        restarted = repaired = False
        while True:
            status = self._fill_missing(pool, root, upload, summary)
            stored = {int(p["part_number"]): str(p["etag"]).strip('"') for p in status["uploaded"]}
            foreign = [n for n in sorted(stored) if stored[n] != self._part_md5(root, upload, n)]
            if foreign:
                # Parts of other bytes (an earlier run of a different file under this name):
                # nothing can replace a stored part through the API, so start over.
                if restarted:
                    raise PublishError(f"{upload.path}: stored parts {foreign[:5]} differ again")
                restarted = True
                self.api.abort_multipart(upload.upload_id, path=upload.path)
                journal.forget_upload(upload.path)
                upload = self._restart(pool, root, upload, info, journal, summary)
                continue
            etags = [stored[n] for n in range(1, upload.part_count + 1)]
            expected = multipart_etag(etags)
            parts = [{"part_number": n, "etag": e} for n, e in enumerate(etags, 1)]
            try:
                answer = self.api.complete_multipart(
                    upload.upload_id, path=upload.path, size=upload.size, parts=parts
                )
                etag = str(answer.get("etag", "")).strip('"')
            except CoordinatorRefused as exc:
                if exc.code == "already_completed":
                    etag = expected or ""  # the coordinator checked ETag and size for us
                elif not repaired and (exc.code == "invalid_parts" or exc.status == 409):
                    repaired = True  # ask the status route what is really stored, once
                    continue
                elif not restarted and (exc.status == 404 or exc.code == "store_integrity"):
                    restarted = True
                    journal.forget_upload(upload.path)
                    upload = self._restart(pool, root, upload, info, journal, summary)
                    continue
                else:
                    raise
            if expected is not None and etag != expected:
                raise PublishError(
                    f"{upload.path}: the completed object's ETag {etag} is not {expected}, "
                    "the ETag of the parts sent"
                )
            journal.record_stored(upload.path, size=info.size, md5=_hashed(info), etag=etag)
            with self._lock:
                summary.uploaded_files += 1
            return

    def _restart(
        self,
        pool: ThreadPoolExecutor,
        root: Path,
        upload: _Upload,
        info: _Local,
        journal: Journal,
        summary: PublishSummary,
    ) -> _Upload:
        fresh, parts = self._start_multipart(upload.path, info, journal, summary)
        _wait(self._submit_parts(pool, root, fresh, parts, summary))
        return fresh

    def _fill_missing(
        self, pool: ThreadPoolExecutor, root: Path, upload: _Upload, summary: PublishSummary
    ) -> Mapping[str, Any]:
        """Status, then upload what it lists as missing, until nothing is (bounded rounds)."""
        rounds = upload.part_count // PARTS_PER_ANSWER + 3
        for _ in range(rounds):
            status = self.api.multipart_status(upload.upload_id, path=upload.path, size=upload.size)
            if int(status["missing_count"]) == 0:
                return status
            _wait(self._submit_parts(pool, root, upload, status["parts"], summary))
        raise PublishError(
            f"{upload.path}: parts still missing after {rounds} rounds; publish again to resume"
        )

    def _part_md5(self, root: Path, upload: _Upload, number: int) -> str:
        known = upload.part_md5.get(number)
        if known is None:
            start = (number - 1) * upload.part_size
            length = min(upload.part_size, upload.size - start)
            known = md5_of_file(root / upload.path, start=start, length=length)
            upload.part_md5[number] = known
        return known


def _hashed(info: _Local) -> str:
    if info.md5 is None:  # a bug, not an input: files sent by multipart are hashed up front
        raise RuntimeError("a multipart file was not hashed before its upload")
    return info.md5


def _key(info: _Local) -> dict[str, Any]:
    return {"size": info.size, "md5": info.md5 or ""}  # unhashed: not recorded as stored


def _declare(path: str) -> dict[str, str]:
    return {"path": path, "content_type": content_type(path)}


def _upload_from(path: str, upload_id: str, answer: Mapping[str, Any]) -> _Upload:
    return _Upload(
        path=path,
        upload_id=upload_id,
        size=int(answer["size"]),
        part_size=int(answer["part_size"]),
        part_count=int(answer["part_count"]),
    )


def _wait(futures: Sequence[Future[None]]) -> None:
    """Wait for all; on the first failure cancel what has not started, let the rest end, raise."""
    try:
        for future in as_completed(futures):
            future.result()
    except BaseException:
        for future in futures:
            future.cancel()
        wait(futures)
        raise
