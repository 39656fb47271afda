"""`inferline submit --wait` against a local HTTP server that plays the API."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from inferline.cli import main

JOB_ID = "0190d9a8-0000-7000-8000-000000000001"


class FakeApi(ThreadingHTTPServer):
    """Accepts one job and reports it `running` until it has been asked `runs_for` times."""

    def __init__(self, runs_for: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.runs_for = runs_for
        self.reads = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def job(self, status: str) -> dict[str, Any]:
        return {"id": JOB_ID, "model": "moving-average", "status": status}


class _Handler(BaseHTTPRequestHandler):
    server: FakeApi

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(202, self.server.job("queued"))

    def do_GET(self) -> None:
        self.server.reads += 1
        finished = self.server.reads > self.server.runs_for
        self._answer(200, self.server.job("succeeded" if finished else "running"))

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None


def serving(runs_for: int) -> Iterator[FakeApi]:
    api = FakeApi(runs_for)
    thread = threading.Thread(target=api.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield api
    api.shutdown()
    api.server_close()
    thread.join()


@pytest.fixture
def never_finishes() -> Iterator[FakeApi]:
    yield from serving(runs_for=1_000_000)


@pytest.fixture
def finishes_on_third_read() -> Iterator[FakeApi]:
    yield from serving(runs_for=2)


def submit(url: str, *extra: str) -> int:
    return main(["submit", "moving-average", "--input", "{}", "--wait", "--url", url, *extra])


def test_wait_prints_the_finished_job(
    finishes_on_third_read: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert submit(finishes_on_third_read.url) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "succeeded"
    assert finishes_on_third_read.reads == 3


def test_wait_gives_up_after_the_timeout_with_a_clear_error(never_finishes: FakeApi) -> None:
    begun = time.monotonic()
    with pytest.raises(SystemExit) as exited:
        submit(never_finishes.url, "--timeout", "0.3")
    waited = time.monotonic() - begun
    assert exited.value.code == (
        f"inferline: job {JOB_ID} has not finished after 0.3 s (it is running); "
        f"it goes on: `inferline jobs {JOB_ID}` shows it later"
    )
    assert 0.3 <= waited < 5
    assert never_finishes.reads >= 2


@pytest.mark.parametrize("bad", ["0", "-1", "soon", "inf", "nan"])
def test_a_timeout_that_is_not_a_positive_number_is_refused(
    bad: str, never_finishes: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        submit(never_finishes.url, "--timeout", bad)
    assert exited.value.code == 2  # argparse's usage error, before anything is submitted
    assert "argument --timeout" in capsys.readouterr().err
    assert never_finishes.reads == 0
