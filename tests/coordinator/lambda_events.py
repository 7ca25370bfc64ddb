"""Lambda Function URL events (payload format 2.0), as AWS documents them, and the environment
that points the handler at the embedded store: shared by the handler and unpacked-zip tests.

References: https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coordinator.config import Settings
    from coordinator.embedded_store import EmbeddedStore

HOST = "abcdefgh.lambda-url.eu-central-1.on.aws"


def function_url_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """One request as a Function URL hands it to Lambda; ``body`` is sent as JSON unless a str."""
    raw = "" if body is None else body if isinstance(body, str) else json.dumps(body)
    all_headers = {"host": HOST, "content-type": "application/json"}
    if token is not None:
        all_headers["authorization"] = f"Bearer {token}"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": all_headers | (headers or {}),
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdefgh",
            "domainName": HOST,
            "domainPrefix": "abcdefgh",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "worker/1",
            },
            "requestId": "request-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Mar/2026:12:00:00 +0000",
            "timeEpoch": 1772366400000,
        },
        "body": raw,
        "isBase64Encoded": False,
    }


def coordinator_env(settings: Settings, store: EmbeddedStore) -> dict[str, str]:
    """The variables a coordinator reads at cold start, for ``settings`` over ``store``."""
    return {
        "COORDINATOR_ADMIN_KEY": settings.admin_key,
        "COORDINATOR_TOKEN_KEYS": json.dumps(dict(settings.token_keys)),
        "COORDINATOR_TOKEN_SIGNING_KID": settings.signing_kid,
        "R2_ENDPOINT_URL": store.endpoint,
        "R2_ACCESS_KEY_ID": store.access_key,
        "R2_SECRET_ACCESS_KEY": store.secret_key,
        "DELIVERY_BUCKET": settings.delivery.bucket,
        "S3_ENDPOINT_URL": store.endpoint,
        "AWS_REGION": settings.mezzanine.region,
        "AWS_ACCESS_KEY_ID": store.access_key,
        "AWS_SECRET_ACCESS_KEY": store.secret_key,
        "MEZZANINE_BUCKET": settings.mezzanine.bucket,
    }
