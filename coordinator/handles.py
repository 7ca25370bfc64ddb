"""Upload handles: the multipart upload id a worker holds, bound to its job and key by our MAC.

A store names a multipart upload by an id that only the store binds to a key, and stores differ
in how strictly: the embedded JuiceFS gateway let job B list and abort job A's upload through
B's own routes, given A's id. So the coordinator never hands out the store's id as it is. It
hands out a handle::

    <base64url(store upload id)>.<base64url(HMAC-SHA256(k, job_id NUL key NUL upload id)[:16])>

where ``k`` is derived from a worker-token key (``HMAC(token key, "r2-video/upload-handle/v1")``,
so the token keys themselves never sign anything but tokens). Opening a handle for another job,
another key, or with a flipped byte fails the MAC and answers "no such upload", whatever the
store would have done. Handles are sealed with the signing key and open under any configured
token key, so they survive a key rotation exactly as long as the tokens do. 128 bits of MAC:
forging one is as hard as forging a token.

References: RFC 2104 (HMAC), RFC 4648 section 5 (base64url, no padding).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from .errors import NotFound
from .multipart import UPLOAD_ID

__all__ = ["UploadHandles"]

_CONTEXT = b"r2-video/upload-handle/v1"
_MAC_BYTES = 16


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UploadHandles:
    """Seals store upload ids into job- and key-bound handles, and opens them again."""

    __slots__ = ("_keys", "_sealing")

    def __init__(self, token_keys: Mapping[str, str | bytes], *, signing_kid: str) -> None:
        derived = {
            kid: hmac.new(
                secret.encode("utf-8") if isinstance(secret, str) else bytes(secret),
                _CONTEXT,
                hashlib.sha256,
            ).digest()
            for kid, secret in token_keys.items()
        }
        if signing_kid not in derived:
            raise ValueError(f"signing key id {signing_kid!r} is not among the token keys")
        self._sealing = derived[signing_kid]
        # The signing key first: the usual case costs one HMAC.
        self._keys = (self._sealing, *(k for kid, k in derived.items() if kid != signing_kid))

    def __repr__(self) -> str:
        return f"UploadHandles(<{len(self._keys)} key(s)>)"

    def seal(self, *, job_id: str, key: str, upload_id: str) -> str | None:
        """The handle for ``upload_id``; None if it would not fit in one URL path segment."""
        mac = self._mac(self._sealing, job_id, key, upload_id)
        handle = f"{_b64(upload_id.encode('utf-8'))}.{_b64(mac)}"
        return handle if UPLOAD_ID.fullmatch(handle) else None

    def open(self, handle: str, *, job_id: str, key: str) -> str:
        """The store's upload id inside ``handle`` if it was sealed for this job and key."""
        missing = NotFound("no such multipart upload for this path", code="not_found")
        body, dot, tag = handle.partition(".")
        if not dot or not body or not tag:
            raise missing
        try:
            upload_id = _unb64(body).decode("utf-8")
            mac = _unb64(tag)
        except (binascii.Error, ValueError):
            raise missing from None
        # Canonical encodings only: one upload, one handle.
        if _b64(upload_id.encode("utf-8")) != body or _b64(mac) != tag:
            raise missing
        for secret in self._keys:
            if hmac.compare_digest(mac, self._mac(secret, job_id, key, upload_id)):
                return upload_id
        raise missing

    @staticmethod
    def _mac(secret: bytes, job_id: str, key: str, upload_id: str) -> bytes:
        message = b"\0".join(s.encode("utf-8") for s in (job_id, key, upload_id))
        return hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES]
