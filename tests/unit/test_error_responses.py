"""The answer to an exception no handler took: 503 for a lost connection, else 500."""

from __future__ import annotations

import json

from sqlalchemy.exc import OperationalError

from inferline.api.errors import unexpected_error_response


def test_a_lost_connection_is_a_503_to_retry() -> None:
    for exc in (
        ConnectionRefusedError(111, "refused"),
        OperationalError("SELECT 1", {}, Exception("server closed the connection")),
    ):
        response = unexpected_error_response(exc, "req-1")
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert json.loads(bytes(response.body))["error"]["code"] == "unavailable"


def test_a_bug_is_a_500_that_quotes_the_request_id() -> None:
    response = unexpected_error_response(LookupError("no such key"), "req-2")
    assert response.status_code == 500 and "retry-after" not in response.headers
    assert json.loads(bytes(response.body)) == {
        "error": {
            "code": "internal",
            "message": "internal error; see the server log",
            "details": {"request_id": "req-2"},
        }
    }
