"""The template miner's child process, through the front door of `inferline serve`: it
starts with the first lines, ends with its parent even when the parent is killed
(SIGKILL: no shutdown runs), and a restarted server goes on with the same templates."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fluent import sender as fluent_sender

from inferline.testing.polling import json_answer, poll_until
from inferline.testing.server import ServerProcess, free_port, http_server

pytestmark = pytest.mark.timeout(300)

TIMEOUT = 120.0
MINING = re.compile(r"mining templates in process (\d+)")


def serve(tmp_path: Path, db_url: str, port: int) -> ServerProcess:
    return http_server(
        "serve",
        db_url,
        tmp_path / "server.log",
        "--workers-in-process",
        "0",
        logs_forward_port=str(port),
        logs_forward_host="127.0.0.1",
        logs_batch_timeout_seconds="0.1",
    )


def lines(start: int, count: int) -> Iterator[dict[str, Any]]:
    for i in range(start, start + count):
        yield {"service": "auth", "level": "info", "message": f"user {i} logged in"}
        yield {"service": "search", "level": "warn", "message": f"query {i} took {i % 90} ms"}


def send(port: int, records: Iterator[dict[str, Any]]) -> None:
    sender = fluent_sender.FluentSender("app", host="127.0.0.1", port=port, timeout=30)
    try:
        for record in records:
            assert sender.emit("log", record), sender.last_error
    finally:
        sender.close()


def templates(url: str) -> dict[str, tuple[int, int]]:
    """Each template's text: (its id, how many lines)."""
    found = json_answer(httpx.get(f"{url}/api/v1/logs/templates", timeout=10))
    return {t["template"]: (t["template_id"], t["count"]) for t in found["templates"]}


def counted(url: str, lines: int) -> dict[str, tuple[int, int]]:
    return poll_until(
        lambda: templates(url),
        f"{lines} lines in the templates",
        timeout=TIMEOUT,
        accept=lambda found: sum(count for _, count in found.values()) == lines,
    )


def mining_pid(server: ServerProcess) -> int:
    found = poll_until(
        lambda: MINING.findall(server.log_path.read_text()),
        "the mining process in the server's log",
        timeout=TIMEOUT,
    )
    return int(found[-1])


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie waiting for its reaper is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_the_mining_process_dies_with_a_killed_server_and_a_restart_keeps_the_templates(
    tmp_path: Path, db_url: str
) -> None:
    port = free_port()
    server = serve(tmp_path, db_url, port)
    server.start().wait_ready()
    try:
        send(port, lines(0, 500))
        before = counted(server.url, 1000)
        child = mining_pid(server)
        assert child != server.process.pid and running(child)  # type: ignore[union-attr]
    finally:
        server.kill()
    poll_until(lambda: not running(child), "the mining process to end", timeout=TIMEOUT)

    restarted = serve(tmp_path, db_url, port)
    restarted.start().wait_ready()
    try:
        send(port, lines(500, 500))
        after = counted(restarted.url, 2000)
        assert after == {text: (tid, count * 2) for text, (tid, count) in before.items()}
        assert mining_pid(restarted) not in (child, os.getpid())
    finally:
        restarted.stop()
