"""The app factory: it matches the job routes, then the installed apps, before the rest
of the platform's routes; refuses an app that claims a method and path someone else
serves, and hands apps their own services."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, Request
from fastapi.routing import APIRoute

from inferline.api.app import create_app
from inferline.api.routes import jobs
from inferline.apps import embeddings, timeseries
from inferline.apps.installed import INSTALLED_APPS
from inferline.bootstrap import Container, build_container
from inferline.core.settings import Settings
from inferline.models.moving_average import MovingAverage
from inferline.runtime.registry import ModelRegistry


def _container(db_url: str) -> Container:
    settings = Settings(database_url=db_url, models=[MovingAverage.name])
    return build_container(settings, registry=ModelRegistry([MovingAverage]))


def test_job_routes_then_the_installed_apps_are_matched_first_in_their_order(
    db_url: str,
) -> None:
    container = _container(db_url)
    app = create_app(
        container.plane,
        container,
        metrics=container.metrics,
        settings=container.settings,
        apps=INSTALLED_APPS,
    )
    paths = list(app.openapi()["paths"])  # in the order the routes are matched
    first = [
        route.path_format
        for router in (jobs.router, embeddings.router, timeseries.router)
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    assert paths[: len(set(first))] == list(dict.fromkeys(first))


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


class Greetings:
    """An app's own service: counts greetings, and whether the process started it."""

    def __init__(self) -> None:
        self.started = self.stopped = False
        self.count = 0

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


class GreetingApp:
    """An app whose route reads its service from `app.state`."""

    router = APIRouter()


@GreetingApp.router.post("/api/v1/greetings")
async def greet(request: Request) -> dict[str, int]:
    greetings: Greetings = request.app.state.greetings
    greetings.count += 1
    return {"count": greetings.count}


async def test_an_apps_own_service_runs_with_the_process_and_serves_its_routes(
    db_url: str,
) -> None:
    container = _container(db_url)
    greetings = Greetings()
    container.add_app_service("greetings", greetings)
    app = create_app(
        container.plane,
        container,
        metrics=container.metrics,
        settings=container.settings,
        apps=[GreetingApp()],
        app_services=container.app_services,
    )
    async with app.router.lifespan_context(app):
        await container.wait_until_loaded()
        assert greetings.started and container.plane.readiness().ready
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            response = await client.post("/api/v1/greetings")
        assert (response.status_code, response.json()) == (200, {"count": 1})
    assert greetings.stopped


def test_two_app_services_of_one_name_are_refused(db_url: str) -> None:
    container = _container(db_url)
    container.add_app_service("greetings", Greetings())
    with pytest.raises(ValueError, match="two app services are named 'greetings'"):
        container.add_app_service("greetings", Greetings())
