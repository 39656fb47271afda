"""The app factory: it serves the installed apps before the platform's routes and refuses
an app that claims a method and path someone else serves."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute

from inferline.api.app import create_app
from inferline.apps import embeddings, timeseries
from inferline.apps.installed import INSTALLED_APPS
from inferline.bootstrap import Container, build_container
from inferline.core.settings import Settings
from inferline.models.moving_average import MovingAverage
from inferline.runtime.registry import ModelRegistry


def _container(db_url: str) -> Container:
    settings = Settings(database_url=db_url, models=[MovingAverage.name])
    return build_container(settings, registry=ModelRegistry([MovingAverage]))


def test_the_installed_apps_are_served_first_in_their_order(db_url: str) -> None:
    container = _container(db_url)
    app = create_app(
        container.plane,
        container,
        metrics=container.metrics,
        settings=container.settings,
        apps=INSTALLED_APPS,
    )
    paths = list(app.openapi()["paths"])  # in the order the routes are matched
    apps_paths = [
        route.path_format
        for web_app in (embeddings, timeseries)
        for route in web_app.router.routes
        if isinstance(route, APIRoute)
    ]
    assert paths[: len(apps_paths)] == list(dict.fromkeys(apps_paths))


class ShadowingApp:
    """An app whose route is the platform's job submission."""

    router = APIRouter()


@ShadowingApp.router.post("/api/v1/jobs")
async def shadow() -> dict[str, str]:
    return {}


def test_an_app_that_shadows_a_platform_route_is_refused(db_url: str) -> None:
    container = _container(db_url)
    with pytest.raises(ValueError, match="two routes serve POST /api/v1/jobs"):
        create_app(
            container.plane,
            container,
            metrics=container.metrics,
            settings=container.settings,
            apps=[ShadowingApp()],
        )
