"""Source S4's log analysis: logs from Fluent Bit (Forward protocol or HTTP) validated into
`LogRecord`s, mined into templates, grouped into incidents, matched with past incidents,
analysed by the LLM and announced on Slack with window throttling. The package's
`router` serves the HTTP API: ingest and dead letters, templates and incidents, batch reports."""

from fastapi import APIRouter

from inferline.apps.logs import incident_routes, report_routes, routes

router = APIRouter()
router.include_router(routes.router)
router.include_router(incident_routes.router)
router.include_router(report_routes.router)

__all__ = ["router"]
