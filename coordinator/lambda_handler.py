"""AWS Lambda entry point: ``coordinator.lambda_handler.handler``, Mangum over the one app.

The settings are read, and the app built, once per cold start (on the first event, so that
importing this module needs no configuration); warm invocations reuse them. boto3 is not
imported here: only the calls that go over the network import it, on first use (and reading the
secret bundle, when ``COORDINATOR_SECRET_ARN`` is set).

When the settings cannot be read (a missing variable, a secret the role may not read) the
coordinator refuses to serve: every request gets a 503 ``not_configured`` and the reason goes to
the function's log (it names the setting, never a secret's value). Nothing is cached on failure,
so the next request tries again and a transient error (throttling) heals by itself.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from typing import Any

from mangum import Mangum

from .app import create_app
from .config import ConfigError, load_settings

__all__ = ["handler"]

_log = logging.getLogger(__name__)
_NOT_CONFIGURED = {
    "statusCode": 503,
    "headers": {
        "content-type": "application/json",
        "cache-control": "no-store",
        "retry-after": "30",
    },
    "body": json.dumps(
        {
            "error": {
                "code": "not_configured",
                "message": "the coordinator cannot read its settings; the reason is in its log",
            }
        }
    ),
    "isBase64Encoded": False,
}


@cache
def _adapter() -> Mangum:
    return Mangum(create_app(load_settings()), lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        adapter = _adapter()
    except ConfigError as exc:
        _log.error("refusing to serve: %s", exc)
        return dict(_NOT_CONFIGURED)
    return adapter(event, context)
