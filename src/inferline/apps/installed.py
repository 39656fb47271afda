"""The apps the HTTP API serves, in the order their routes are matched (hottest first)."""

from __future__ import annotations

from inferline.api.app import WebApp
from inferline.apps import embeddings, news, ocr, recsys, timeseries
from inferline.apps.logs import report_routes as log_reports

INSTALLED_APPS: tuple[WebApp, ...] = (embeddings, timeseries, news, ocr, recsys, log_reports)
