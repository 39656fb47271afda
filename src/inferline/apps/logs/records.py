"""A log record as Inferline keeps it: `LogRecord`, validated and normalised from what a
collector sends (Fluent Bit's Forward protocol or HTTP output, a client's JSON).

Collectors disagree on names, so `LogRecord.from_collector` accepts the usual aliases:
the message in `message`, `msg` or `log` (Docker's and containerd's key); the level in
`level`, `severity`, `lvl` or `log.level`; the time in `timestamp`, `@timestamp`, `time`
or `ts` (or the Forward protocol's event time); the service in `service`,
`service.name`, `app`, or the Kubernetes labels `app.kubernetes.io/name` and `app`, else
the container's name. Levels normalise to seven names (`WARNING` -> `WARN`, `err` ->
`ERROR`, syslog numbers); times to timezone-aware UTC (ISO 8601, epoch seconds or
milliseconds). What is left of the record is kept in `attributes`.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from inferline.domain.jobs import DEFAULT_TENANT
from inferline.ports.log_archive import ArchiveLine

MAX_MESSAGE_CHARS = 32_768
MAX_NAME_CHARS = 253  # a DNS name: the longest Kubernetes object name
MAX_ATTRIBUTES = 64
# Epoch numbers above this are milliseconds (it is 2286-11-20 in seconds).
MILLISECONDS_FROM = 10_000_000_000
_SEP = "\x1f"  # the ASCII unit separator, between a fingerprint's fields


class Level(StrEnum):
    """Severity, lowest first."""

    TRACE = "TRACE"
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"
    FATAL = "FATAL"

    @property
    def is_error(self) -> bool:
        return self in (Level.ERROR, Level.FATAL)


_LEVEL_ALIASES: dict[str, Level] = {
    "trace": Level.TRACE,
    "debug": Level.DEBUG,
    "dbg": Level.DEBUG,
    "info": Level.INFO,
    "information": Level.INFO,
    "informational": Level.INFO,
    "notice": Level.INFO,
    "warn": Level.WARN,
    "warning": Level.WARN,
    "error": Level.ERROR,
    "err": Level.ERROR,
    "fatal": Level.FATAL,
    "critical": Level.FATAL,
    "crit": Level.FATAL,
    "alert": Level.FATAL,
    "emerg": Level.FATAL,
    "emergency": Level.FATAL,
    "panic": Level.FATAL,
}
# syslog severities 0-7 (RFC 5424)
_SYSLOG_LEVELS = (
    Level.FATAL,
    Level.FATAL,
    Level.FATAL,
    Level.ERROR,
    Level.WARN,
    Level.INFO,
    Level.INFO,
    Level.DEBUG,
)

_MESSAGE_KEYS = ("message", "msg", "log")
_LEVEL_KEYS = ("level", "severity", "lvl", "log.level", "loglevel")
_TIME_KEYS = ("timestamp", "@timestamp", "time", "ts")
_SERVICE_KEYS = ("service", "service.name", "service_name", "app")
_TRACE_KEYS = ("trace_id", "traceId", "trace.id")
_SPAN_KEYS = ("span_id", "spanId", "span.id")


def normalise_level(value: object) -> Level:
    """A level from a name (any case, common aliases) or a syslog number 0-7."""
    if isinstance(value, Level):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a log level: {value!r}")
    if isinstance(value, int) and 0 <= value < len(_SYSLOG_LEVELS):
        return _SYSLOG_LEVELS[value]
    if isinstance(value, str):
        name = value.strip().lower()
        if name.isdigit() and int(name) < len(_SYSLOG_LEVELS):
            return _SYSLOG_LEVELS[int(name)]
        if name in _LEVEL_ALIASES:
            return _LEVEL_ALIASES[name]
    raise ValueError(f"not a log level: {value!r} (expected one of {', '.join(Level)})")


def normalise_time(value: object) -> datetime:
    """UTC from an aware or naive (taken as UTC) datetime, ISO 8601 text, or epoch
    seconds or milliseconds."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    elif isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"not a timestamp: {value!r}")
        seconds = value / 1000 if value >= MILLISECONDS_FROM else value
        moment = datetime.fromtimestamp(seconds, UTC)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"not a timestamp: {value!r} (ISO 8601 or epoch)") from None
        else:
            return normalise_time(number)
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class KubernetesMeta(BaseModel):
    """Where the line came from in a cluster (Fluent Bit's kubernetes filter's names)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    namespace: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    pod: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    container: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    node: str | None = Field(default=None, max_length=MAX_NAME_CHARS)

    @classmethod
    def from_filter(cls, meta: dict[str, Any]) -> KubernetesMeta:
        return cls(
            namespace=meta.get("namespace_name") or meta.get("namespace"),
            pod=meta.get("pod_name") or meta.get("pod"),
            container=meta.get("container_name") or meta.get("container"),
            node=meta.get("host") or meta.get("node"),
        )


class LogRecord(BaseModel):
    """One validated, normalised log line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timestamp: datetime
    tenant: str = Field(default=DEFAULT_TENANT, min_length=1, max_length=64)
    """Whose log it is: the ingesting caller's tenant (never taken from the collector's
    fields, so a collector cannot write into another tenant's templates and incidents)."""
    service: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    level: Level
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    trace_id: str | None = Field(default=None, max_length=128)
    span_id: str | None = Field(default=None, max_length=128)
    kubernetes: KubernetesMeta | None = None
    tag: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=MAX_ATTRIBUTES)

    @field_validator("timestamp", mode="before")
    @classmethod
    def _utc(cls, value: object) -> datetime:
        return normalise_time(value)

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, value: object) -> Level:
        return normalise_level(value)

    @field_validator("message", mode="before")
    @classmethod
    def _message(cls, value: object) -> object:
        return value.rstrip("\r\n") if isinstance(value, str) else value

    def archive_line(self, template_id: str | None) -> ArchiveLine:
        """The line as the archive stores it, with its content's fingerprint."""
        k8s = self.kubernetes
        at = self.timestamp.timestamp()
        return ArchiveLine(
            timestamp=at,
            service=self.service,
            level=str(self.level),
            message=self.message,
            template_id=template_id,
            trace_id=self.trace_id,
            span_id=self.span_id,
            k8s_namespace=k8s.namespace if k8s else None,
            k8s_pod=k8s.pod if k8s else None,
            k8s_container=k8s.container if k8s else None,
            k8s_node=k8s.node if k8s else None,
            tag=self.tag,
            attributes=dict(self.attributes) if self.attributes else None,
            record_hash=_fingerprint(self, at),
        )

    @classmethod
    def from_collector(
        cls,
        fields: dict[str, Any],
        *,
        tag: str | None = None,
        event_time: float | datetime | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> LogRecord:
        """A record from a collector's map, its aliases resolved, for the ingesting caller's
        `tenant`; raises `pydantic.ValidationError` (a ValueError) naming what is missing
        or wrong."""
        rest = dict(fields)
        kubernetes = rest.pop("kubernetes", None)
        k8s = KubernetesMeta.from_filter(kubernetes) if isinstance(kubernetes, dict) else None
        labels = kubernetes.get("labels", {}) if isinstance(kubernetes, dict) else {}
        timestamp = _pop_first(rest, _TIME_KEYS)
        service = _pop_first(rest, _SERVICE_KEYS)
        if service is None and isinstance(labels, dict):
            service = labels.get("app.kubernetes.io/name") or labels.get("app")
        if service is None and k8s is not None:
            service = k8s.container
        return cls.model_validate(
            {
                "timestamp": timestamp if timestamp is not None else event_time,
                "service": service,
                "level": _pop_first(rest, _LEVEL_KEYS),
                "message": _pop_first(rest, _MESSAGE_KEYS),
                "trace_id": _pop_first(rest, _TRACE_KEYS),
                "span_id": _pop_first(rest, _SPAN_KEYS),
                "kubernetes": k8s,
                "tag": tag,
                "tenant": tenant,
                "attributes": rest,
            }
        )


def _fingerprint(line: LogRecord, at: float) -> str:
    """The hash of a line's content (time, origin, level, text, trace, tag), in one
    f-string: it runs for every archived line."""
    k8s = line.kubernetes
    origin = f"{k8s.namespace}{_SEP}{k8s.pod}{_SEP}{k8s.container}" if k8s else ""
    text = (
        f"{at!r}{_SEP}{line.service}{_SEP}{line.level}{_SEP}{line.message}"
        f"{_SEP}{line.trace_id}{_SEP}{line.span_id}{_SEP}{origin}{_SEP}{line.tag}"
    )
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _pop_first(fields: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The first key's value that is present (all the aliases are removed)."""
    found = None
    for key in keys:
        value = fields.pop(key, None)
        if found is None and value is not None:
            found = value
    return found
