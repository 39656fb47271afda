"""The poll-until helper against a real HTTP server that is still starting."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from inferline.testing.polling import NotReady, json_answer, poll_until, poll_until_async
from inferline.testing.server import free_port


class StartingServer(ThreadingHTTPServer):
    """Answers `starting` plain-text 503s (as Prometheus does while it starts), then JSON."""

    def __init__(self, starting: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.starting = starting
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class _Handler(BaseHTTPRequestHandler):
    server: StartingServer

    def do_GET(self) -> None:
        self.server.requests += 1
        if self.server.requests <= self.server.starting:
            status, kind, body = 503, "text/plain", b"Service Unavailable"
        else:
            status, kind, body = 200, "application/json", b'{"ready": true}'
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def starting_server() -> Iterator[StartingServer]:
    server = StartingServer(starting=3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_plain_text_503s_while_starting_are_not_ready(starting_server: StartingServer) -> None:
    answer = poll_until(
        lambda: json_answer(httpx.get(starting_server.url)), "ready", timeout=10, interval=0
    )
    assert answer == {"ready": True}
    assert starting_server.requests == 4


def test_the_timeout_shows_the_last_answer(starting_server: StartingServer) -> None:
    starting_server.starting = 10**9
    with pytest.raises(TimeoutError) as caught:
        poll_until(lambda: json_answer(httpx.get(starting_server.url)), "ready", timeout=0.3)
    message = str(caught.value)
    assert message.startswith("ready: not after 0.3 s")
    assert "last answer: NotReady: HTTP 503: Service Unavailable" in message


def test_a_refused_connection_is_not_ready() -> None:
    url = f"http://127.0.0.1:{free_port()}/"  # nobody listens there
    with pytest.raises(TimeoutError, match="last answer: ConnectError"):
        poll_until(lambda: httpx.get(url, timeout=1), "up", timeout=0.3)


def test_a_declined_answer_is_shown_and_a_real_error_raises_at_once() -> None:
    with pytest.raises(TimeoutError, match=r"last answer: \[1, 2\]"):
        poll_until(lambda: [1, 2], "three items", timeout=0.2, accept=lambda v: len(v) == 3)
    began = time.monotonic()
    empty: dict[str, int] = {}
    with pytest.raises(KeyError):
        poll_until(lambda: empty["missing"], "a bug in the probe", timeout=10)
    assert time.monotonic() - began < 1


def test_not_ready_raised_by_the_probe_is_retried() -> None:
    answers: Iterator[NotReady | str] = iter([NotReady("warming up"), NotReady("almost"), "done"])

    def probe() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert poll_until(probe, "done", timeout=5, interval=0) == "done"


async def test_the_async_form_takes_plain_and_coroutine_probes() -> None:
    calls = 0

    async def count() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert await poll_until_async(count, "3 calls", timeout=5, accept=lambda n: n >= 3) == 3
    assert await poll_until_async(lambda: calls, "calls read", timeout=5) == 3
    with pytest.raises(TimeoutError, match="last answer: False"):
        await poll_until_async(lambda: calls > 3, "a fourth call", timeout=0.1)
