"""One structured JSON line per request, for the pager: route, status, job, latency, store time.

Written by the core (``coordinator/core.py``) for every request it answers, whichever adapter
brought it, to ``coordinator.access`` at INFO. What a line holds is fixed here, field by field:
the route's template (``/v1/jobs/{job_id}/outputs``, never the path as sent, which may carry
an upload handle or a key), the method, the status, the job id (a random id, no secret), the
time the request took and the part of it spent in store calls, and Lambda's request id when
there is one. Never a header, a query string, a body, a token, a key or a URL: nothing that
could carry a credential or a signature reaches the line.

Example::

    {"route": "/v1/jobs/{job_id}/multipart", "method": "POST", "status": 201,
     "job_id": "5f0c...", "ms": 41.2, "store_ms": 38.9, "store_calls": 1,
     "request_id": "c6af9ac6-7b61-11e6-9a41-93e812345678"}

CloudWatch Logs Insights reads these fields directly (``stats count(*) by status``), and the
stack's alarms count 5xx from Lambda's own metrics, not from here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

__all__ = ["LOGGER_NAME", "access_line", "log_access"]

LOGGER_NAME = "coordinator.access"
_log = logging.getLogger(LOGGER_NAME)
_log.setLevel(logging.INFO)  # explicit: a root logger at WARNING (Lambda's) must not hide it
NO_ROUTE = "(no route)"


def access_line(
    *,
    route: str | None,
    method: str,
    status: int,
    params: Mapping[str, str],
    seconds: float,
    store: list[float],
    request_id: str | None = None,
) -> dict[str, object]:
    """The line's fields, in order; ``route`` is the template that matched (None: none did)."""
    line: dict[str, object] = {
        # The template of the route that matched; an unmatched path is not repeated back.
        "route": route or NO_ROUTE,
        "method": method,
        "status": status,
    }
    job_id = params.get("job_id")
    if isinstance(job_id, str) and len(job_id) <= 64:
        line["job_id"] = job_id
    line["ms"] = round(seconds * 1000, 1)
    line["store_ms"] = round(sum(store) * 1000, 1)
    line["store_calls"] = len(store)
    if isinstance(request_id, str):
        line["request_id"] = request_id
    return line


_ENCODE = json.JSONEncoder(separators=(",", ":")).encode  # built once, not per line


def log_access(line: Mapping[str, object]) -> None:
    if _log.isEnabledFor(logging.INFO):
        _log.info("%s", _ENCODE(line))
