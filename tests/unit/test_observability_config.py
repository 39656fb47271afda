"""The shipped Prometheus configuration and alert rules are valid, and the alerts fire as meant."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.support.requirements import require_tool

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def _promtool(*args: str) -> str:
    result = subprocess.run(
        [require_tool("promtool"), *args],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_alert_rules_are_valid() -> None:
    assert "SUCCESS" in _promtool("check", "rules", "alerts.yml")


def test_scrape_config_is_valid() -> None:
    assert "SUCCESS" in _promtool("check", "config", "prometheus.yml")


def test_alerts_fire_on_dead_jobs_queue_growth_and_worker_down() -> None:
    assert "SUCCESS" in _promtool("test", "rules", "alerts.test.yml")


def _exported_names() -> set[str]:
    """Every sample name Inferline's metrics can export (histogram and counter suffixes too)."""
    from inferline.core.metrics import Metrics

    suffixes = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("_total",)}
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names |= {family.name + suffix for suffix in suffixes.get(family.type, ("",))}
    return names


def test_dashboards_and_alerts_only_use_exported_metrics() -> None:
    grafana = PROMETHEUS_DIR.parent / "grafana" / "inferline-dashboard.json"
    dashboard = json.loads(grafana.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = set(re.findall(r"\binferline_[a-z_]+", " ".join(exprs)))
    used |= set(re.findall(r"\binferline_[a-z_]+", (PROMETHEUS_DIR / "alerts.yml").read_text()))
    exported = _exported_names()
    assert used, "no metric found"
    assert used <= exported, f"not exported: {sorted(used - exported)}"
