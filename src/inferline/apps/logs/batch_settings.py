"""The log archive's and batch jobs' settings, from the environment (INFERLINE_LOGS_*)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
"""A service name as Kubernetes, systemd and most tracers spell them: letters, digits and
`. _ : / -`, starting with a letter or digit."""


class LogBatchSettings(BaseSettings):
    """Retention, schedule and quality thresholds. Each is INFERLINE_LOGS_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="INFERLINE_LOGS_", extra="ignore")

    retention_days: float = Field(default=7.0, gt=0, le=3650)
    """Archived lines received longer ago are deleted (hourly, by the scheduler)."""

    schedule: Literal["on", "off"] = "on"
    """Run the hourly aggregation and the daily quality check inside the worker processes
    (`inferline serve`, `inferline worker`); `off` when an external scheduler (Airflow's
    DAGs in deploy/airflow/) calls `inferline logs aggregate` and `inferline logs quality`."""

    aggregate_delay_seconds: float = Field(default=300.0, ge=0, le=86_400)
    """How long after an hour ends its counts are taken (lines arrive a little late)."""

    quality_delay_seconds: float = Field(default=900.0, ge=0, le=86_400)
    """How long after a day ends (UTC) its quality is checked."""

    known_services: str = ""
    """Comma-separated service names; when set, the service domain check also fails lines
    of any other service."""

    service_pattern: str = SERVICE_PATTERN
    """What a service name must match (a regular expression)."""

    quality_chunk_rows: int = Field(default=50_000, ge=100, le=1_000_000)
    """Lines read at a time by the quality check (its memory is bounded by this)."""

    max_incomplete_share: float = Field(default=0.0, ge=0, le=1)
    """Completeness: the largest share of lines with a required field null or empty."""

    min_trace_share: float = Field(default=0.0, ge=0, le=1)
    """Completeness: the smallest share of lines with a trace id (0: reported only)."""

    max_bad_level_share: float = Field(default=0.0, ge=0, le=1)
    max_bad_service_share: float = Field(default=0.0, ge=0, le=1)

    max_out_of_order_share: float = Field(default=0.01, ge=0, le=1)
    """Timestamp order: the largest share of lines older than an earlier-received line of
    the same service by more than `order_tolerance_seconds`."""

    order_tolerance_seconds: float = Field(default=1.0, ge=0)
    """Replicas of a service write concurrently: lines this much out of order are normal."""

    max_outside_day_share: float = Field(default=0.01, ge=0, le=1)
    """The largest share of a day's lines (by receipt) whose timestamp is not in that day,
    give or take `day_skew_seconds`."""

    day_skew_seconds: float = Field(default=300.0, ge=0)

    max_duplicate_share: float = Field(default=0.01, ge=0, le=1)
    """The largest share of lines that repeat an identical earlier line."""

    @field_validator("service_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(
                f"INFERLINE_LOGS_SERVICE_PATTERN is not a regular expression: {exc}"
            ) from None
        return value

    def services(self) -> frozenset[str]:
        """The allowed services (empty: any that matches the pattern)."""
        return frozenset(s.strip() for s in self.known_services.split(",") if s.strip())
