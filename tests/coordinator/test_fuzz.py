"""Attack surface: generated and hostile requests against the served coordinator.

Whatever a client sends, the coordinator must answer with a JSON error or a success, never a
5xx; it must never leak a secret; and every URL it signs must be inside the scope of a token
that verifies for the job in the path. ``_Checker.check`` asserts all three on every response:

* status below 500, ``Cache-Control: no-store``, errors in the one ``{error: {code, message}}``
  shape, nothing but a 2xx carrying a URL;
* none of the admin key, the token keys (raw or as the JWK's base64url), the R2 and S3 secret
  keys or the session token anywhere in the headers or body, raw, percent- or JSON-escaped; the
  session token may appear only inside the mezzanine URLs, as ``X-Amz-Security-Token``, which
  SigV4 puts there by design;
* every URL is rebuilt with ``sigv4.presign_url`` from what the response says (method, key,
  content type, upload id, part number) and the URL's own date and lifetime, and must match
  byte for byte: so its host is the configured store, its path is the bucket and a key under
  the job's prefix (or the job's mezzanine key), its method the intended one; and the response's
  ``expires_at`` is exactly X-Amz-Date + X-Amz-Expires.

Requests come from Hypothesis strategies (derandomized, so CI runs the same requests every time)
and from a corpus of hostile keys (``hostile_corpus.json``), forged tokens and raw ASGI messages.
The request counts are printed at the end of the module (run with ``-s`` to see them).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import json as _json_module
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordinator.app import create_app, create_core
from coordinator.broker import Broker
from coordinator.config import Settings
from coordinator.embedded_store import EmbeddedStore
from coordinator.handles import UploadHandles
from coordinator.lambda_handler import handler_for
from coordinator.multipart import MAX_OBJECT_SIZE
from coordinator.s3client import LazyClient
from coordinator.sigv4 import Credentials, presign_url
from coordinator.store import Store
from coordinator.tokens import AUDIENCE, ISSUER, MAX_TOKEN_CHARS, JobScope, TokenCodec
from tests.coordinator.adapters import ADAPTERS, client_over
from tests.coordinator.lambda_events import HOST, function_url_event

MiB = 2**20
CORPUS = json.loads((Path(__file__).parent / "hostile_corpus.json").read_text("utf-8"))
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEFuzzSession+Token/With=Signs"  # a fake
EMOJI_KEY = "masters/" + "\U0001f600" * 254  # 1,024 bytes: the longest mezzanine key
MEZZANINE_KEY = "masters/sample.mov"  # the conftest's object
FUZZ_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)


def _expand(value: str | dict[str, Any]) -> str:
    if isinstance(value, str):
        return value
    return value.get("before", "") + value["repeat"] * value["times"] + value.get("after", "")


REFUSED = {name: _expand(value) for name, value in CORPUS["refused"].items()}
ACCEPTED = {name: _expand(value) for name, value in CORPUS["accepted"].items()}


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the served coordinator and what the checks know about it ----------------------------------


def _store_upload_id(handle: str) -> str:
    """The store's upload id inside a handle: its first base64url field (coordinator/handles.py)."""
    body = handle.split(".")[0]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8")


@dataclass
class _Fuzz:
    """The coordinator under test, its secrets, two jobs, and a counting HTTP client."""

    settings: Settings
    adapter: str
    broker: Broker
    client: httpx.Client
    codec: TokenCodec
    job_id: str
    token: str
    prefix: str
    other_job_id: str
    other_token: str
    upload_id: str
    secrets: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def auth(self, kind: str) -> dict[str, str]:
        value = {
            "job": self.token,
            "other": self.other_token,
            "admin": self.settings.admin_key,
        }.get(kind)
        if value is None:
            return {}
        return {"Authorization": f"Bearer {value}"}


@pytest.fixture(scope="module", params=ADAPTERS)
def fuzz(store: EmbeddedStore, s3: Any, settings: Settings, request: Any) -> Iterator[_Fuzz]:
    """Over each adapter (tests/coordinator/adapters.py), a coordinator whose mezzanine URLs
    are signed with a session token (to check where it may appear); its store client uses the
    root credentials, which the gateway accepts."""
    s3.put_object(Bucket=settings.mezzanine.bucket, Key=EMOJI_KEY, Body=b"emoji")
    signing = replace(settings.mezzanine.credentials, session_token=SESSION_TOKEN)
    s = replace(settings, mezzanine=replace(settings.mezzanine, credentials=signing))

    def store_of(side: Any, credentials: Credentials) -> Store:
        client = LazyClient(endpoint=side.endpoint, region=side.region, credentials=credentials)
        return Store(
            endpoint=side.endpoint,
            region=side.region,
            bucket=side.bucket,
            credentials=side.credentials,
            client=client,
            addressing_style=side.addressing_style,
            max_expires=side.max_expires,
        )

    broker = Broker(
        mezzanine=store_of(s.mezzanine, store.credentials),
        delivery=store_of(s.delivery, store.credentials),
        handles=UploadHandles(s.token_keys, signing_kid=s.signing_kid),
    )
    counts: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    hooks = {
        "request": [lambda req: counts.update([req.extensions.get("kind", "http")])],
        "response": [lambda answer: statuses.update([answer.status_code])],
    }
    options = {"timeout": 60, "event_hooks": hooks}
    with client_over(
        request.param, s, broker=broker, client=_Client, client_options=options
    ) as client:
        admin = {"Authorization": f"Bearer {s.admin_key}"}
        jobs = []
        for _ in range(2):
            prefix = f"fz/{uuid.uuid4().hex[:8]}/"
            made = client.post(
                "/v1/jobs",
                headers=admin,
                json={"mezzanine_key": MEZZANINE_KEY, "output_prefix": prefix},
            )
            assert made.status_code == 201, made.text
            jobs.append((made.json(), prefix))
        (job, prefix), (other, _) = jobs
        started = client.post(
            f"/v1/jobs/{job['job_id']}/multipart",
            headers={"Authorization": f"Bearer {job['worker_token']}"},
            json={"path": "pre.mp4", "size": 12 * MiB, "content_type": "video/mp4"},
        )
        assert started.status_code == 201, started.text
        secrets = [s.admin_key]
        for key in s.token_keys.values():
            secrets += [key, _b64url(key.encode())]
        for side in (s.mezzanine, s.delivery):
            secrets.append(side.credentials.secret_key)
        secrets.append(SESSION_TOKEN)
        context = _Fuzz(
            settings=s,
            adapter=request.param,
            broker=broker,
            client=client,
            codec=TokenCodec(s.token_keys, signing_kid=s.signing_kid),
            job_id=job["job_id"],
            token=job["worker_token"],
            prefix=prefix,
            other_job_id=other["job_id"],
            other_token=other["worker_token"],
            upload_id=started.json()["upload_id"],
            secrets=secrets,
            counts=counts,
        )
        yield context
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        total = sum(counts.values())
        where = f"[test_fuzz, {request.param}]"
        print(f"\n{where} {total} requests to the coordinator: {dict(counts)}")
        print(f"{where} statuses: {dict(sorted(statuses.items()))}")


# -- the checks ---------------------------------------------------------------------------------


def _escaped_forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}


class _Checker:
    def __init__(self, fuzz: _Fuzz) -> None:
        self.fuzz = fuzz

    def check(
        self, answer: httpx.Response, *, token: str | None, job_id: str | None
    ) -> dict[str, Any] | None:
        """Assert the invariants on one response; return its JSON body (None for a 204)."""
        status = answer.status_code
        where = f"{answer.request.method} {answer.request.url.raw_path!r} -> {status}"
        assert status < 500, f"{where}: {answer.text[:500]}"
        assert answer.headers.get("cache-control") == "no-store", where
        assert "traceback" not in answer.text.lower(), where
        if status == 204:
            assert answer.content == b"", where
            self._no_secrets(answer, answer.text, where)
            return None
        assert answer.headers.get("content-type") == "application/json", where
        body = answer.json()
        if status >= 400:
            assert set(body) == {"error"}, where
            assert set(body["error"]) == {"code", "message"}, where
            assert all(isinstance(v, str) and v for v in body["error"].values()), where
        urls = self._urls(body, where)
        if urls:
            assert 200 <= status < 300, where
            assert token is not None and job_id is not None, where
            scope = self.fuzz.codec.verify(token, now=datetime.now(UTC), job_id=job_id)
            for url, method, extra in urls:
                self._in_scope(url, method, extra, scope, body, where)
        scrubbed = answer.text
        for url, method, _ in urls:
            if method in ("GET", "HEAD"):  # the one place the session token belongs
                scrubbed = scrubbed.replace(json.dumps(url)[1:-1], "")
        self._no_secrets(answer, scrubbed, where)
        return body

    def _no_secrets(self, answer: httpx.Response, text: str, where: str) -> None:
        headers = "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
        for secret in self.fuzz.secrets:
            for form in _escaped_forms(secret):
                assert form not in text and form not in headers, f"{where}: leaks a secret"

    def _urls(self, body: Any, where: str) -> list[tuple[str, str, dict[str, str]]]:
        """(url, method, what else was signed) for every URL in the body, by where it sits."""
        found: list[tuple[str, str, dict[str, str]]] = []
        if isinstance(body, dict) and "expires_at" in body:
            for entry in body.get("inputs", []):
                found += [(entry["get_url"], "GET", {}), (entry["head_url"], "HEAD", {})]
            for entry in body.get("files", []):
                found.append((entry["url"], entry["method"], dict(entry["headers"])))
            for part in body.get("parts", []):
                extra = {
                    "uploadId": _store_upload_id(body["upload_id"]),
                    "partNumber": str(part["part_number"]),
                }
                found.append((part["url"], "PUT", extra))
        strays = [s for s in _strings(body) if s.startswith(("http://", "https://"))]
        assert len(strays) == len(found), f"{where}: a URL outside the known fields: {strays}"
        return found

    def _in_scope(
        self,
        url: str,
        method: str,
        extra: dict[str, str],
        scope: JobScope,
        body: dict[str, Any],
        where: str,
    ) -> None:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        side = self.fuzz.settings.delivery if method == "PUT" else self.fuzz.settings.mezzanine
        assert f"{parts.scheme}://{parts.netloc}" == side.endpoint, f"{where}: host {url}"
        bucket_path = f"/{side.bucket}/"
        assert parts.path.startswith(bucket_path), f"{where}: bucket {url}"
        key = unquote(parts.path[len(bucket_path) :])
        if method == "PUT":
            assert key.startswith(scope.output_prefix), f"{where}: outside the prefix: {key!r}"
            assert len(key) > len(scope.output_prefix), where
        else:
            assert key in scope.mezzanine_keys, f"{where}: not the job's mezzanine: {key!r}"
        signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        lifetime = int(query["X-Amz-Expires"])
        content_type = extra.get("Content-Type")
        assert set(extra) <= {"Content-Type", "uploadId", "partNumber"}, where
        rebuilt = presign_url(
            method,
            endpoint=side.endpoint,
            bucket=side.bucket,
            key=key,
            credentials=side.credentials,
            region=side.region,
            now=signed_at,
            expires_in=lifetime,
            content_type=content_type,
            query={k: v for k, v in extra.items() if k != "Content-Type"} or None,
            addressing_style=side.addressing_style,
        )
        assert url == rebuilt, f"{where}: not the URL the signer makes for {method} {key!r}"
        assert body["expires_at"] == _iso(signed_at + timedelta(seconds=lifetime)), where
        assert signed_at + timedelta(seconds=lifetime) <= scope.expires_at, where


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@pytest.fixture(scope="module")
def checker(fuzz: _Fuzz) -> _Checker:
    return _Checker(fuzz)


# -- strategies ----------------------------------------------------------------------------------

_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2),
)
_segment = st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._ -]{0,15}", fullmatch=True)
_unicode_segment = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8
)
_valid_path = st.lists(_segment, min_size=1, max_size=4).map("/".join)
_paths = st.one_of(
    _valid_path,
    _valid_path,
    st.lists(st.one_of(_segment, _unicode_segment), min_size=1, max_size=3).map("/".join),
    st.sampled_from(sorted(REFUSED.values())),
    st.sampled_from(sorted(ACCEPTED.values())),
    st.tuples(st.sampled_from(sorted(REFUSED.values())), _valid_path).map("/".join),
    _junk,
)
_content_types = st.one_of(
    st.sampled_from(
        ["video/mp4", "video/mp2t", "application/vnd.apple.mpegurl", 'text/plain; charset="a b"']
    ),
    st.sampled_from(
        [
            "video/mp4\r\nX-Amz-Acl: public-read",
            "",
            "video",
            "a/b; c=\u00e9",
            "application/x-www-form-urlencoded; charset=utf-8",
            "x/" + "y" * 300,
        ]
    ),
    st.text(max_size=20),
    _junk,
)
_sizes = st.one_of(
    st.integers(1, 40 * MiB),
    st.sampled_from([0, -1, 5 * MiB, 5 * MiB + 1, 5 * 1024 * MiB, MAX_OBJECT_SIZE]),
    st.sampled_from([MAX_OBJECT_SIZE + 1, 2**63, 10**30, True, 1.5, "10", None]),
    _junk,
)
_expires = st.one_of(
    st.integers(1, 604800), st.sampled_from([0, -1, 604801, True, 2.5, "60", None]), _junk
)
_etags = st.one_of(
    st.from_regex(r'"?[0-9a-f]{32}"?', fullmatch=True),
    st.sampled_from(['"', '""', "a" * 200, "etag with spaces", '"abc"-"def"']),
    _junk,
)
_file = st.fixed_dictionaries(
    {"path": _paths, "content_type": _content_types}, optional={"acl": st.just("public-read")}
)
_files = st.one_of(st.lists(st.one_of(_file, _file, _junk), min_size=0, max_size=6), _junk)
_parts = st.one_of(
    st.lists(
        st.fixed_dictionaries(
            {"part_number": st.one_of(st.integers(-1, 4), _junk), "etag": _etags}
        ),
        max_size=4,
    ),
    _junk,
)
_prefixes = st.one_of(
    _valid_path.map(lambda p: f"fz/{p}/"),
    st.sampled_from(sorted(REFUSED.values())),
    st.sampled_from(sorted(v + "/" for v in ACCEPTED.values())),
    _junk,
)
_FIELDS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # route -> (required fields, optional fields) and their strategies
    "create_job": (
        {"mezzanine_key": st.one_of(st.just(MEZZANINE_KEY), _paths), "output_prefix": _prefixes},
        {"ttl_seconds": _expires},
    ),
    "inputs": ({}, {"expires_in": _expires}),
    "outputs": ({"files": _files}, {"expires_in": _expires}),
    "multipart": (
        {"path": _paths, "size": _sizes, "content_type": _content_types},
        {"expires_in": _expires},
    ),
    "complete": ({"path": _paths, "size": _sizes, "parts": _parts}, {}),
}


def _body_for(route: str) -> st.SearchStrategy[dict[str, Any]]:
    required, optional = _FIELDS.get(route, ({}, {}))
    everything = {**required, **optional, "unexpected": _junk}
    return st.one_of(
        st.fixed_dictionaries(required, optional=optional),
        st.fixed_dictionaries(required, optional=optional),
        st.fixed_dictionaries({}, optional=everything),
    )


def _url_encodable(value: str) -> bool:
    return not any("\ud800" <= c <= "\udfff" for c in value)


# No lone surrogates in query values: httpx cannot put one in a URL, so such an example crashed
# this harness, not the coordinator. Hypothesis mixes constants of every loaded first-party
# module into its choices, so a module added anywhere can make it draw one here.
_query_value = st.one_of(
    _sizes.map(str), _paths.map(str), st.text(max_size=10), st.sampled_from(["", "%", "01"])
).filter(_url_encodable)
_ROUTES = [
    ("POST", "/v1/jobs", "create_job"),
    ("POST", "/v1/jobs/{job}/inputs", "inputs"),
    ("POST", "/v1/jobs/{job}/outputs", "outputs"),
    ("POST", "/v1/jobs/{job}/multipart", "multipart"),
    ("GET", "/v1/jobs/{job}/multipart/{upload}", "status"),
    ("DELETE", "/v1/jobs/{job}/multipart/{upload}", "abort"),
    ("POST", "/v1/jobs/{job}/multipart/{upload}/complete", "complete"),
    ("GET", "/healthz", "healthz"),
    ("GET", "/openapi.json", "openapi"),
]
_HOSTILE_IDS = ["..", ".", "%2e%2e", "a/b", "\x00", "\uff4a\uff4f\uff42", "x" * 200, " ", "-a"]


@dataclass(frozen=True)
class _Request:
    method: str
    route: str
    job: str  # "job", "other" or a literal id
    upload: str  # "real" or a literal id
    auth: str  # "job", "other", "admin", "none" or a literal header value
    body: Any  # a dict sent as JSON, or (content type, raw bytes)
    query: dict[str, str]


@st.composite
def _requests(draw: st.DrawFn) -> _Request:
    method, path, route = draw(st.sampled_from(_ROUTES))
    if draw(st.integers(0, 19)) == 0:  # now and then a method the route does not take
        method = draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]))
    body: Any
    if draw(st.integers(0, 9)) == 0:
        content_type = draw(
            st.sampled_from(["application/json", "text/plain", "application/json; x=1", ""])
        )
        raw = draw(
            st.one_of(
                st.binary(max_size=64),
                st.sampled_from(
                    [b"[]", b"null", b'{"a": NaN}', b"{" * 500, b'{"size": ' + b"9" * 5000 + b"}"]
                ),
            )
        )
        body = (content_type, raw)
    else:
        body = draw(_body_for(route))
    query: dict[str, str] = {}
    if route in ("status", "abort"):
        names = ["path", "size", "expires_in", "bogus"] if route == "status" else ["path", "x"]
        picked = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
        query = {name: draw(_query_value) for name in picked}
        if draw(st.booleans()):
            query.setdefault("path", "pre.mp4")
            if route == "status":
                query.setdefault("size", str(12 * MiB))
    return _Request(
        method=method,
        route=path,
        job=draw(st.sampled_from(["job"] * 6 + ["other"] + _HOSTILE_IDS[:3])),
        upload=draw(st.sampled_from(["real"] * 3 + _HOSTILE_IDS)),
        auth=draw(st.sampled_from(["job"] * 6 + ["other", "admin", "none", "Bearer", "Basic x"])),
        body=body,
        query=query,
    )


class _Client(httpx.Client):
    """Sends ``json=`` as ASCII JSON, as most client libraries do: a lone surrogate travels as
    an escape (httpx would fail to encode it) and reaches the coordinator. Query parameters
    likewise: a lone surrogate is percent-encoded as its (invalid) UTF-8 bytes, which a raw
    client can send, instead of failing in httpx before the request leaves."""

    def request(self, method: str, url: Any, *, json: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        params = kwargs.pop("params", None)
        if params:
            url = f"{url}?{urlencode(params, encoding='utf-8', errors='surrogatepass')}"
        if json is not None:
            kwargs["content"] = _json_module.dumps(json).encode("ascii")
            kwargs["headers"] = {
                "Content-Type": "application/json",
                **(kwargs.get("headers") or {}),
            }
        return super().request(method, url, **kwargs)


def _send(fuzz: _Fuzz, r: _Request) -> tuple[httpx.Response, str | None, str]:
    job_id = {"job": fuzz.job_id, "other": fuzz.other_job_id}.get(r.job, r.job)
    upload = fuzz.upload_id if r.upload == "real" else r.upload
    path = r.route.replace("{job}", quote(job_id, safe="")).replace(
        "{upload}", quote(upload, safe="")
    )
    headers = dict(fuzz.auth(r.auth)) if r.auth in ("job", "other", "admin") else {}
    if r.auth not in ("job", "other", "admin", "none"):
        headers["Authorization"] = r.auth
    token = {"job": fuzz.token, "other": fuzz.other_token}.get(r.auth)
    kwargs: dict[str, Any] = {"headers": headers, "params": r.query or None}
    if isinstance(r.body, tuple):
        content_type, raw = r.body
        if content_type:
            headers["Content-Type"] = content_type
        kwargs["content"] = raw
    elif r.body or r.method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = r.body
    answer = fuzz.client.request(r.method, path, extensions={"kind": "generated"}, **kwargs)
    return answer, token, job_id


# -- generated requests --------------------------------------------------------------------------


@settings(FUZZ_SETTINGS, max_examples=2500)
@given(request=_requests())
def test_generated_requests_never_5xx_never_leak_never_leave_scope(
    fuzz: _Fuzz, checker: _Checker, request: _Request
) -> None:
    answer, token, job_id = _send(fuzz, request)
    checker.check(answer, token=token, job_id=job_id)


@settings(FUZZ_SETTINGS, max_examples=600)
@given(
    files=st.lists(
        st.fixed_dictionaries({"path": _valid_path, "content_type": _content_types}),
        min_size=1,
        max_size=8,
        unique_by=lambda f: f["path"],
    ),
    expires_in=_expires,
)
def test_every_signed_output_is_under_the_prefix_with_an_honest_expiry(
    fuzz: _Fuzz, checker: _Checker, files: list[dict[str, Any]], expires_in: Any
) -> None:
    """Mostly valid requests, so that many answers are 200 and their URLs get checked."""
    body: dict[str, Any] = {"files": files}
    if expires_in is not None:
        body["expires_in"] = expires_in
    answer = fuzz.client.post(
        f"/v1/jobs/{fuzz.job_id}/outputs",
        headers=fuzz.auth("job"),
        json=body,
        extensions={"kind": "outputs"},
    )
    checked = checker.check(answer, token=fuzz.token, job_id=fuzz.job_id)
    if answer.status_code == 200:
        assert checked is not None and len(checked["files"]) == len(files)


@settings(FUZZ_SETTINGS, max_examples=250)
@given(size=st.one_of(st.integers(1, 6 * MiB), st.integers(1, MAX_OBJECT_SIZE)), path=_valid_path)
def test_multipart_plans_sign_only_this_upload_s_parts(
    fuzz: _Fuzz, checker: _Checker, size: int, path: str
) -> None:
    answer = fuzz.client.post(
        f"/v1/jobs/{fuzz.job_id}/multipart",
        headers=fuzz.auth("job"),
        json={"path": path, "size": size, "content_type": "video/mp4"},
        extensions={"kind": "multipart"},
    )
    body = checker.check(answer, token=fuzz.token, job_id=fuzz.job_id)
    assert answer.status_code == 201, answer.text
    assert body is not None
    assert [p["part_number"] for p in body["parts"]] == list(
        range(1, min(body["part_count"], 1000) + 1)
    )
    status = fuzz.client.get(
        f"/v1/jobs/{fuzz.job_id}/multipart/{body['upload_id']}",
        headers=fuzz.auth("job"),
        params={"path": path, "size": size},
        extensions={"kind": "multipart"},
    )
    checker.check(status, token=fuzz.token, job_id=fuzz.job_id)
    assert status.status_code == 200, status.text


# -- the hostile corpus: keys ---------------------------------------------------------------------


def _key_requests(fuzz: _Fuzz, key: str) -> dict[str, httpx.Response]:
    auth = fuzz.auth("job")
    base = f"/v1/jobs/{fuzz.job_id}"
    send = fuzz.client.request
    kind = {"kind": "corpus"}
    answers = {
        "output path": send("POST", f"{base}/outputs", headers=auth, extensions=kind,
                            json={"files": [{"path": key, "content_type": "video/mp2t"}]}),
        "multipart path": send("POST", f"{base}/multipart", headers=auth, extensions=kind,
                               json={"path": key, "size": 10, "content_type": "video/mp4"}),
        "complete path": send("POST", f"{base}/multipart/{fuzz.upload_id}/complete",
                              headers=auth, extensions=kind, json={
                                  "path": key, "size": 10,
                                  "parts": [{"part_number": 1, "etag": "0" * 32}]}),
    }  # fmt: skip
    try:
        key.encode("utf-8")  # a query string cannot carry a lone surrogate
    except UnicodeEncodeError:
        pass
    else:
        answers["status query"] = send(
            "GET", f"{base}/multipart/{fuzz.upload_id}", headers=auth, extensions=kind,
            params={"path": key, "size": 10},
        )  # fmt: skip
        answers["abort query"] = send(
            "DELETE", f"{base}/multipart/{fuzz.upload_id}-x", headers=auth, extensions=kind,
            params={"path": key},
        )  # fmt: skip
    return answers


@pytest.mark.parametrize("key", REFUSED.values(), ids=REFUSED.keys())
def test_hostile_keys_get_a_400_and_no_url(fuzz: _Fuzz, checker: _Checker, key: str) -> None:
    answers = _key_requests(fuzz, key)
    admin = fuzz.auth("admin")
    answers["mezzanine key"] = fuzz.client.post(
        "/v1/jobs", headers=admin, json={"mezzanine_key": key, "output_prefix": "fz/ok/"}
    )
    if key != "hls/":  # a folder: not a key, but a fine prefix
        answers["output prefix"] = fuzz.client.post(
            "/v1/jobs",
            headers=admin,
            json={"mezzanine_key": MEZZANINE_KEY, "output_prefix": key.rstrip("/") + "/"},
        )
    for what, answer in answers.items():
        checker.check(answer, token=fuzz.token, job_id=fuzz.job_id)
        assert answer.status_code == 400, (what, answer.text)
        assert answer.json()["error"]["code"] in ("invalid_key", "invalid_size"), what


@pytest.mark.parametrize("key", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_odd_but_harmless_keys_are_signed_only_under_the_prefix(
    fuzz: _Fuzz, checker: _Checker, key: str
) -> None:
    answers = _key_requests(fuzz, key)
    for what in ("output path", "multipart path"):
        answer = answers[what]
        body = checker.check(answer, token=fuzz.token, job_id=fuzz.job_id)
        assert answer.status_code in (200, 201), (what, answer.text)
        assert body is not None
        keys = [f["key"] for f in body.get("files", [])] or [body["key"]]
        assert keys == [fuzz.prefix + key]
    made = fuzz.client.post(
        "/v1/jobs",
        headers=fuzz.auth("admin"),
        json={"mezzanine_key": MEZZANINE_KEY, "output_prefix": f"fz/{key[:900]}/"},
    )
    checker.check(made, token=None, job_id=None)
    assert made.status_code == 201, made.text


def test_the_longest_keys_make_a_token_that_verifies(fuzz: _Fuzz, checker: _Checker) -> None:
    """A mezzanine key and a prefix of 1,024 bytes of 4-byte characters each: the token used to
    be 8,494 characters (claims as \\u escapes), over the 8,192 the coordinator parses."""
    prefix = "\U0001f3ac" * 255 + "/"
    made = fuzz.client.post(
        "/v1/jobs",
        headers=fuzz.auth("admin"),
        json={"mezzanine_key": EMOJI_KEY, "output_prefix": prefix},
    )
    checker.check(made, token=None, job_id=None)
    assert made.status_code == 201, made.text
    job = made.json()
    assert len(job["worker_token"]) <= MAX_TOKEN_CHARS
    auth = {"Authorization": f"Bearer {job['worker_token']}"}
    inputs = fuzz.client.post(f"/v1/jobs/{job['job_id']}/inputs", headers=auth)
    checker.check(inputs, token=job["worker_token"], job_id=job["job_id"])
    assert inputs.status_code == 200, inputs.text
    outputs = fuzz.client.post(
        f"/v1/jobs/{job['job_id']}/outputs",
        headers=auth,
        json={"files": [{"path": "x", "content_type": "video/mp4"}]},
    )
    checker.check(outputs, token=job["worker_token"], job_id=job["job_id"])
    assert outputs.status_code == 200, outputs.text


# -- the hostile corpus: tokens -------------------------------------------------------------------


def _jws_part(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return _b64url(raw)


def _claims(fuzz: _Fuzz, **changes: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": fuzz.job_id,
        "iat": now,
        "exp": now + 600,
        "mezzanine_keys": [MEZZANINE_KEY],
        "output_prefix": fuzz.prefix,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not _DROP}


_DROP = object()


def _hs256(header: dict[str, Any], claims: dict[str, Any] | bytes, key: bytes) -> str:
    """A token signed by hand (PyJWT refuses to make some of these)."""
    signing_input = f"{_jws_part(header)}.{_jws_part(claims)}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(mac)}"


def _right_key(fuzz: _Fuzz, kid: str | None = None) -> bytes:
    return fuzz.settings.token_keys[kid or fuzz.settings.signing_kid].encode()


def _tamper(token: str, **changes: Any) -> str:
    """The token with its claims changed and its signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{_jws_part(claims)}.{signature}"


def _none_token(fuzz: _Fuzz, alg: str) -> str:
    return f"{_jws_part({'alg': alg, 'typ': 'JWT', 'kid': fuzz.settings.signing_kid})}" + (
        f".{_jws_part(_claims(fuzz))}."
    )


# name -> (token maker, the 4xx statuses it may get)
_TOKENS: dict[str, tuple[Callable[[_Fuzz], str], set[int]]] = {
    **{
        f"alg-{alg}": ((lambda f, a=alg: _none_token(f, a)), {401})
        for alg in ("none", "None", "NONE", "nOnE", "")
    },
    "alg-missing": (
        lambda f: _hs256({"kid": f.settings.signing_kid}, _claims(f), _right_key(f)),
        {401},
    ),
    "hs256-wrong-key": (
        lambda f: _hs256({"alg": "HS256", "kid": f.settings.signing_kid}, _claims(f), b"k" * 32),
        {401},
    ),
    "hs256-empty-key": (
        lambda f: _hs256({"alg": "HS256", "kid": f.settings.signing_kid}, _claims(f), b""),
        {401},
    ),
    "hs256-kid-as-key": (
        lambda f: _hs256(
            {"alg": "HS256", "kid": f.settings.signing_kid},
            _claims(f),
            f.settings.signing_kid.encode(),
        ),
        {401},
    ),
    "hs256-admin-key": (
        lambda f: _hs256(
            {"alg": "HS256", "kid": f.settings.signing_kid},
            _claims(f),
            f.settings.admin_key.encode(),
        ),
        {401},
    ),
    "hs256-public-looking-key": (  # the JWK form of the key id, as a JWKS endpoint would show
        lambda f: _hs256(
            {"alg": "HS256", "kid": f.settings.signing_kid},
            _claims(f),
            json.dumps({"kty": "oct", "kid": f.settings.signing_kid}).encode(),
        ),
        {401},
    ),
    "embedded-jwk": (
        lambda f: _hs256(
            {
                "alg": "HS256",
                "kid": "attacker",
                "jwk": {"kty": "oct", "k": _b64url(b"a" * 32), "kid": "attacker"},
            },
            _claims(f),
            b"a" * 32,
        ),
        {401},
    ),
    "jku-header": (
        lambda f: _hs256(
            {"alg": "HS256", "kid": "evil", "jku": "https://attacker.example/jwks.json"},
            _claims(f),
            b"a" * 32,
        ),
        {401},
    ),
    "rs256-header-hmac-body": (
        lambda f: _hs256(
            {"alg": "RS256", "kid": f.settings.signing_kid}, _claims(f), _right_key(f)
        ),
        {401},
    ),
    "hs512-right-key": (
        lambda f: jwt.encode(
            _claims(f),
            _right_key(f),
            algorithm="HS512",
            headers={"kid": f.settings.signing_kid},
        ),
        {401},
    ),
    **{
        f"kid-{name}": (
            (
                lambda f, k=kid: _hs256(
                    {"alg": "HS256", **({} if k is _DROP else {"kid": k})},
                    _claims(f),
                    _right_key(f),
                )
            ),
            {401},
        )
        for name, kid in {
            "traversal": "../../../../dev/null",
            "sql": "k-2026' OR '1'='1",
            "nul": "k-2026\x00",
            "url": "https://attacker.example/key",
            "list": ["k-2026"],
            "number": 2026,
            "null": None,
            "empty": "",
            "missing": _DROP,
            "overlong": "k" * 5000,
        }.items()
    },
    "kid-of-the-old-key-signed-with-the-new": (
        lambda f: _hs256({"alg": "HS256", "kid": "k-2025"}, _claims(f), _right_key(f, "k-2026")),
        {401},
    ),
    "tampered-prefix": (lambda f: _tamper(f.token, output_prefix="fz/"), {401}),
    "tampered-prefix-empty": (lambda f: _tamper(f.token, output_prefix=""), {401}),
    "tampered-job": (lambda f: _tamper(f.token, sub=f.other_job_id), {401}),
    "tampered-expiry": (lambda f: _tamper(f.token, exp=4_102_444_800), {401}),
    "tampered-keys": (lambda f: _tamper(f.token, mezzanine_keys=["secret/other.mov"]), {401}),
    "signature-stripped": (lambda f: f.token.rsplit(".", 1)[0] + ".", {401}),
    "signature-of-another-token": (
        lambda f: f.token.rsplit(".", 1)[0] + "." + f.other_token.rsplit(".", 1)[1],
        {401},
    ),
    "expired": (
        lambda f: f.codec.issue(
            JobScope(
                job_id=f.job_id,
                mezzanine_keys=(MEZZANINE_KEY,),
                output_prefix=f.prefix,
                issued_at=datetime(2025, 1, 1, tzinfo=UTC),
                expires_at=datetime(2025, 1, 1, 1, tzinfo=UTC),
            )
        ),
        {401},
    ),
    "issued-in-the-future": (
        lambda f: _hs256(
            {"alg": "HS256", "kid": f.settings.signing_kid},
            _claims(
                f,
                iat=int(datetime.now(UTC).timestamp()) + 3600,
                exp=int(datetime.now(UTC).timestamp()) + 7200,
            ),
            _right_key(f),
        ),
        {401},
    ),
    "another-job-s-token": (lambda f: f.other_token, {403}),
    "wrong-audience": (
        lambda f: _hs256(
            {"alg": "HS256", "kid": f.settings.signing_kid},
            _claims(f, aud="r2-video-admin"),
            _right_key(f),
        ),
        {401},
    ),
    "claims-not-json": (
        lambda f: _hs256(
            {"alg": "HS256", "kid": f.settings.signing_kid}, b"\xff\xfe", _right_key(f)
        ),
        {401},
    ),
    "claims-a-list": (
        lambda f: _hs256({"alg": "HS256", "kid": f.settings.signing_kid}, b"[1,2]", _right_key(f)),
        {401},
    ),
    "two-tokens": (lambda f: f"{f.token} {f.token}", {401}),
    "five-segments": (lambda f: f.token + ".a.b", {401}),
    "overlong": (lambda f: f.token + "A" * 9000, {401}),
    "non-ascii": (lambda f: f.token[:-3] + "\u00e9\u00e9\u00e9", {401}),
}


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("name", _TOKENS.keys())
def test_forged_and_foreign_tokens_get_a_clear_4xx_and_no_url(
    fuzz: _Fuzz, checker: _Checker, name: str
) -> None:
    make, allowed = _TOKENS[name]
    token = make(fuzz)
    headers = {"Authorization": f"Bearer {token}".encode()}  # bytes: any token travels
    base = f"/v1/jobs/{fuzz.job_id}"
    files = {"files": [{"path": "a.ts", "content_type": "video/mp2t"}]}
    answers = [
        fuzz.client.post(f"{base}/inputs", headers=headers),
        fuzz.client.post(f"{base}/outputs", headers=headers, json=files),
        fuzz.client.post(
            f"{base}/multipart",
            headers=headers,
            json={"path": "f.mp4", "size": 10, "content_type": "video/mp4"},
        ),
        fuzz.client.get(
            f"{base}/multipart/{fuzz.upload_id}",
            headers=headers,
            params={"path": "pre.mp4", "size": 12 * MiB},
        ),
        fuzz.client.post(
            "/v1/jobs", headers=headers, json={"mezzanine_key": "x", "output_prefix": "y/"}
        ),
    ]
    for answer in answers[:-1]:
        checker.check(answer, token=None, job_id=fuzz.job_id)
        assert answer.status_code in allowed, (name, answer.request.url, answer.text)
        if answer.status_code == 401:
            assert answer.headers["www-authenticate"].startswith("Bearer")
    # No worker token, forged or not, is an admin key.
    checker.check(answers[-1], token=None, job_id=None)
    assert answers[-1].status_code == 401


# Signed with the right key, but with claims no coordinator mints (a buggy minting tool): the
# route that uses the bad claim refuses it (400 or 401); none signs anything outside the claims.
_SIGNED_BAD: dict[str, tuple[dict[str, Any], set[str]]] = {
    "prefix-traversal": ({"output_prefix": "../"}, {"outputs", "multipart", "status"}),
    "prefix-root": ({"output_prefix": "/"}, {"outputs", "multipart", "status"}),
    "prefix-empty": ({"output_prefix": ""}, {"outputs", "multipart", "status"}),
    "prefix-percent-dot-dot": ({"output_prefix": "%2e%2e/"}, {"outputs", "multipart", "status"}),
    "prefix-not-a-string": (
        {"output_prefix": ["a/"]},
        {"inputs", "outputs", "multipart", "status"},
    ),
    "keys-a-string": (
        {"mezzanine_keys": MEZZANINE_KEY},
        {"inputs", "outputs", "multipart", "status"},
    ),
    "keys-traversal": ({"mezzanine_keys": ["../../etc/passwd"]}, {"inputs"}),
    "keys-empty": ({"mezzanine_keys": []}, {"inputs", "outputs", "multipart", "status"}),
    "exp-a-string": ({"exp": "2099-01-01"}, {"inputs", "outputs", "multipart", "status"}),
    "exp-a-float": ({"exp": 4_102_444_800.5}, {"inputs", "outputs", "multipart", "status"}),
    "exp-true": ({"exp": True}, {"inputs", "outputs", "multipart", "status"}),
    "exp-huge": ({"exp": 10**20}, {"inputs", "outputs", "multipart", "status"}),
    "sub-missing": ({"sub": _DROP}, {"inputs", "outputs", "multipart", "status"}),
    "sub-hostile": ({"sub": "../x"}, {"inputs", "outputs", "multipart", "status"}),
}


@pytest.mark.parametrize("name", _SIGNED_BAD.keys())
def test_signed_tokens_with_malformed_claims_are_refused_where_they_matter(
    fuzz: _Fuzz, checker: _Checker, name: str
) -> None:
    change, refusing = _SIGNED_BAD[name]
    header = {"alg": "HS256", "kid": fuzz.settings.signing_kid}
    token = _hs256(header, _claims(fuzz, **change), _right_key(fuzz))
    headers = {"Authorization": f"Bearer {token}"}
    base = f"/v1/jobs/{fuzz.job_id}"
    answers = {
        "inputs": fuzz.client.post(f"{base}/inputs", headers=headers),
        "outputs": fuzz.client.post(
            f"{base}/outputs",
            headers=headers,
            json={"files": [{"path": "a.ts", "content_type": "video/mp2t"}]},
        ),
        "multipart": fuzz.client.post(
            f"{base}/multipart",
            headers=headers,
            json={"path": "f.mp4", "size": 10, "content_type": "video/mp4"},
        ),
        "status": fuzz.client.get(
            f"{base}/multipart/{fuzz.upload_id}",
            headers=headers,
            params={"path": "pre.mp4", "size": 12 * MiB},
        ),
    }
    for route, answer in answers.items():
        checker.check(answer, token=token, job_id=fuzz.job_id)
        if route in refusing:
            assert answer.status_code in (400, 401), (route, answer.text)


# -- raw ASGI messages and Lambda events: what no HTTP parser in front would let through -------


def _asgi(
    app: Any,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    query: bytes,
    body: bytes,
) -> tuple[int, dict[bytes, bytes], bytes]:
    import asyncio

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        with contextlib.suppress(Exception):  # the app re-raises after answering a 500
            await app(scope, receive, send)

    # Not asyncio.run: it leaves the thread without an event loop (see test_playback.py).
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), content


def _lambda(
    core: Any,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    query: bytes,
    body: bytes,
) -> tuple[int, dict[bytes, bytes], bytes]:
    """The same request as a Lambda event: text where ASGI has bytes (each byte as the code
    point of that value), the body base64-encoded."""
    event = function_url_event(method, path)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["rawQueryString"] = query.decode("latin-1")
    event["headers"] = {"host": HOST} | {k.decode("latin-1"): v.decode("latin-1") for k, v in
                                         headers}  # fmt: skip
    event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode("ascii"), True
    answer = handler_for(core)(event, None)
    sent = {k.encode("latin-1"): v.encode("latin-1") for k, v in answer["headers"].items()}
    return answer["statusCode"], sent, answer["body"].encode("utf-8")


_RAW_CASES: dict[str, tuple[str, str, list[tuple[bytes, bytes]], bytes, bytes]] = {
    # name: (method, path, extra headers, query string, body)
    "content-length-superscript-two": (
        "POST",
        "/v1/jobs",
        [(b"content-length", b"\xb2")],
        b"",
        b"{}",
    ),
    "content-length-5000-digits": (
        "POST",
        "/v1/jobs",
        [(b"content-length", b"9" * 5000)],
        b"",
        b"{}",
    ),
    "content-length-negative": ("POST", "/v1/jobs", [(b"content-length", b"-1")], b"", b"{}"),
    "content-length-spaces": ("POST", "/v1/jobs", [(b"content-length", b" 2 ")], b"", b"{}"),
    "content-length-lies-low": (
        "POST",
        "/v1/jobs",
        [(b"content-length", b"1")],
        b"",
        b"{}" * 40000,
    ),
    "authorization-high-bytes": (
        "POST",
        "/v1/jobs/j/inputs",
        [(b"authorization", b"Bearer \xff\xfe\x80")],
        b"",
        b"",
    ),
    "authorization-nul": (
        "POST",
        "/v1/jobs/j/inputs",
        [(b"authorization", b"Bearer a\x00b")],
        b"",
        b"",
    ),
    "path-nul": ("POST", "/v1/jobs/\x00/inputs", [], b"", b""),
    "path-dot-dot": ("POST", "/v1/jobs/../jobs/inputs", [], b"", b""),
    "path-surrogate-escape": ("POST", "/v1/jobs/\udcff/inputs", [], b"", b""),
    "query-not-utf8": ("GET", "/v1/jobs/J/multipart/u", [], b"path=%ff%fe&size=1", b""),
    "query-repeated": ("GET", "/v1/jobs/J/multipart/u", [], b"path=a&path=b&size=1", b""),
    "query-nul": ("GET", "/v1/jobs/J/multipart/u", [], b"path=a%00b&size=%00", b""),
    "query-huge-number": ("GET", "/v1/jobs/J/multipart/u", [], b"path=a&size=" + b"9" * 5000, b""),
    "method-unknown": ("BREW", "/v1/jobs", [], b"", b""),
    "method-trace": ("TRACE", "/v1/jobs/J/inputs", [], b"", b""),
}


@pytest.mark.parametrize("name", _RAW_CASES.keys())
def test_raw_asgi_oddities_are_4xx(fuzz: _Fuzz, name: str) -> None:
    """Straight into the ASGI app, or the Lambda handler as an event: header bytes no HTTP
    parser would pass (``"²".isdigit()`` is True; ``int()`` refuses 5,000 digits: both were 500s).
    """
    method, path, headers, query, body = _RAW_CASES[name]
    path = path.replace("J", fuzz.job_id)
    credential = fuzz.settings.admin_key if path == "/v1/jobs" else fuzz.token
    sent_headers = [*headers, (b"content-type", b"application/json")]
    if b"authorization" not in {name for name, _ in headers}:
        sent_headers.append((b"authorization", f"Bearer {credential}".encode()))
    if fuzz.adapter == "serve":
        app = create_app(fuzz.settings, broker=fuzz.broker)
        fuzz.counts.update(["asgi"])
        status, answer_headers, content = _asgi(app, method, path, sent_headers, query, body)
    else:
        core = create_core(fuzz.settings, broker=fuzz.broker)
        fuzz.counts.update(["event"])
        status, answer_headers, content = _lambda(core, method, path, sent_headers, query, body)
    assert 400 <= status < 500, (name, status, content)
    assert answer_headers[b"content-type"] == b"application/json"
    assert set(json.loads(content)) == {"error"}
