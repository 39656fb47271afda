"""Source systems built on the data plane: one package per system, `apps/<system>/`.

An app is a package whose `__init__.py` exposes `router`, a FastAPI `APIRouter` with
its routes; `installed.py` lists the apps the HTTP API serves. Inside, an app keeps its
own `schemas.py` (request bodies), `use_cases.py` (what it does, written against a
Protocol slice of `DataPlane`) and `routes.py`. It imports only `inferline.application`
(the data plane and its commands), `inferline.ports`, `inferline.domain`, `inferline.core`
and the API's helpers (`inferline.api.deps`, `.errors`, `.schemas`, `.disconnect`,
`.fast_json`, `.websockets`), never another app: `lint-imports` checks it.
"""
