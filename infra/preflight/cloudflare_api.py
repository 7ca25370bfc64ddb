"""A small read-only client of Cloudflare's v4 API: GET only, the base URL injectable.

Every answer is Cloudflare's envelope ``{"success", "errors": [{"code", "message"}],
"messages", "result", "result_info"}`` (https://developers.cloudflare.com/fundamentals/api/ ,
"Make API calls"). The token goes in the Authorization header and nowhere else: not in an
error, not in a log.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_API", "Answer", "CloudflareApi", "CloudflareUnreachable"]

DEFAULT_API = "https://api.cloudflare.com/client/v4"


class CloudflareUnreachable(Exception):
    """No HTTP answer at all (DNS, TCP, TLS): nothing could be checked."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    result: Any = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    result_info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error_text(self) -> str:
        """``HTTP 404 (10006 The specified bucket does not exist.)``, for a check's detail."""
        codes = "; ".join(f"{e.get('code')} {e.get('message', '')}".strip() for e in self.errors)
        return f"HTTP {self.status}" + (f" ({codes})" if codes else "")


class CloudflareApi:
    """GET requests against ``base_url`` with a bearer token."""

    def __init__(self, token: str, *, base_url: str = DEFAULT_API, timeout: float = 15.0):
        if urllib.parse.urlsplit(base_url).scheme not in ("https", "http"):
            raise ValueError(f"the Cloudflare API base URL must be http(s): {base_url!r}")
        self._token = token
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def get(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> Answer:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        # http(s) only: the scheme is checked in __init__.
        request = urllib.request.Request(  # noqa: S310
            url,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Accept": "application/json",
                **(headers or {}),
            },
            method="GET",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CloudflareUnreachable(f"{self.base_url}: {reason}") from None
        try:
            envelope = json.loads(body or b"{}")
        except json.JSONDecodeError:
            envelope = {}
        if not isinstance(envelope, dict):
            envelope = {}
        errors = envelope.get("errors") or []
        return Answer(
            status=status,
            result=envelope.get("result"),
            errors=[e for e in errors if isinstance(e, dict)],
            result_info=envelope.get("result_info") or {},
        )
