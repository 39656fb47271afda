"""Source S4's log analysis: logs from Fluent Bit (Forward protocol or HTTP) validated into
`LogRecord`s, mined into templates, grouped into incidents, matched with past incidents,
analysed by the LLM and announced on Slack with window throttling. The package's `router`
serves the HTTP API."""

from inferline.apps.logs.incident_routes import router

__all__ = ["router"]
