"""The OpenAPI 3.1 description of the coordinator's routes (served at ``/openapi.json``).

Written by hand, next to the routes it describes; a test checks that every route of the app
appears here with its methods and nothing else does.

References: https://spec.openapis.org/oas/v3.1.0
"""

from __future__ import annotations

from typing import Any

__all__ = ["document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {
        400: "Bad input (malformed body, bad key, out-of-prefix path, wrong part list)",
        401: "Missing or invalid credential",
        403: "Token valid but for another job",
        404: "No such multipart upload",
        409: "Upload already completed: the object holds exactly the parts sent (a retry)",
        413: "Body larger than 64 KiB",
        415: "Body is not application/json",
        503: "Object store unavailable; retry after Retry-After seconds",
    }
    return {str(s): _json(_ref("Error"), text[s]) for s in statuses}


_STRING = {"type": "string"}
_INT = {"type": "integer"}
_TIME = {"type": "string", "format": "date-time"}
_EXPIRES_IN = {"type": "integer", "minimum": 1, "maximum": 604800}
_PART_URLS = {"type": "array", "items": _ref("PartUrl")}
_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": _STRING}
_UPLOAD_ID = {"name": "upload_id", "in": "path", "required": True, "schema": _STRING}
_PATH_Q = {"name": "path", "in": "query", "required": True, "schema": _STRING}
_SIZE_Q = {"name": "size", "in": "query", "required": True, "schema": _INT}
_EXPIRES_Q = {"name": "expires_in", "in": "query", "required": False, "schema": _EXPIRES_IN}
_WORKER = [{"workerToken": []}]


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


_SCHEMAS: dict[str, Any] = {
    "Error": _object(["error"], error=_object(["code", "message"], code=_STRING, message=_STRING)),
    "JobRequest": _object(
        ["mezzanine_key", "output_prefix"],
        mezzanine_key=_STRING,
        output_prefix={"type": "string", "pattern": "/$"},
        ttl_seconds={"type": "integer", "minimum": 1},
    ),
    "Job": _object(
        ["job_id", "worker_token", "expires_at"],
        job_id=_STRING,
        worker_token=_STRING,
        expires_at=_TIME,
        mezzanine_key=_STRING,
        output_prefix=_STRING,
    ),
    "ExpiresRequest": _object([], expires_in=_EXPIRES_IN),
    "Inputs": _object(
        ["inputs", "expires_at"],
        inputs={
            "type": "array",
            "items": _object(
                ["key", "get_url", "head_url"], key=_STRING, get_url=_STRING, head_url=_STRING
            ),
        },
        expires_at=_TIME,
    ),
    "OutputsRequest": _object(
        ["files"],
        files={
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "items": _object(["path", "content_type"], path=_STRING, content_type=_STRING),
        },
        expires_in=_EXPIRES_IN,
    ),
    "Outputs": _object(
        ["files", "expires_at"],
        files={
            "type": "array",
            "items": _object(
                ["path", "key", "method", "url", "headers"],
                path=_STRING,
                key=_STRING,
                method={"const": "PUT"},
                url=_STRING,
                headers={"type": "object", "additionalProperties": _STRING},
            ),
        },
        expires_at=_TIME,
    ),
    "PartUrl": _object(["part_number", "url"], part_number=_INT, url=_STRING),
    "MultipartRequest": _object(
        ["path", "size", "content_type"],
        path=_STRING,
        size={"type": "integer", "minimum": 1},
        content_type=_STRING,
        cache_control={
            "type": "string",
            "maxLength": 255,
            "description": "Cache-Control stored on the object (RFC 9111 syntax)",
        },
        expires_in=_EXPIRES_IN,
    ),
    "MultipartUpload": _object(
        ["upload_id", "key", "size", "part_size", "part_count", "parts", "expires_at"],
        upload_id=_STRING,
        key=_STRING,
        size=_INT,
        part_size=_INT,
        part_count=_INT,
        parts=_PART_URLS,
        expires_at=_TIME,
    ),
    "MultipartStatus": _object(
        [
            "upload_id",
            "key",
            "size",
            "part_size",
            "part_count",
            "uploaded",
            "missing_count",
            "parts",
            "expires_at",
        ],
        upload_id=_STRING,
        key=_STRING,
        size=_INT,
        part_size=_INT,
        part_count=_INT,
        uploaded={
            "type": "array",
            "items": _object(
                ["part_number", "etag", "size"], part_number=_INT, etag=_STRING, size=_INT
            ),
        },
        missing_count=_INT,
        parts=_PART_URLS,
        expires_at=_TIME,
    ),
    "CompleteRequest": _object(
        ["path", "size", "parts"],
        path=_STRING,
        size={"type": "integer", "minimum": 1},
        parts={
            "type": "array",
            "items": _object(["part_number", "etag"], part_number=_INT, etag=_STRING),
        },
    ),
    "Completed": _object(["key", "etag"], key=_STRING, etag=_STRING),
    "PlaybackRequest": _object(
        ["paths"],
        paths={"type": "array", "minItems": 1, "maxItems": 100, "items": _STRING},
        expires_in={"type": "integer", "minimum": 1},
        host=_STRING,
    ),
    "PlaybackUrls": _object(
        ["urls", "expires_at"],
        urls={"type": "array", "items": _object(["path", "url"], path=_STRING, url=_STRING)},
        expires_at=_TIME,
    ),
}


def _body(name: str, *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _ref(name)}}}


def document() -> dict[str, Any]:
    """The OpenAPI document (its schema objects are shared: serialise, do not mutate)."""
    job = "/v1/jobs/{job_id}"
    upload = f"{job}/multipart/{{upload_id}}"
    worker_errors = _errors(400, 401, 403, 413, 415)
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {
                "summary": "Liveness (no store call)",
                "responses": {"200": _json({"type": "object"}, "Alive")},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")},
            }
        },
        "/v1/jobs": {
            "post": {
                "summary": "Create a job (admin); checks that the mezzanine object exists",
                "security": [{"adminKey": []}],
                "requestBody": _body("JobRequest"),
                "responses": {
                    "201": _json(_ref("Job"), "Job created"),
                    **_errors(400, 401, 413, 415, 503),
                },
            }
        },
        "/v1/playback": {
            "post": {
                "summary": "Signed playback URLs (admin): object paths on a delivery hostname,"
                " valid until expires_at (at most the WAF rule's ttl)",
                "security": [{"adminKey": []}],
                "requestBody": _body("PlaybackRequest"),
                "responses": {
                    "200": _json(_ref("PlaybackUrls"), "Playback URLs"),
                    **_errors(400, 401, 413, 415),
                    "404": _json(_ref("Error"), "Signed delivery is not configured"),
                },
            }
        },
        f"{job}/inputs": {
            "post": {
                "summary": "Presigned GET and HEAD of the job's mezzanine",
                "security": _WORKER,
                "parameters": [_JOB_ID],
                "requestBody": _body("ExpiresRequest", required=False),
                "responses": {"200": _json(_ref("Inputs"), "Input URLs"), **worker_errors},
            }
        },
        f"{job}/outputs": {
            "post": {
                "summary": "Presigned PUTs under the job's output prefix (send headers as given)",
                "security": _WORKER,
                "parameters": [_JOB_ID],
                "requestBody": _body("OutputsRequest"),
                "responses": {"200": _json(_ref("Outputs"), "Output URLs"), **worker_errors},
            }
        },
        f"{job}/multipart": {
            "post": {
                "summary": "Start a multipart upload; URLs for (up to 1,000 of) its parts",
                "security": _WORKER,
                "parameters": [_JOB_ID],
                "requestBody": _body("MultipartRequest"),
                "responses": {
                    "201": _json(_ref("MultipartUpload"), "Upload started"),
                    **worker_errors,
                    **_errors(503),
                },
            }
        },
        upload: {
            "get": {
                "summary": "Parts stored so far, and URLs for (up to 1,000 of) the missing ones",
                "security": _WORKER,
                "parameters": [_JOB_ID, _UPLOAD_ID, _PATH_Q, _SIZE_Q, _EXPIRES_Q],
                "responses": {
                    "200": _json(_ref("MultipartStatus"), "Upload status"),
                    **_errors(400, 401, 403, 404, 503),
                },
            },
            "delete": {
                "summary": "Abort the upload",
                "security": _WORKER,
                "parameters": [_JOB_ID, _UPLOAD_ID, _PATH_Q],
                "responses": {
                    "204": {"description": "Aborted"},
                    **_errors(400, 401, 403, 404, 503),
                },
            },
        },
        f"{upload}/complete": {
            "post": {
                "summary": "Complete with the parts' ETags (parts 1..N in order)",
                "security": _WORKER,
                "parameters": [_JOB_ID, _UPLOAD_ID],
                "requestBody": _body("CompleteRequest"),
                "responses": {
                    "200": _json(_ref("Completed"), "Object assembled"),
                    **worker_errors,
                    **_errors(404, 409, 503),
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "r2-video coordinator",
            "version": "1",
            "description": "Hands credential-less workers presigned URLs scoped to one job.",
        },
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "adminKey": {"type": "http", "scheme": "bearer", "description": "Admin key"},
                "workerToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
        },
    }
