"""Fluent Bit's configuration (deploy/fluent-bit): every regex parser parses sample lines of
the formats source S4 names (generic `level timestamp message` lines, nginx and Apache
access and error logs, Java/Spring, Python logging) into the fields Inferline's LogRecord
reads, the filters in fluent-bit.conf's order turn each sample into a valid LogRecord
with the right level, and the inputs, the kubernetes filter and the outputs are the ones
the documentation promises.

No Fluent Bit binary installs here: the regexes are Onigmo's, read as Python's by turning
`(?<name>...)` into `(?P<name>...)` (tests/support/fluent_bit.py), and the parser and
modify filters are applied as Fluent Bit applies them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from inferline.apps.logs.records import Level, LogRecord
from tests.support.deploy import DEPLOY
from tests.support.fluent_bit import Section, parsers, python_regex, run_filters, sections

FLUENT_BIT = DEPLOY / "fluent-bit"
PARSERS = parsers(FLUENT_BIT / "parsers.conf")
CONFIG = sections(FLUENT_BIT / "fluent-bit.conf")

# parser -> (line, fields the parser must extract, the level Inferline ends up with)
SAMPLES: dict[str, list[tuple[str, dict[str, str], Level]]] = {
    "spring_boot": [
        (
            "2024-01-15 10:30:45.123  INFO 12345 --- [           main] "
            "c.e.orders.OrderApplication : Started OrderApplication in 3.2 seconds",
            {
                "timestamp": "2024-01-15 10:30:45.123",
                "level": "INFO",
                "pid": "12345",
                "thread": "main",
                "logger": "c.e.orders.OrderApplication",
                "message": "Started OrderApplication in 3.2 seconds",
            },
            Level.INFO,
        ),
        (
            "2024-01-15T10:30:45.123+09:00 ERROR 7 --- [nio-8080-exec-3] "
            "o.a.c.c.C.[.[.[/].[dispatcherServlet] : Servlet.service() threw exception",
            {
                "level": "ERROR",
                "thread": "nio-8080-exec-3",
                "timestamp": "2024-01-15T10:30:45.123+09:00",
            },
            Level.ERROR,
        ),
    ],
    "java_logback": [
        (
            "2024-01-15 10:30:45,123 [http-nio-8080-exec-1] ERROR "
            "c.e.orders.OrderController - Payment failed for order 42",
            {
                "timestamp": "2024-01-15 10:30:45,123",
                "thread": "http-nio-8080-exec-1",
                "level": "ERROR",
                "logger": "c.e.orders.OrderController",
                "message": "Payment failed for order 42",
            },
            Level.ERROR,
        ),
        (
            "2024-01-15T10:30:45.123Z [scheduling-1] WARN  c.e.Jobs - retrying in 5s",
            {"level": "WARN", "thread": "scheduling-1", "message": "retrying in 5s"},
            Level.WARN,
        ),
    ],
    "python_logging": [
        (
            "2024-01-15 10:30:45,123 - orders.db - ERROR - connection pool exhausted (size=10)",
            {
                "timestamp": "2024-01-15 10:30:45,123",
                "logger": "orders.db",
                "level": "ERROR",
                "message": "connection pool exhausted (size=10)",
            },
            Level.ERROR,
        ),
        (
            "2024-01-15 10:30:45,987 - uvicorn.error - WARNING - - the message has dashes - too",
            {
                "level": "WARNING",
                "logger": "uvicorn.error",
                "message": "- the message has dashes - too",
            },
            Level.WARN,
        ),
    ],
    "python_basic": [
        (
            "CRITICAL:orders.worker:queue unreachable: redis:6379",
            {
                "level": "CRITICAL",
                "logger": "orders.worker",
                "message": "queue unreachable: redis:6379",
            },
            Level.FATAL,
        ),
    ],
    "level_time_message": [
        (
            "ERROR 2024-01-15T10:30:45.123Z Database connection timeout after 30s",
            {
                "level": "ERROR",
                "timestamp": "2024-01-15T10:30:45.123Z",
                "message": "Database connection timeout after 30s",
            },
            Level.ERROR,
        ),
        (
            "[WARN] [2024-01-15 10:30:45] disk usage at 91%",
            {"level": "WARN", "timestamp": "2024-01-15 10:30:45", "message": "disk usage at 91%"},
            Level.WARN,
        ),
    ],
    "time_level_message": [
        (
            "2024-01-15T10:30:45Z INFO user 7 logged in",
            {"timestamp": "2024-01-15T10:30:45Z", "level": "INFO", "message": "user 7 logged in"},
            Level.INFO,
        ),
        (
            "2024-01-15 10:30:45.5 FATAL out of memory",
            {"level": "FATAL", "message": "out of memory"},
            Level.FATAL,
        ),
    ],
    "access_log": [
        (  # nginx's combined format (also Apache's combined)
            '10.0.3.7 - alice [15/Jan/2024:10:30:45 +0000] "GET /api/v1/jobs?limit=5 HTTP/1.1" '
            '502 157 "-" "curl/8.5.0"',
            {
                "remote": "10.0.3.7",
                "user": "alice",
                "method": "GET",
                "path": "/api/v1/jobs?limit=5",
                "protocol": "HTTP/1.1",
                "status": "502",
                "size": "157",
                "referer": "-",
                "agent": "curl/8.5.0",
            },
            Level.ERROR,
        ),
        (  # Apache's common format: no referer, no agent
            '192.168.1.20 - - [15/Jan/2024:10:30:46 +0900] "POST /login HTTP/1.0" 404 -',
            {"remote": "192.168.1.20", "method": "POST", "status": "404", "size": "-"},
            Level.WARN,
        ),
        (
            '10.0.3.8 - - [15/Jan/2024:10:30:47 +0000] "GET /healthz HTTP/2.0" 200 2 "-" '
            '"kube-probe/1.32"',
            {"status": "200", "agent": "kube-probe/1.32"},
            Level.INFO,
        ),
    ],
    "nginx_error": [
        (
            "2024/01/15 10:30:45 [error] 31#31: *1042 upstream timed out (110: Connection "
            "timed out) while reading response header from upstream",
            {
                "level": "error",
                "pid": "31",
                "tid": "31",
                "connection": "1042",
                "message": "upstream timed out (110: Connection timed out) while reading "
                "response header from upstream",
            },
            Level.ERROR,
        ),
        (
            "2024/01/15 10:30:46 [warn] 1#1: conflicting server name on 0.0.0.0:80, ignored",
            {"level": "warn", "message": "conflicting server name on 0.0.0.0:80, ignored"},
            Level.WARN,
        ),
    ],
    "apache_error": [
        (
            "[Mon Jan 15 10:30:45.123456 2024] [proxy:error] [pid 4242:tid 139] "
            "[client 10.0.3.7:51234] AH00957: connect to backend failed",
            {
                "module": "proxy",
                "level": "error",
                "pid": "4242",
                "tid": "139",
                "client": "10.0.3.7:51234",
                "message": "AH00957: connect to backend failed",
            },
            Level.ERROR,
        ),
        (
            "[Mon Jan 15 10:30:46.000001 2024] [mpm_event:notice] [pid 1:tid 2] "
            "AH00489: Apache/2.4.62 configured -- resuming normal operations",
            {"module": "mpm_event", "level": "notice"},
            Level.INFO,
        ),
    ],
}

# Lines no parser knows: they stay text, and get their level from their words.
UNPARSED = [
    ('Traceback (most recent call last):\n  File "app.py", line 3', Level.ERROR),
    ("listening on :8080", Level.INFO),
]

EVENT_TIME = datetime(2024, 1, 15, 10, 31, tzinfo=UTC)


def _filters(kind: str) -> list[Section]:
    return [s for s in CONFIG if s.name == "FILTER" and s.get("Name") == kind]


def _only(name: str, kind: str | None = None) -> Section:
    found = [s for s in CONFIG if s.name == name and (kind is None or s.get("Name") == kind)]
    assert len(found) == 1, f"expected one [{name}] {kind or ''}, found {len(found)}"
    return found[0]


def test_every_parser_has_samples_and_every_regex_compiles() -> None:
    assert set(PARSERS) == set(SAMPLES)
    for parser in PARSERS.values():
        assert parser.regex.pattern.startswith("^") and parser.regex.pattern.endswith("$")


@pytest.mark.parametrize(
    ("parser", "line", "expected"),
    [(name, line, fields) for name, cases in SAMPLES.items() for line, fields, _ in cases],
)
def test_parsers_extract_the_fields(parser: str, line: str, expected: dict[str, str]) -> None:
    record = PARSERS[parser].parse(line)
    assert record is not None, f"{parser} does not match {line!r}"
    assert {k: record.get(k) for k in expected} == expected
    if PARSERS[parser].time_key:  # the time became the event time, in the right format
        assert isinstance(record["__event_time"], datetime)
        assert record["__event_time"].year == 2024
    # What Inferline reads, it reads under its own names.
    assert "message" in record or parser == "access_log"


@pytest.mark.parametrize(
    ("parser", "line", "level"),
    [(name, line, level) for name, cases in SAMPLES.items() for line, _, level in cases]
    + [(None, line, level) for line, level in UNPARSED],
)
def test_the_filters_make_a_valid_log_record(parser: str | None, line: str, level: Level) -> None:
    """The record as it leaves the tail input and the kubernetes filter, through the
    parser and modify filters in their order, is one that LogRecord accepts."""
    collected: dict[str, Any] = {
        "log": line,
        "stream": "stdout",
        "kubernetes": {
            "namespace_name": "shop",
            "pod_name": "orders-7d4b9c-x2x9z",
            "container_name": "orders",
            "host": "node-1",
            "labels": {"app.kubernetes.io/name": "orders"},
        },
    }
    record = run_filters(CONFIG, PARSERS, collected)
    if parser is not None:  # the intended parser won, not an earlier, looser one
        assert record == {**record, **(PARSERS[parser].parse(line) or {"no": "match"})}
    event_time = record.pop("__event_time", EVENT_TIME)
    log = LogRecord.from_collector(record, tag="kube.var.log.containers.x", event_time=event_time)
    assert log.level is level
    assert log.service == "orders"
    assert log.message
    assert log.attributes.get("cluster") == "${CLUSTER_NAME}"  # filled by Fluent Bit


def test_the_parser_filter_lists_every_parser_once() -> None:
    (parser_filter,) = _filters("parser")
    listed = parser_filter.all("Parser")
    assert sorted(listed) == sorted(PARSERS)
    assert parser_filter.get("Key_Name") == "log"
    assert parser_filter.get("Reserve_Data") == "On", "the kubernetes metadata must stay"


def test_container_logs_are_tailed_with_the_runtime_parsers() -> None:
    tail = _only("INPUT", "tail")
    assert tail.get("Path") == "/var/log/containers/*.log"
    assert [p.strip() for p in (tail.get("multiline.parser") or "").split(",")] == ["cri", "docker"]
    assert tail.get("Tag") == "kube.*"
    assert "fluent-bit" in (tail.get("Exclude_Path") or ""), "its own lines would loop"
    assert tail.get("DB"), "read positions must survive a restart"
    kubernetes = _only("FILTER", "kubernetes")
    assert kubernetes.get("Merge_Log") == "On"
    assert kubernetes.get("Kube_Tag_Prefix") == "kube.var.log.containers."
    service = _only("SERVICE")
    assert service.get("Parsers_File") == "parsers.conf"
    assert service.get("HTTP_Port") == "2020"


def test_the_output_is_inferlines_forward_port_and_http_is_the_documented_alternative() -> None:
    forward = _only("OUTPUT", "forward")
    assert forward.get("Host") == "${FORWARD_HOST}"
    assert forward.get("Port") == "${FORWARD_PORT}"
    assert forward.get("Require_ack_response") == "True"
    assert [s.get("Name") for s in CONFIG if s.name == "OUTPUT"] == ["forward"]
    # The HTTP alternative is there, commented out, with the route and an API key.
    commented = [
        line.strip().lstrip("#").strip()
        for line in (FLUENT_BIT / "fluent-bit.conf").read_text().splitlines()
        if line.strip().startswith("#")
    ]
    alternative = "\n".join(commented[commented.index("[OUTPUT]") :])
    assert "Name                 http" in alternative
    assert "URI                  /api/v1/logs" in alternative
    assert "Format               json_lines" in alternative
    assert "X-API-Key ${INFERLINE_API_KEY}" in alternative


def test_the_regex_translation_keeps_lookarounds() -> None:
    assert python_regex(r"(?<=a)(?<!b)(?<name>c)").groupindex == {"name": 1}
