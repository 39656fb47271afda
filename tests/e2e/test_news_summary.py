"""The news summary through the LLM port: an OpenAI-compatible endpoint (a local receiver
that records what it is sent) and the locally served SmolLM2."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from inferline.models.smollm2 import SmolLM2
from inferline.testing.server import http_server
from tests.support.requirements import missing

ARTICLE = {
    "title": "Floods devastate towns after record rainfall",
    "content": "<p>Thousands were evacuated as rivers burst their banks. More rain is due.</p>",
    "url": "https://news.example.com/floods",
    "source": "Example News",
}


@dataclass
class ChatReceiver:
    """A stand-in OpenAI endpoint: records each chat request, answers `reply`."""

    reply: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> ChatReceiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"path": self.path, "body": body})
                answer = json.dumps(
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": 1,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": owner.reply},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 42, "completion_tokens": 12, "total_tokens": 54},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[ChatReceiver]:
    server = ChatReceiver(reply='"Floods forced thousands from their homes." More rain is due.')
    yield server.start()
    server.stop()


def test_the_summary_comes_from_the_configured_openai_compatible_endpoint(
    tmp_path: Path, db_url: str, receiver: ChatReceiver
) -> None:
    server = http_server(
        "serve",
        db_url,
        tmp_path / "server.log",
        models="moving-average",
        llm_url=receiver.base_url,
        llm_model="news-summariser",
    )
    server.start().wait_ready()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            answer = client.post("/inference/single", json=ARTICLE)
            assert answer.status_code == 200, answer.text
            body = answer.json()
    finally:
        server.stop()
    summary = {r["analyser"]: r for r in body["results"]}["summary"]
    assert summary["status"] == "ok", summary
    assert body["summary"] == "Floods forced thousands from their homes."
    assert summary["output"]["model"] == "news-summariser"
    assert summary["output"]["completion_tokens"] == 12
    (sent,) = receiver.requests
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["model"] == "news-summariser"
    assert sent["body"]["temperature"] == 0
    system, user = sent["body"]["messages"]
    assert system["role"] == "system" and "one sentence" in system["content"]
    assert user["content"].startswith("Title: Floods devastate towns after record rainfall")
    assert "<p>" not in user["content"] and "Thousands were evacuated" in user["content"]


def test_the_summary_from_the_locally_served_smollm2(tmp_path: Path, db_url: str) -> None:
    if reason := SmolLM2.missing_requirements():
        missing(reason)
    server = http_server(
        "serve",
        db_url,
        tmp_path / "server.log",
        models="smollm2",
        model_plugins="inferline.models.smollm2:SmolLM2",
    )
    server.start().wait_ready(timeout=110)
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            answer = client.post("/inference/single", json=ARTICLE)
            assert answer.status_code == 200, answer.text
            body = answer.json()
    finally:
        server.stop()
    summary = {r["analyser"]: r for r in body["results"]}["summary"]
    assert summary["status"] == "ok", summary
    assert summary["output"]["model"] == "smollm2"
    assert 10 <= len(body["summary"]) <= 400
    assert "\n" not in body["summary"]
