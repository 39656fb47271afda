"""Source S4 end to end, through the front door of one `inferline serve`: `fluent-logger`
sends over the Forward protocol, MiniLM embeds incidents, a scripted OpenAI-compatible
endpoint plays the LLM, and a local receiver plays Slack's incoming webhook.

An incident of one template is resolved first. Then 20,000 lines with a burst of 500
errors of the same template in one service and a few malformed records make exactly one
new incident for the burst, one Slack message for it plus one follow-up with the count,
the malformed records in the dead letters, and an analysis that names the resolved
incident as similar (the memory found it, and the LLM was shown it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fluent import sender as fluent_sender

from inferline.testing.polling import poll_until_async
from inferline.testing.server import ServerProcess, free_port, http_server
from tests.support.llm_endpoint import ScriptedEndpoint, completion, serving
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver

pytestmark = pytest.mark.timeout(600)

TIMEOUT = 180.0
WINDOW_SECONDS = 20  # the alert window: the whole burst falls inside one
LINES = 20_000
BURST = 500
MALFORMED = 7
DB_ERROR = "Connection to {db} refused on port {port} (attempt {n})"


def root_cause(similar: list[str]) -> str:
    return json.dumps(
        {
            "summary": "Checkout cannot reach its database.",
            "probable_cause": "The database refuses connections: it is down or full.",
            "severity": "high",
            "suggested_actions": ["Check the database's health", "Raise max_connections"],
            "similar_incident_ids": similar,
        }
    )


@pytest.fixture
def forward_port() -> int:
    return free_port()


def serve(tmp_path: Path, db_url: str, port: int, llm_url: str, slack_url: str) -> ServerProcess:
    return http_server(
        "serve",
        db_url,
        tmp_path / "server.log",
        "--workers-in-process",
        "0",
        models="minilm",
        llm_url=llm_url,
        llm_model="remote-model",
        slack_webhook_url=slack_url,
        alert_window_seconds=str(WINDOW_SECONDS),
        logs_forward_port=str(port),
        logs_forward_host="127.0.0.1",
        logs_batch_timeout_seconds="0.1",
        vector_path=str(tmp_path / "vectors"),
    )


def lines(start: int, count: int, burst_at: int | None = None) -> Iterator[dict[str, Any]]:
    """Info lines of three services; the burst of `checkout` errors as one block."""
    services = ("auth", "search", "catalog")
    for i in range(start, start + count):
        if burst_at is not None and burst_at <= i < burst_at + BURST:
            message = DB_ERROR.format(db="db-2", port=5433, n=i - burst_at)
            yield {"service": "checkout", "level": "error", "message": message}
            continue
        service = services[i % 3]
        yield {"service": service, "level": "info", "message": f"request {i} served in {i % 97} ms"}


def send(port: int, records: Iterator[dict[str, Any]], malformed: int = 0) -> int:
    """Send with the official client (Message mode, one record per frame); `malformed`
    records lack a level or a service. Returns how many were sent."""
    sender = fluent_sender.FluentSender("app", host="127.0.0.1", port=port, timeout=30)
    sent = 0
    try:
        for record in records:
            assert sender.emit("log", record), sender.last_error
            sent += 1
        for i in range(malformed):
            broken = {"message": f"no level {i}", "service": "auth"} if i % 2 else {"msg": "x"}
            assert sender.emit("log", broken), sender.last_error
            sent += 1
    finally:
        sender.close()
    return sent


async def incidents(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    answer = await client.get("/api/v1/logs/incidents", params=params)
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()["incidents"]
    return found


def about(receiver: WebhookReceiver, incident_id: str) -> list[str]:
    """The texts of the messages Slack got about the incident (its id is in the blocks)."""
    return [
        str(r.body.get("text", "")) for r in receiver.delivered if incident_id in json.dumps(r.body)
    ]


async def test_twenty_thousand_lines_make_one_incident_one_alert_and_an_informed_analysis(
    tmp_path: Path, db_url: str, forward_port: int
) -> None:
    llm = ScriptedEndpoint()
    async with webhook_receiver() as slack, serving(llm) as llm_url:
        server = serve(tmp_path, db_url, forward_port, llm_url, slack.url)
        await asyncio.to_thread(lambda: server.start().wait_ready())
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                await run_scenario(client, slack, llm, forward_port)
        finally:
            await asyncio.to_thread(server.stop)


async def run_scenario(
    client: httpx.AsyncClient, slack: WebhookReceiver, llm: ScriptedEndpoint, port: int
) -> None:
    # 1. A first incident of the template, analysed (without history) and resolved.
    llm.then(completion(root_cause([])))
    first = [
        {
            "service": "checkout",
            "level": "error",
            "message": DB_ERROR.format(db="db-1", port=5432, n=n),
        }
        for n in range(30)
    ]
    await asyncio.to_thread(send, port, iter(first))
    [past] = await poll_until_async(
        lambda: incidents(client, service="checkout"),
        "the first incident",
        timeout=TIMEOUT,
        accept=lambda found: len(found) == 1 and found[0]["count"] == 30,
    )
    resolved = await client.post(
        f"/api/v1/logs/incidents/{past['id']}/resolve",
        json={"resolution": "Restarted db-1 and raised max_connections to 400."},
    )
    assert resolved.status_code == 200, resolved.text

    # 2. The LLM names what it is shown; 20,000 lines with the burst and malformed records.
    llm.then(completion(root_cause([past["id"]])))
    sent = await asyncio.to_thread(send, port, lines(0, LINES, burst_at=LINES // 2), MALFORMED)
    assert sent == LINES + MALFORMED

    found = await poll_until_async(
        lambda: incidents(client, service="checkout", status="open"),
        "one new incident holding the whole burst",
        timeout=TIMEOUT,
        accept=lambda found: len(found) == 1 and found[0]["count"] == BURST,
    )
    burst = found[0]
    assert burst["id"] != past["id"] and burst["template"] == past["template"]
    assert len(await incidents(client, service="checkout")) == 2  # the past one and this one
    assert await incidents(client, service="auth") == []  # info lines open nothing

    # One Slack message at once, then one follow-up with the count when the window closes.
    messages = await poll_until_async(
        lambda: about(slack, burst["id"]),
        "the alert and its follow-up",
        timeout=WINDOW_SECONDS + TIMEOUT,
        accept=lambda texts: len(texts) >= 2,
    )
    assert len(messages) == 2, messages
    assert f"+{BURST - 1} more" in messages[1], messages[1]
    assert "checkout" in messages[0]

    # The malformed records, kept with their reasons.
    letters = (await client.get("/api/v1/logs/dead-letters", params={"limit": 100})).json()
    assert letters["total"] == MALFORMED

    # The analysis: the resolved incident found as similar, and named by the LLM.
    incident = await poll_until_async(
        lambda: client.get(f"/api/v1/logs/incidents/{burst['id']}"),
        "the burst's analysis",
        timeout=TIMEOUT,
        accept=lambda answer: answer.json().get("analysis") is not None,
    )
    analysis = incident.json()["analysis"]
    assert [p["id"] for p in analysis["similar"]] == [past["id"]]
    assert analysis["similar"][0]["resolution"].startswith("Restarted db-1")
    assert analysis["analysed"] is True
    assert analysis["root_cause"]["similar_incident_ids"] == [past["id"]]
    prompt = json.dumps(llm.requests[-1].body)
    assert "Restarted db-1" in prompt  # the past resolution was in the LLM's context
