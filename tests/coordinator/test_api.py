"""The HTTP API: authentication, strict input, error shape, limits, routes and OpenAPI.

Each test runs over both adapters (tests/coordinator/adapters.py): uvicorn on loopback and the
Lambda handler in process, with the session's real store behind.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coordinator.app import MAX_FILES_PER_REQUEST, create_core
from coordinator.config import Settings, StoreSettings
from coordinator.httpio import MAX_BODY_BYTES
from coordinator.openapi import document
from coordinator.tokens import AUDIENCE, ISSUER, TokenCodec
from tests.coordinator.adapters import client_over


def _error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


# -- jobs (admin) -----------------------------------------------------------------------------


def test_job_creation_returns_a_token_scoped_to_the_job(
    api: httpx.Client, settings: Settings, codec: TokenCodec, mezzanine: tuple[str, bytes]
) -> None:
    answer = api.post(
        "/v1/jobs",
        headers={"Authorization": f"Bearer {settings.admin_key}"},
        json={"mezzanine_key": mezzanine[0], "output_prefix": "jobs/x/", "ttl_seconds": 120},
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    scope = codec.verify(body["worker_token"], now=datetime.now(UTC), job_id=body["job_id"])
    assert scope.mezzanine_keys == (mezzanine[0],) and scope.output_prefix == "jobs/x/"
    assert (scope.expires_at - scope.issued_at) == timedelta(seconds=120)
    assert body["expires_at"] == scope.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Basic abc"}, {"X": "y"}],
    ids=["none", "wrong", "basic", "other-header"],
)
def test_job_creation_needs_the_admin_key(
    api: httpx.Client, headers: dict[str, str], mezzanine: tuple[str, bytes]
) -> None:
    answer = api.post(
        "/v1/jobs", headers=headers, json={"mezzanine_key": mezzanine[0], "output_prefix": "j/"}
    )
    _error(answer, 401)
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_a_worker_token_is_not_an_admin_key(
    api: httpx.Client, job: Any, mezzanine: tuple[str, bytes]
) -> None:
    answer = api.post(
        "/v1/jobs", headers=job.auth, json={"mezzanine_key": mezzanine[0], "output_prefix": "j/"}
    )
    _error(answer, 401, "invalid_admin_key")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"mezzanine_key": "masters/missing.mov", "output_prefix": "j/"}, "mezzanine_not_found"),
        ({"mezzanine_key": "masters/../sample.mov", "output_prefix": "j/"}, "invalid_key"),
        ({"mezzanine_key": "masters/sample.mov", "output_prefix": "j"}, "invalid_key"),
        ({"mezzanine_key": "masters/sample.mov", "output_prefix": "/j/"}, "invalid_key"),
        ({"mezzanine_key": "masters/sample.mov"}, "missing_field"),
        ({"mezzanine_key": "masters/sample.mov", "output_prefix": "j/", "ttl": 5}, "unknown_field"),
        (
            {"mezzanine_key": "masters/sample.mov", "output_prefix": "j/", "ttl_seconds": 0},
            "invalid_ttl_seconds",
        ),
        (
            {"mezzanine_key": "masters/sample.mov", "output_prefix": "j/", "ttl_seconds": 10**9},
            "invalid_ttl_seconds",
        ),
    ],
    ids=[
        "missing-object",
        "dot-dot",
        "prefix-without-slash",
        "prefix-leading-slash",
        "missing-field",
        "unknown-field",
        "zero-ttl",
        "ttl-over-max",
    ],
)
def test_job_creation_refuses_bad_input(
    api: httpx.Client, settings: Settings, body: dict[str, Any], code: str
) -> None:
    answer = api.post(
        "/v1/jobs", headers={"Authorization": f"Bearer {settings.admin_key}"}, json=body
    )
    _error(answer, 400, code)


# -- worker tokens ----------------------------------------------------------------------------


def _forge(settings: Settings, *, kid: str, alg: str = "HS256", **claims: Any) -> str:
    now = int(datetime.now(UTC).timestamp())
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "job-1",
        "iat": now,
        "exp": now + 600,
        "mezzanine_keys": ["masters/sample.mov"],
        "output_prefix": "jobs/job-1/",
        **claims,
    }
    secret = settings.token_keys.get(kid, "k" * 64)
    return jwt.encode(payload, secret, algorithm=alg, headers={"kid": kid})


def _none_token() -> str:
    def b64(data: dict[str, Any]) -> str:
        import base64

        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "job-1", "iat": now, "exp": now + 600}
    return f"{b64({'alg': 'none', 'kid': 'k-2026'})}.{b64(claims)}."


BAD_TOKENS: dict[str, Callable[[Settings], str]] = {
    "expired": lambda s: _forge(s, kid="k-2026", iat=1_700_000_000, exp=1_700_000_600),
    "wrong-audience": lambda s: _forge(s, kid="k-2026", aud="someone-else"),
    "unknown-kid": lambda s: _forge(s, kid="k-1999"),
    "alg-none": lambda s: _none_token(),
    "hs512": lambda s: _forge(s, kid="k-2026", alg="HS512"),
    "tampered": lambda s: _forge(s, kid="k-2026")[:-4] + "AAAA",
    "garbage": lambda s: "garbage",
}


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512 forgery
@pytest.mark.parametrize("make_token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
@pytest.mark.parametrize("route", ["/inputs", "/outputs", "/multipart"])
def test_bad_worker_tokens_are_401(
    api: httpx.Client, settings: Settings, make_token: Callable[[Settings], str], route: str
) -> None:
    token = make_token(settings)
    answer = api.post(
        f"/v1/jobs/job-1{route}",
        headers={"Authorization": f"Bearer {token}"},
        json={"files": [{"path": "a.ts", "content_type": "video/mp2t"}]},
    )
    error = _error(answer, 401)
    assert token not in error["message"] and "https://" not in answer.text


def test_missing_token_is_401(api: httpx.Client) -> None:
    _error(api.post("/v1/jobs/job-1/inputs"), 401, "missing_token")


def test_previous_signing_key_still_works(
    api: httpx.Client, settings: Settings, codec: TokenCodec, make_scope: Callable[..., Any]
) -> None:
    old = TokenCodec(settings.token_keys, signing_kid="k-2025")
    token = old.issue(make_scope("job-old", "jobs/job-old/"))
    answer = api.post("/v1/jobs/job-old/inputs", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text


def test_a_token_for_job_a_does_not_work_on_job_b(
    api: httpx.Client, new_job: Callable[..., Any]
) -> None:
    a, b = new_job(), new_job()
    for tail in ("/inputs", "/outputs", "/multipart", "/multipart/u1/complete"):
        _error(api.post(b.url(tail), headers=a.auth, json={}), 403, "wrong_job")
    _error(api.get(b.url("/multipart/u1"), headers=a.auth, params={"path": "a", "size": 1}), 403)
    _error(api.delete(b.url("/multipart/u1"), headers=a.auth, params={"path": "a"}), 403)


# -- outputs: scope and input checks ------------------------------------------------------------

BAD_PATHS = {
    "dot-dot": "../escape.ts",
    "nested-dot-dot": "hls/../../escape.ts",
    "dot": "./a.ts",
    "double-slash": "hls//a.ts",
    "leading-slash": "/a.ts",
    "nul": "a\x00.ts",
    "newline": "a\n.ts",
    "del": "a\x7f.ts",
    "c1": "a\x9b.ts",
    "backslash": "..\\escape.ts",
    "too-long": "k" * 1100,
    "folder": "hls/",
    "empty": "",
    "not-a-string": 42,
}


@pytest.mark.parametrize("path", BAD_PATHS.values(), ids=BAD_PATHS.keys())
def test_bad_output_paths_get_400_and_no_url(api: httpx.Client, job: Any, path: object) -> None:
    answer = api.post(
        job.url("/outputs"),
        headers=job.auth,
        json={"files": [{"path": path, "content_type": "video/mp2t"}]},
    )
    _error(answer, 400)
    assert "X-Amz-Signature" not in answer.text


def test_bad_multipart_paths_get_400_and_no_upload(
    api: httpx.Client, job: Any, s3: Any, settings: Settings
) -> None:
    for path in ("../escape.mp4", "a//b.mp4", "/a.mp4", "a\x01.mp4"):
        answer = api.post(
            job.url("/multipart"),
            headers=job.auth,
            json={"path": path, "size": 10, "content_type": "video/mp4"},
        )
        _error(answer, 400, "invalid_key")
    uploads = s3.list_multipart_uploads(Bucket=settings.delivery.bucket, Prefix=job.prefix)
    assert uploads.get("Uploads", []) == []


def test_percent_encoded_traversal_is_literal_and_confined(
    api: httpx.Client, http: httpx.Client, job: Any, s3: Any, settings: Settings
) -> None:
    path = "..%2F..%2Fescape.ts"
    answer = api.post(
        job.url("/outputs"),
        headers=job.auth,
        json={"files": [{"path": path, "content_type": "video/mp2t"}]},
    )
    assert answer.status_code == 200, answer.text
    signed = answer.json()["files"][0]
    assert signed["key"] == job.prefix + path
    assert http.put(signed["url"], content=b"x", headers=signed["headers"]).status_code == 200
    listed = s3.list_objects_v2(Bucket=settings.delivery.bucket, Prefix=job.prefix)
    assert [o["Key"] for o in listed["Contents"]] == [job.prefix + path]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"files": []}, "invalid_files"),
        ({"files": "a.ts"}, "invalid_files"),
        ({"files": ["a.ts"]}, "invalid_files"),
        ({"files": [{"path": "a.ts"}]}, "missing_field"),
        (
            {"files": [{"path": "a.ts", "content_type": "video/mp2t", "acl": "public"}]},
            "unknown_field",
        ),
        (
            {"files": [{"path": "a.ts", "content_type": "video/mp2t\r\nX: 1"}]},
            "invalid_content_type",
        ),
        ({"files": [{"path": "a.ts", "content_type": "video/mp2t"}] * 2}, "invalid_files"),
        (
            {"files": [{"path": f"{i}.ts", "content_type": "video/mp2t"} for i in range(101)]},
            "invalid_files",
        ),
        (
            {"files": [{"path": "a.ts", "content_type": "video/mp2t"}], "expires_in": 0},
            "invalid_expires_in",
        ),
        (
            {"files": [{"path": "a.ts", "content_type": "video/mp2t"}], "expires_in": "60"},
            "invalid_expires_in",
        ),
    ],
    ids=[
        "empty",
        "not-a-list",
        "not-objects",
        "no-content-type",
        "unknown-field",
        "header-injection",
        "duplicate-path",
        "too-many-files",
        "zero-expiry",
        "string-expiry",
    ],
)
def test_outputs_refuse_malformed_requests(
    api: httpx.Client, job: Any, body: dict[str, Any], code: str
) -> None:
    _error(api.post(job.url("/outputs"), headers=job.auth, json=body), 400, code)


def test_outputs_accept_the_maximum_number_of_files(api: httpx.Client, job: Any) -> None:
    files = [
        {"path": f"seg{i}.ts", "content_type": "video/mp2t"} for i in range(MAX_FILES_PER_REQUEST)
    ]
    answer = api.post(job.url("/outputs"), headers=job.auth, json={"files": files})
    assert answer.status_code == 200, answer.text
    assert [f["key"] for f in answer.json()["files"]] == [job.prefix + f["path"] for f in files]


def test_expiry_is_capped_by_the_job_token(api: httpx.Client, new_job: Callable[..., Any]) -> None:
    job = new_job(ttl_seconds=300)
    answer = api.post(job.url("/inputs"), headers=job.auth, json={"expires_in": 604800})
    assert answer.status_code == 200, answer.text
    expires_in = int(answer.json()["inputs"][0]["get_url"].split("X-Amz-Expires=")[1].split("&")[0])
    assert 1 <= expires_in <= 300


# -- body handling ----------------------------------------------------------------------------


def test_declared_oversized_body_is_413_before_reading(api: httpx.Client, job: Any) -> None:
    body = b'{"files": [' + b" " * MAX_BODY_BYTES + b"]}"
    answer = api.post(
        job.url("/outputs"),
        headers={**job.auth, "Content-Type": "application/json"},
        content=body,
    )
    _error(answer, 413, "payload_too_large")


def test_chunked_oversized_body_is_413_while_reading(api: httpx.Client, job: Any) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: only counting catches it
        yield b'{"files": ['
        for _ in range(MAX_BODY_BYTES // 1024 + 1):
            yield b" " * 1024
        yield b"]}"

    answer = api.post(
        job.url("/outputs"),
        headers={**job.auth, "Content-Type": "application/json"},
        content=chunks(),
    )
    _error(answer, 413, "payload_too_large")


def test_body_just_under_the_limit_is_read(api: httpx.Client, job: Any) -> None:
    files = json.dumps({"files": [{"path": "a.ts", "content_type": "video/mp2t"}]})
    body = files[:-1] + " " * (MAX_BODY_BYTES - len(files)) + "}"
    assert len(body) == MAX_BODY_BYTES
    answer = api.post(
        job.url("/outputs"),
        headers={**job.auth, "Content-Type": "application/json"},
        content=body,
    )
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b'{"files": []}', "text/plain", 415),
        (b'{"files": []}', None, 415),
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"\xff\xfe{}", "application/json", 400),
        (b'{"files": NaN}', "application/json", 400),
        (b"[" * 30000 + b"]" * 30000, "application/json", 400),
        (b"", "application/json", 400),
    ],
    ids=["text", "no-type", "broken", "array", "not-utf8", "nan", "deep-nesting", "empty"],
)
def test_bodies_that_are_not_a_json_object(
    api: httpx.Client, job: Any, content: bytes, content_type: str | None, status: int
) -> None:
    headers = dict(job.auth)
    if content_type:
        headers["Content-Type"] = content_type
    _error(api.post(job.url("/outputs"), headers=headers, content=content), status)


def test_inputs_accept_an_empty_body(api: httpx.Client, job: Any) -> None:
    assert api.post(job.url("/inputs"), headers=job.auth).status_code == 200


# -- routes, errors, OpenAPI ----------------------------------------------------------------------


def test_unknown_route_is_a_json_404(api: httpx.Client) -> None:
    _error(api.get("/v2/nothing"), 404, "not_found")


def test_wrong_method_is_a_json_405_with_allow(api: httpx.Client) -> None:
    answer = api.get("/v1/jobs")
    _error(answer, 405, "method_not_allowed")
    assert answer.headers["allow"] == "POST"


def test_healthz(api: httpx.Client) -> None:
    answer = api.get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}


def test_openapi_lists_every_route_and_method(api: httpx.Client, settings: Settings) -> None:
    served = api.get("/openapi.json")
    assert served.status_code == 200
    doc = served.json()
    assert doc == json.loads(json.dumps(document()))
    documented = {
        (path, method.upper()) for path, operations in doc["paths"].items() for method in operations
    }
    routed = {
        (route.template, method)
        for route in create_core(settings).router.routes
        for method in route.handlers  # HEAD is answered wherever GET is, not documented
    }
    assert documented == routed
    assert len(routed) == 10  # POST /v1/playback


def test_store_down_is_503_with_retry_after(
    adapter: str, settings: Settings, mezzanine: tuple[str, bytes]
) -> None:
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    broken = Settings(
        admin_key=settings.admin_key,
        token_keys=settings.token_keys,
        signing_kid=settings.signing_kid,
        mezzanine=StoreSettings(
            dead, "eu-west-1", "test-mezzanine", settings.mezzanine.credentials
        ),
        delivery=StoreSettings(dead, "auto", "test-delivery", settings.delivery.credentials),
    )
    with client_over(adapter, broken) as client:
        answer = client.post(
            "/v1/jobs",
            headers={"Authorization": f"Bearer {settings.admin_key}"},
            json={"mezzanine_key": mezzanine[0], "output_prefix": "j/"},
        )
        error = _error(answer, 503, "store_unavailable")
        assert answer.headers["retry-after"] == "5"
        assert settings.mezzanine.credentials.secret_key not in answer.text
        assert "Traceback" not in error["message"]


# -- nothing a client sends gives a 5xx -----------------------------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
_fields = st.sampled_from(
    ["files", "path", "size", "content_type", "parts", "expires_in", "part_number", "etag"]
)


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    route=st.sampled_from(["/outputs", "/inputs", "/multipart", "/multipart/u-1/complete"]),
    body=st.dictionaries(_fields, _json_values, max_size=4),
)
def test_no_body_makes_a_5xx(api: httpx.Client, job: Any, route: str, body: dict[str, Any]) -> None:
    answer = api.post(job.url(route), headers=job.auth, json=body)
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        _error(answer, answer.status_code)


# -- strictness found missing (issue 15, 17) ------------------------------------------------------


def test_post_routes_refuse_query_parameters(api: httpx.Client, job: Any) -> None:
    """The docs say query parameters are refused on POST routes; they were ignored (a client
    that put expires_in in the query got the default without a word)."""
    posts = {
        "inputs": (job.url("/inputs"), job.auth, {}),
        "outputs": (
            job.url("/outputs"),
            job.auth,
            {"files": [{"path": "a.ts", "content_type": "video/mp2t"}]},
        ),
        "multipart": (
            job.url("/multipart"),
            job.auth,
            {"path": "a.mp4", "size": 1, "content_type": "video/mp4"},
        ),
    }
    for name, (url, auth, body) in posts.items():
        answer = api.post(url, headers=auth, params={"expires_in": "60"}, json=body)
        _error(answer, 400, "invalid_query")
        assert "query" in answer.json()["error"]["message"], name


def test_a_query_string_that_is_not_utf8_is_a_400(api: httpx.Client, job: Any) -> None:
    """Starlette decoded %ff%fe to U+FFFD and the key was accepted; a body with the same bytes
    is refused, so is the query."""
    answer = api.get(job.url("/multipart/x.y") + "?path=a%ff%fe.mp4&size=1", headers=job.auth)
    _error(answer, 400, "invalid_query")


def test_unknown_fields_inside_parts_are_refused(api: httpx.Client, job: Any) -> None:
    started = api.post(
        job.url("/multipart"),
        headers=job.auth,
        json={"path": "p.mp4", "size": 1, "content_type": "video/mp4"},
    ).json()
    answer = api.post(
        job.url(f"/multipart/{started['upload_id']}/complete"),
        headers=job.auth,
        json={
            "path": "p.mp4",
            "size": 1,
            "parts": [{"part_number": 1, "etag": "0" * 32, "size": 1}],
        },
    )
    assert "'size'" in _error(answer, 400, "invalid_parts")["message"]


def test_error_bodies_do_not_echo_large_input(api: httpx.Client, job: Any) -> None:
    """A 60,000-character part_number came back in a 60 KB error body."""
    started = api.post(
        job.url("/multipart"),
        headers=job.auth,
        json={"path": "q.mp4", "size": 1, "content_type": "video/mp4"},
    ).json()
    answer = api.post(
        job.url(f"/multipart/{started['upload_id']}/complete"),
        headers=job.auth,
        json={"path": "q.mp4", "size": 1, "parts": [{"part_number": "9" * 60_000, "etag": "e"}]},
    )
    _error(answer, 400, "invalid_parts")
    assert len(answer.content) < 1024, len(answer.content)


def test_every_answer_says_nosniff(api: httpx.Client, job: Any) -> None:
    started = api.post(
        job.url("/multipart"),
        headers=job.auth,
        json={"path": "n.mp4", "size": 1, "content_type": "video/mp4"},
    )
    answers = {
        "201": started,
        "200": api.get("/healthz"),
        "204": api.delete(
            job.url(f"/multipart/{started.json()['upload_id']}"),
            headers=job.auth,
            params={"path": "n.mp4"},
        ),
        "401": api.post(job.url("/inputs")),
        "404": api.get("/nowhere"),
        "405": api.put("/healthz"),
    }
    for status, answer in answers.items():
        assert answer.status_code == int(status), (status, answer.text)
        assert answer.headers.get("x-content-type-options") == "nosniff", status


def test_a_405_on_an_upload_names_every_method_it_allows(api: httpx.Client, job: Any) -> None:
    """Two Routes on one path: Starlette built Allow from the first, 'GET, HEAD', missing
    DELETE."""
    answer = api.put(job.url("/multipart/some.upload"), headers=job.auth)
    _error(answer, 405, "method_not_allowed")
    allowed = {m.strip() for m in answer.headers["allow"].split(",")}
    assert {"GET", "DELETE"} <= allowed, answer.headers["allow"]
