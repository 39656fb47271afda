"""The dashboard's front end: the page at `/` and its built assets under `/assets/`.

The front end routes in the URL fragment (`/#/jobs/<id>`), so every deep link loads
`/` and no catch-all route is needed: nothing here can shadow an API route, and
the page works unchanged behind a reverse proxy under any path prefix.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from inferline.api.auth import public
from inferline.api.errors import error_body
from inferline.dashboard import BUILD_HINT, STATIC_DIR, is_built

router = APIRouter(include_in_schema=False)

NOT_BUILT_PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Inferline</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Inferline is running</h1>
<p>The dashboard has not been built. Build it with <code>{BUILD_HINT}</code>
and reload this page.</p>
<p>The API works without it: <a href="docs">API documentation</a>,
<a href="health">health</a>, <a href="metrics">metrics</a>.</p>
</body></html>
"""


def index_response(static_dir: Path = STATIC_DIR) -> Response:
    """The built page, or a page that says how to build it."""
    if not is_built(static_dir):
        return HTMLResponse(NOT_BUILT_PAGE)
    # index.html names content-hashed assets: it must be revalidated, they never change.
    return FileResponse(static_dir / "index.html", headers={"Cache-Control": "no-cache"})


def asset_response(path: str, static_dir: Path = STATIC_DIR) -> Response:
    """A built asset, refusing any path that leaves the assets folder."""
    root = (static_dir / "assets").resolve()
    candidate = (root / path).resolve()
    if not (candidate.is_relative_to(root) and candidate.is_file()):
        return JSONResponse(
            error_body("not_found", f"no asset {path!r}", {"path": path}), status_code=404
        )
    return FileResponse(candidate, headers={"Cache-Control": "public, max-age=31536000, immutable"})


@router.get("/")
@public
async def index() -> Response:
    return index_response()


@router.get("/assets/{path:path}")
@public
async def asset(path: str) -> Response:
    return asset_response(path)
