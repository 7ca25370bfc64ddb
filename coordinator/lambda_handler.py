"""AWS Lambda entry point: ``coordinator.lambda_handler.handler``, Mangum over the one app.

The settings are read, and the app built, once per cold start (on the first event, so that
importing this module needs no configuration); warm invocations reuse them. boto3 is not
imported here: only the calls that go over the network import it, on first use.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from mangum import Mangum

from .app import create_app
from .config import load_settings

__all__ = ["handler"]


@cache
def _adapter() -> Mangum:
    return Mangum(create_app(load_settings()), lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _adapter()(event, context)
