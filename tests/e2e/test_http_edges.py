"""HTTP edge cases the fuzzer found: each answer is what the OpenAPI schema declares."""

from __future__ import annotations

import httpx

from inferline.testing.server import ServerProcess


def test_a_wrong_method_names_every_method_of_the_path(serve: ServerProcess) -> None:
    for path, methods in (
        ("/api/v1/jobs", {"GET", "HEAD", "POST"}),
        ("/api/v1/jobs/0190a8f2-1234-7abc-8def-0123456789ab", {"GET", "HEAD", "DELETE"}),
        ("/api/v1/collections/demo", {"GET", "HEAD", "PUT", "DELETE"}),
        ("/api/v1/jobs/batch", {"POST"}),  # a concrete path, not the job called "batch"
    ):
        response = httpx.request("PATCH", f"{serve.url}{path}")
        assert response.status_code == 405
        assert response.json()["error"]["code"] == "method_not_allowed"
        assert set(response.headers["allow"].split(", ")) == methods, path


def test_a_body_that_is_not_utf8_is_a_422_naming_the_body(serve: ServerProcess) -> None:
    response = httpx.post(
        f"{serve.url}/api/v1/jobs",
        content=b'{"model": "\xe8\xff"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and error["details"][0]["field"] == "body"
    assert "UnicodeDecodeError" in error["message"]


def test_error_statuses_and_media_types_are_declared(serve: ServerProcess) -> None:
    schema = httpx.get(f"{serve.url}/openapi.json").json()
    submit = schema["paths"]["/api/v1/jobs"]["post"]["responses"]
    assert {"202", "404", "413", "422", "429", "503"} <= set(submit)
    error_body = submit["422"]["content"]["application/json"]["schema"]
    assert error_body == {"$ref": "#/components/schemas/ErrorBody"}
    assert "Retry-After" in submit["429"]["headers"]
    metrics = schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    assert httpx.get(f"{serve.url}/metrics").headers["content-type"].startswith("text/plain")
