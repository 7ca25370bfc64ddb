"""The worker's own record of what one job has stored, so a restarted worker re-uploads only
what is missing.

A JSON-lines file: a header naming the job, then one line per event, appended and flushed to
disk (``fsync``) before the next step relies on it:

* ``{"path", "size", "md5", "etag"}``: the store acknowledged this file with this ETag;
* ``{"path", "size", "md5", "upload_id"}``: a multipart upload was started for it (resume it
  through the coordinator's status route rather than starting over).

A file counts as done only while its size and MD5 still match what was uploaded. A journal of
another job is ignored (a new job may have another prefix). No URL or token is ever written.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_NAME", "Journal", "Stored"]

DEFAULT_NAME = ".r2-video-publish.jsonl"


@dataclass(frozen=True, slots=True)
class Stored:
    size: int
    md5: str
    etag: str


class Journal:
    """Append-only progress of one job's publish; thread-safe."""

    def __init__(self, path: Path, *, job_id: str) -> None:
        self.path = path
        self.job_id = job_id
        self._lock = threading.Lock()
        self.stored: dict[str, Stored] = {}
        self.uploads: dict[str, tuple[int, str, str]] = {}  # path -> (size, md5, upload_id)
        self._load()

    def _load(self) -> None:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        header = _parse(lines[0]) if lines else None
        if header is None or header.get("job_id") != self.job_id:
            # Another job's record (or none): start a fresh one.
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"job_id": self.job_id}) + "\n", encoding="utf-8")
            return
        for line in lines[1:]:
            entry = _parse(line)  # a line cut short by a crash parses as None: skipped
            if entry is None or not isinstance(entry.get("path"), str):
                continue
            path = entry["path"]
            if isinstance(entry.get("etag"), str):
                self.stored[path] = Stored(int(entry["size"]), str(entry["md5"]), entry["etag"])
                self.uploads.pop(path, None)
            elif isinstance(entry.get("upload_id"), str):
                self.uploads[path] = (int(entry["size"]), str(entry["md5"]), entry["upload_id"])
            elif entry.get("forget") is True:
                self.uploads.pop(path, None)

    def done(self, path: str, *, size: int, md5: str) -> Stored | None:
        """What the store holds for ``path``, if it is exactly these bytes."""
        stored = self.stored.get(path)
        if stored is not None and stored.size == size and stored.md5 == md5:
            return stored
        return None

    def upload_of(self, path: str, *, size: int, md5: str) -> str | None:
        entry = self.uploads.get(path)
        if entry is not None and entry[0] == size and entry[1] == md5:
            return entry[2]
        return None

    def record_stored(self, path: str, *, size: int, md5: str, etag: str) -> None:
        with self._lock:
            self.stored[path] = Stored(size, md5, etag)
            self.uploads.pop(path, None)
            self._append({"path": path, "size": size, "md5": md5, "etag": etag})

    def record_upload(self, path: str, *, size: int, md5: str, upload_id: str) -> None:
        with self._lock:
            self.uploads[path] = (size, md5, upload_id)
            self._append({"path": path, "size": size, "md5": md5, "upload_id": upload_id})

    def forget_upload(self, path: str) -> None:
        with self._lock:
            self.uploads.pop(path, None)
            self._append({"path": path, "forget": True})

    def _append(self, entry: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _parse(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
