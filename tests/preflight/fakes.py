"""Local stand-ins for the few read calls the preflight makes; loopback only, never the internet.

``FakeCloudflare`` answers in Cloudflare's v4 envelope (``success``, ``errors``, ``messages``,
``result``, ``result_info``) with the shapes of these API pages:

* GET /accounts/{account_id}/tokens/verify, GET /user/tokens/verify -> ``{id, status}``
  (developers.cloudflare.com/api/resources/accounts/subresources/tokens/methods/verify/);
* GET /accounts/{account_id}/tokens/{token_id} -> ``{id, name, status, policies: [{id, effect,
  permission_groups: [{id, name}], resources}]}`` (.../accounts/subresources/tokens/methods/get/);
* GET /zones/{zone_id} -> ``{id, name, account: {id, name}, plan: {legacy_id, ...}, status}``
  (developers.cloudflare.com/api/resources/zones/methods/get/);
* GET /accounts/{account_id}/addressing/regional_hostnames/regions -> ``[{key, label}]``
  (developers.cloudflare.com/data-localization/regional-services/get-started/);
* GET /zones/{zone_id}/rulesets/phases/{phase}/entrypoint -> a ruleset ``{id, kind, name,
  phase, rules, last_updated, version}``, or 404 when the zone has none
  (developers.cloudflare.com/api/resources/rulesets/subresources/phases/);
* GET /accounts/{account_id}/r2/buckets[/{name}] with ``cf-r2-jurisdiction`` -> ``{buckets:
  [...]}`` / ``{name, creation_date, location, jurisdiction, storage_class}``, 404 code 10006
  (developers.cloudflare.com/api/resources/r2/subresources/buckets/);
* .../domains/managed -> ``{bucketId, domain, enabled}``; .../domains/custom -> ``{domains:
  [{domain, enabled, status: {ownership, ssl}, minTLS, zoneId, zoneName}]}``
  (developers.cloudflare.com/api/resources/r2/subresources/buckets/subresources/domains/).

``FakeAws`` answers STS GetCallerIdentity (query protocol, XML) and Lambda GetAccountSettings and
GetFunctionConcurrency (rest-json) as botocore's service models describe them.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "fake-cloudflare-token-for-tests"


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A short poll interval: shutdown() waits for the loop to notice, 0.5 s by default.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)


@dataclass
class FakeCloudflare:
    """The state one account answers with; tests edit it before the run."""

    account_id: str
    token_owner: str = "account"  # or "user"
    token_status: str = "active"
    permissions: list[str] = field(default_factory=list)
    policies_readable: bool = True
    zones: dict[str, dict[str, Any]] = field(default_factory=dict)
    region_keys: list[str] = field(default_factory=list)
    entry_points: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    buckets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(jurisdiction, name) -> the bucket, plus ``r2dev`` (bool) and ``domains`` (list)."""
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    """(method, path, jurisdiction header) of every request, to show nothing but GET is sent."""
    token_id: str = "ed17574386854bf78a67040be0a770b0"

    @contextmanager
    def serve(self) -> Iterator[str]:
        yield from _serve(self._handler())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(_Quiet):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                jurisdiction = self.headers.get("cf-r2-jurisdiction", "default")
                fake.requests.append(("GET", url.path, jurisdiction))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._envelope(400, None, [(6003, "Invalid request headers")])
                status, result, errors, info = fake.answer(url.path, jurisdiction)
                self._envelope(status, result, errors, info)

            def do_POST(self) -> None:
                fake.requests.append(("POST", self.path, ""))
                self._envelope(405, None, [(10000, "the fake is read-only")])

            do_PUT = do_PATCH = do_DELETE = do_POST

            def _envelope(self, status, result, errors, info=None) -> None:
                body = {
                    "success": 200 <= status < 300,
                    "errors": [{"code": c, "message": m} for c, m in errors],
                    "messages": [],
                    "result": result,
                }
                if info is not None:
                    body["result_info"] = info
                self._send(status, json.dumps(body).encode(), "application/json")

        return Handler

    def answer(self, path: str, jurisdiction: str) -> tuple[int, Any, list, dict | None]:
        acc = f"/accounts/{self.account_id}"
        not_found = (404, None, [(10006, "The specified bucket does not exist.")], None)
        if path in (f"{acc}/tokens/verify", "/user/tokens/verify"):
            mine = path.startswith("/user") == (self.token_owner == "user")
            if not mine:
                return 401, None, [(1000, "Invalid API Token")], None
            return 200, {"id": self.token_id, "status": self.token_status}, [], None
        if path in (f"{acc}/tokens/{self.token_id}", f"/user/tokens/{self.token_id}"):
            if not self.policies_readable:
                return 403, None, [(9109, "Unauthorized to access requested resource")], None
            groups = [{"id": f"{i:032x}", "name": n} for i, n in enumerate(self.permissions)]
            policy = {"id": "p1", "effect": "allow", "permission_groups": groups, "resources": {}}
            return 200, {"id": self.token_id, "status": "active", "policies": [policy]}, [], None
        if m := re.fullmatch(r"/zones/([0-9a-f]{32})", path):
            zone = self.zones.get(m[1])
            if zone is None:
                return 404, None, [(1001, "Invalid zone identifier")], None
            return 200, zone, [], None
        if path == f"{acc}/addressing/regional_hostnames/regions":
            return 200, [{"key": k, "label": k.upper()} for k in self.region_keys], [], None
        if m := re.fullmatch(r"/zones/([0-9a-f]{32})/rulesets/phases/([a-z_]+)/entrypoint", path):
            ruleset = self.entry_points.get((m[1], m[2]))
            if ruleset is None:
                return 404, None, [(10003, "could not find entrypoint ruleset")], None
            return 200, ruleset, [], None
        if path == f"{acc}/r2/buckets":
            found = [self._bucket(j, n) for (j, n) in sorted(self.buckets) if j == jurisdiction]
            return 200, {"buckets": found}, [], {"per_page": 1000}
        if m := re.fullmatch(rf"{acc}/r2/buckets/([a-z0-9-]+)(/domains/(managed|custom))?", path):
            key = (jurisdiction, m[1])
            if key not in self.buckets:
                return not_found
            bucket = self.buckets[key]
            if m[3] == "managed":
                managed = {
                    "bucketId": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                    "domain": "pub-0f1e2d3c4b5a69788796a5b4c3d2e1f0.r2.dev",
                    "enabled": bool(bucket.get("r2dev")),
                }
                return 200, managed, [], None
            if m[3] == "custom":
                domains = [
                    {
                        "domain": host,
                        "enabled": True,
                        "status": {"ownership": "active", "ssl": "active"},
                        "minTLS": "1.2",
                        "zoneId": "",
                        "zoneName": "",
                    }
                    for host in bucket.get("domains", [])
                ]
                return 200, {"domains": domains}, [], None
            return 200, self._bucket(*key), [], None
        return 404, None, [(7003, f"no route for {path}")], None

    def _bucket(self, jurisdiction: str, name: str) -> dict[str, Any]:
        bucket = self.buckets[(jurisdiction, name)]
        return {
            "name": name,
            "creation_date": "2026-01-05T10:00:00.000Z",
            "location": bucket.get("location", "WEUR"),
            "jurisdiction": jurisdiction,
            "storage_class": "Standard",
        }


@dataclass
class FakeAws:
    """One AWS account as STS and Lambda describe it."""

    account: str
    partition: str = "aws"
    concurrency_quota: int = 1000
    reserved: dict[str, int] = field(default_factory=dict)
    """function name -> reserved concurrency (taken out of the unreserved pool)."""

    @property
    def unreserved(self) -> int:
        return self.concurrency_quota - sum(self.reserved.values())

    @contextmanager
    def serve(self) -> Iterator[str]:
        yield from _serve(self._handler())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(_Quiet):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                if form.get("Action") != ["GetCallerIdentity"]:
                    return self._send(400, b"<ErrorResponse/>", "text/xml")
                arn = f"arn:{fake.partition}:sts::{fake.account}:assumed-role/deployer/session"
                xml = (
                    '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                    f"<GetCallerIdentityResult><Arn>{arn}</Arn><UserId>AROAFAKE:session</UserId>"
                    f"<Account>{fake.account}</Account></GetCallerIdentityResult>"
                    "<ResponseMetadata><RequestId>0</RequestId></ResponseMetadata>"
                    "</GetCallerIdentityResponse>"
                )
                self._send(200, xml.encode(), "text/xml")

            def do_GET(self) -> None:
                path = urllib.parse.urlsplit(self.path).path.rstrip("/")
                if path == "/2016-08-19/account-settings":
                    body = {
                        "AccountLimit": {
                            "TotalCodeSize": 80530636800,
                            "CodeSizeUnzipped": 262144000,
                            "CodeSizeZipped": 52428800,
                            "ConcurrentExecutions": fake.concurrency_quota,
                            "UnreservedConcurrentExecutions": fake.unreserved,
                        },
                        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
                    }
                    return self._send(200, json.dumps(body).encode(), "application/json")
                if m := re.fullmatch(r"/2019-09-30/functions/([^/]+)/concurrency", path):
                    name = urllib.parse.unquote(m[1])
                    if name not in fake.reserved:
                        body = {"Type": "User", "Message": f"Function not found: {name}"}
                        return self._send(
                            404,
                            json.dumps(body).encode(),
                            "application/json",
                            x_amzn_ErrorType="ResourceNotFoundException:",
                        )
                    body = {"ReservedConcurrentExecutions": fake.reserved[name]}
                    return self._send(200, json.dumps(body).encode(), "application/json")
                self._send(404, b"{}", "application/json", x_amzn_ErrorType="UnknownOperation:")

        return Handler
