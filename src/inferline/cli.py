"""`inferline`: run the server parts, or talk to a running server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_WAIT_SECONDS = 300.0  # `submit --wait`: a job retried with backoff may take minutes
FINISHED_STATUSES = ("succeeded", "dead", "cancelled", "expired")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `inferline` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    result: int = args.func(args)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inferline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="API + worker + relay in one process")
    _server_args(serve)
    serve.add_argument(
        "--workers-in-process",
        type=int,
        default=1,
        metavar="N",
        help="job workers inside this process (0: API only)",
    )
    serve.set_defaults(func=_serve)

    api = commands.add_parser("api", help="the HTTP API (and the relay, unless --no-relay)")
    _server_args(api)
    api.add_argument(
        "--no-relay", action="store_true", help="do not publish outbox events from this process"
    )
    api.set_defaults(func=_api)

    worker = commands.add_parser("worker", help="a job worker process")
    worker.add_argument(
        "--concurrency",
        type=int,
        default=1,
        metavar="N",
        help="independent claimers in this process",
    )
    _metrics_port_arg(worker)
    worker.set_defaults(func=_worker)

    relay = commands.add_parser("relay", help="the outbox relay alone")
    _metrics_port_arg(relay)
    relay.set_defaults(func=_relay)

    consume = commands.add_parser(
        "consume",
        help="a stream route: each record of a topic becomes a job; results go to a topic",
    )
    consume.add_argument("--topic", required=True, help="the input topic (or Redis stream)")
    consume.add_argument("--model", required=True, help="the model each record is a job of")
    consume.add_argument("--output-topic", help="where results go (default <topic>.results)")
    consume.add_argument(
        "--dead-letter-topic", help="where bad records go (default <topic>.dead-letter)"
    )
    consume.add_argument(
        "--id-field", help="the field holding each record's own id (its idempotency key)"
    )
    consume.add_argument(
        "--workers-in-process",
        type=int,
        default=1,
        metavar="N",
        help="job workers inside this process (0: workers run elsewhere)",
    )
    consume.add_argument(
        "--no-relay", action="store_true", help="a relay runs elsewhere (it produces results)"
    )
    _metrics_port_arg(consume)
    consume.set_defaults(func=_consume)

    migrate = commands.add_parser("migrate", help="apply database migrations and exit")
    migrate.set_defaults(func=_migrate)

    submit = commands.add_parser("submit", help="submit a job to a running server")
    submit.add_argument("model")
    submit.add_argument("--input", required=True, help="the model input as JSON")
    submit.add_argument("--priority", type=int, default=0)
    submit.add_argument("--idempotency-key")
    submit.add_argument("--wait", action="store_true", help="wait for the job to finish")
    submit.add_argument(
        "--timeout",
        type=positive_seconds,
        default=DEFAULT_WAIT_SECONDS,
        metavar="SECONDS",
        help=f"with --wait, give up (exit status 1) when the job has not finished after this "
        f"long; it goes on running (default {DEFAULT_WAIT_SECONDS:g})",
    )
    _url_arg(submit)
    submit.set_defaults(func=_submit)

    jobs = commands.add_parser("jobs", help="list jobs, or show one")
    jobs.add_argument("job_id", nargs="?")
    jobs.add_argument("--status")
    jobs.add_argument("--model")
    jobs.add_argument("--limit", type=int, default=20)
    _url_arg(jobs)
    jobs.set_defaults(func=_jobs)

    top = commands.add_parser("top", help="live figures of a running server, in the terminal")
    top.add_argument("--once", action="store_true", help="print one frame and exit")
    _url_arg(top)
    top.set_defaults(func=_top)

    news = commands.add_parser("news", help="source S0's news stream")
    news_commands = news.add_subparsers(dest="news_command", required=True)
    produce = news_commands.add_parser(
        "produce", help="one pass over a feed: its new articles into the stream news.raw"
    )
    produce.add_argument("--feed", required=True, help="an RSS/Atom URL, or a feed file")
    produce.set_defaults(func=_news_produce)

    logs = commands.add_parser("logs", help="source S4's log batch jobs (on the database)")
    logs_commands = logs.add_subparsers(dest="logs_command", required=True)
    quality = logs_commands.add_parser(
        "quality",
        help="check the quality of a UTC day's log lines; prints the reports as a JSON "
        "array; exit status 1 when a check failed",
    )
    quality.add_argument("--date", required=True, type=_day, help="the UTC day, YYYY-MM-DD")
    quality.add_argument("--tenant", help="only this tenant (default: each with lines)")
    quality.set_defaults(func=_logs_quality)
    aggregate = logs_commands.add_parser(
        "aggregate",
        help="count an hour's log lines by service, level and template (replacing the "
        "hour's stored counts); prints them as a JSON array",
    )
    aggregate.add_argument("--hour", required=True, type=_hour, help="the UTC hour, YYYY-MM-DDTHH")
    aggregate.add_argument("--tenant", help="only this tenant (default: each with lines)")
    aggregate.set_defaults(func=_logs_aggregate)

    keys = commands.add_parser("keys", help="API keys: create, list, revoke (in the database)")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_commands.add_parser("create", help="make a key; it is printed once")
    create.add_argument("--tenant", required=True, help="the tenant whose resources it reaches")
    create.add_argument(
        "--scopes",
        default="read,submit",
        help="comma-separated: read (GET), submit (work), admin (keys, deletes); "
        "default read,submit",
    )
    create.add_argument("--name", help="a label to recognise it by")
    create.add_argument("--expires", help="a duration (30d, 12h) or an ISO date; default never")
    create.add_argument("--rate-limit", help="requests allowed, e.g. 10/second")
    create.add_argument(
        "--max-concurrent-jobs", type=int, help="unfinished jobs its tenant may have"
    )
    create.set_defaults(func=_keys_create)
    list_keys = keys_commands.add_parser("list", help="keys (never their secrets)")
    list_keys.add_argument("--tenant", help="one tenant's keys only")
    list_keys.set_defaults(func=_keys_list)
    revoke = keys_commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=_keys_revoke)

    models = commands.add_parser("models", help="list the served models")
    _url_arg(models)
    models.set_defaults(func=_models)
    return parser


def _server_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--ssl-certfile", help="serve HTTPS with this PEM certificate (chain)")
    parser.add_argument("--ssl-keyfile", help="the certificate's PEM private key")


def _metrics_port_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve Prometheus /metrics on this port (processes without HTTP API)",
    )
    parser.add_argument("--metrics-host", default="127.0.0.1")


def _url_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        type=server_url,
        default=server_url(os.environ.get("INFERLINE_URL") or DEFAULT_URL),
        help=f"the server's address, e.g. http://127.0.0.1:8765 (env INFERLINE_URL; "
        f"default {DEFAULT_URL})",
    )


def server_url(value: str) -> str:
    """A server address as the client joins paths to it: `http://` added when no scheme
    is given, no trailing slash (`host:8765/` would otherwise ask for `//api/...`)."""
    url = value.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


def positive_seconds(value: str) -> float:
    """A number of seconds above zero (argparse names the option when it is not)."""
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} must be a number of seconds above 0")
    return seconds


# -- server processes ----------------------------------------------------------
def _settings() -> Any:
    from pydantic import ValidationError

    from inferline.core.logging import configure_logging
    from inferline.core.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        sys.exit(f"inferline: invalid settings:\n{exc}")
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _container(settings: Any, roles: frozenset[Any], workers: int) -> Any:
    """The process's container; a device it cannot have (no GPU) ends the start here."""
    from inferline.bootstrap import build_container
    from inferline.models.minilm import DeviceUnavailable

    try:
        return build_container(settings, roles, workers_in_process=workers)
    except DeviceUnavailable as exc:
        sys.exit(f"inferline: {exc}")


def _run_http(args: argparse.Namespace, roles: frozenset[Any], workers: int) -> int:
    import uvicorn

    from inferline.bootstrap import build_app

    settings = _settings()
    if bool(args.ssl_certfile) != bool(args.ssl_keyfile):
        sys.exit("inferline: --ssl-certfile and --ssl-keyfile go together")
    required = auth_required(settings.auth, args.command, args.host)
    container = _container(settings, roles, workers)
    app = build_app(container, auth_required=required)
    _log_auth(settings, required, args)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 5,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
    )
    uvicorn.Server(config).run()
    return 0


def auth_required(setting: str | None, command: str, host: str) -> bool:
    """`INFERLINE_AUTH` when set; else keys are required except for `inferline serve`
    bound to a loopback address (a developer's own machine)."""
    if setting is not None:
        return setting == "required"
    return not (command == "serve" and is_loopback(host))


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _log_auth(settings: Any, required: bool, args: argparse.Namespace) -> None:
    import logging

    log = logging.getLogger("inferline.auth")
    scheme = "https" if args.ssl_certfile else "http"
    if required:
        how = ["API keys"]
        if settings.jwt_jwks_url or settings.jwt_jwks_file:
            how.append("JWTs")
        log.info(
            "authentication required (%s) on %s://%s:%s; rate limit per key: %s",
            " or ".join(how),
            scheme,
            args.host,
            args.port,
            settings.rate_limit or "none",
        )
    else:
        why = "INFERLINE_AUTH=off" if settings.auth == "off" else "serve on a loopback address"
        level = logging.WARNING if not is_loopback(args.host) else logging.INFO
        log.log(
            level,
            "authentication is OFF (%s): anyone reaching %s://%s:%s may do anything",
            why,
            scheme,
            args.host,
            args.port,
        )


def _serve(args: argparse.Namespace) -> int:
    from inferline.bootstrap import Role

    roles = {Role.API, Role.RELAY, Role.STREAMS}
    roles |= {Role.WORKER} if args.workers_in_process > 0 else set()
    return _run_http(args, frozenset(roles), args.workers_in_process)


def _api(args: argparse.Namespace) -> int:
    from inferline.bootstrap import Role

    roles = {Role.API} | (set() if args.no_relay else {Role.RELAY})
    return _run_http(args, frozenset(roles), 0)


def _run_headless(
    roles: frozenset[Any],
    workers: int,
    args: argparse.Namespace | None = None,
    settings: Any = None,
) -> int:
    settings = settings or _settings()
    container = _container(settings, roles, workers)
    if args is not None and args.metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, args.metrics_host, registry=container.metrics.registry)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await container.start()
        await stop.wait()
        await container.stop()

    asyncio.run(run())
    return 0


def _worker(args: argparse.Namespace) -> int:
    from inferline.bootstrap import Role

    return _run_headless(frozenset({Role.WORKER}), max(1, args.concurrency), args)


def _relay(args: argparse.Namespace) -> int:
    from inferline.bootstrap import Role

    return _run_headless(frozenset({Role.RELAY}), 0, args)


def _consume(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from inferline.bootstrap import Role
    from inferline.core.settings import StreamRoute

    settings = _settings()
    try:
        route = StreamRoute(
            topic=args.topic,
            model=args.model,
            output_topic=args.output_topic,
            dead_letter_topic=args.dead_letter_topic,
            id_field=args.id_field,
        )
    except ValidationError as exc:
        sys.exit(f"inferline: invalid stream route:\n{exc}")
    if settings.stream_broker_url() is None:
        sys.exit("inferline: consume needs INFERLINE_STREAMS_URL (kafka://… or redis://…)")
    settings = settings.model_copy(update={"stream_routes": [route]})
    roles = {Role.STREAMS}
    roles |= {Role.WORKER} if args.workers_in_process > 0 else set()
    roles |= set() if args.no_relay else {Role.RELAY}
    return _run_headless(frozenset(roles), args.workers_in_process, args, settings)


def _migrate(_args: argparse.Namespace) -> int:
    from inferline.adapters.sql.migrate import upgrade_to_head
    from inferline.core.settings import redact_url

    settings = _settings()
    asyncio.run(upgrade_to_head(settings.database_url))
    print(f"database is at the latest schema: {redact_url(settings.database_url)}")
    return 0


def _key_command(action: Any) -> Any:
    """Run `action(keys)` against the database's key store; bad input exits with why."""
    from inferline.bootstrap import build_key_service
    from inferline.domain.errors import InferlineError

    keys = build_key_service(_settings())

    async def run() -> Any:
        await keys.store.start()
        try:
            return await action(keys)
        finally:
            await keys.store.close()

    try:
        return asyncio.run(run())
    except InferlineError as exc:
        sys.exit(f"inferline: {exc.message}")


def _keys_create(args: argparse.Namespace) -> int:
    from inferline.application.auth import expiry

    async def create(keys: Any) -> Any:
        return await keys.create(
            args.tenant,
            args.scopes.split(","),
            name=args.name,
            expires_at=expiry(args.expires) if args.expires else None,
            rate_limit=args.rate_limit,
            max_concurrent_jobs=args.max_concurrent_jobs,
        )

    made = _key_command(create)
    print(made.secret)
    print(
        f"key {made.stored.id} for tenant {made.stored.tenant} "
        f"({','.join(sorted(made.stored.scopes))}); it is shown only now: keep it safe",
        file=sys.stderr,
    )
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from inferline.api.presenters import key_view

    async def listing(keys: Any) -> Any:
        return await keys.list(args.tenant)

    _print([key_view(key) for key in _key_command(listing)])
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from inferline.api.presenters import key_view

    async def revoke(keys: Any) -> Any:
        return await keys.revoke(args.key_id, None)

    _print(key_view(_key_command(revoke)))
    return 0


def _news_produce(args: argparse.Namespace) -> int:
    from inferline.apps.news.cli import FeedError, produce_once
    from inferline.bootstrap import build_stream_sink, news_database

    settings = _settings()
    sink = build_stream_sink(settings)
    try:
        outcome = asyncio.run(produce_once(news_database(settings), sink, args.feed))
    except FeedError as exc:
        sys.exit(f"inferline: {exc}")
    _print(
        {
            "feed": args.feed,
            "published": outcome.published,
            "duplicates": outcome.duplicates,
            "rejected": outcome.rejected,
        }
    )
    return 0


def _day(value: str) -> Any:
    from inferline.apps.logs.quality import parse_day

    try:
        return parse_day(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _hour(value: str) -> float:
    from inferline.apps.logs.aggregation import parse_hour

    try:
        return parse_hour(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _logs_quality(args: argparse.Namespace) -> int:
    from inferline.bootstrap import log_batch

    async def run() -> list[Any]:
        batch = log_batch(_settings())
        await batch.start()
        try:
            return await batch.check_day(args.date, args.tenant)
        finally:
            await batch.close()

    reports = asyncio.run(run())
    _print([report.model_dump(mode="json") for report in reports])
    return 0 if all(report.passed for report in reports) else 1


def _logs_aggregate(args: argparse.Namespace) -> int:
    from inferline.bootstrap import log_batch

    async def run() -> list[Any]:
        batch = log_batch(_settings())
        await batch.start()
        try:
            return await batch.aggregate_hour(args.hour, args.tenant)
        finally:
            await batch.close()

    _print([aggregate.model_dump(mode="json") for aggregate in asyncio.run(run())])
    return 0


# -- client commands -----------------------------------------------------------
def _request(method: str, url: str, **kwargs: Any) -> Any:
    import httpx

    from inferline.core.credentials import client_headers

    try:
        headers = client_headers()
    except ValueError as exc:
        sys.exit(f"inferline: {exc}")
    try:
        response = httpx.request(method, url, timeout=30, headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        sys.exit(f"inferline: cannot reach {url}: {exc}")
    body = response.json()
    if response.status_code >= 400:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        sys.exit(f"inferline: {response.status_code} {error.get('code')}: {error.get('message')}")
    return body


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _submit(args: argparse.Namespace) -> int:
    try:
        payload = json.loads(args.input)
    except json.JSONDecodeError as exc:
        sys.exit(f"inferline: --input is not valid JSON: {exc}")
    body: dict[str, Any] = {"model": args.model, "input": payload, "priority": args.priority}
    if args.idempotency_key:
        body["idempotency_key"] = args.idempotency_key
    job = _request("POST", f"{args.url}/api/v1/jobs", json=body)
    if args.wait:
        job = _wait_for(args.url, job["id"], args.timeout)
    _print(job)
    return 0 if job["status"] != "dead" else 1


def _wait_for(url: str, job_id: str, timeout: float) -> Any:
    """The job once it has finished; exits with an error when `timeout` seconds pass first."""
    import time

    give_up_at = time.monotonic() + timeout
    while True:
        job = _request("GET", f"{url}/api/v1/jobs/{job_id}")
        if job["status"] in FINISHED_STATUSES:
            return job
        left = give_up_at - time.monotonic()
        if left <= 0:
            sys.exit(
                f"inferline: job {job_id} has not finished after {timeout:g} s (it is "
                f"{job['status']}); it goes on: `inferline jobs {job_id}` shows it later"
            )
        time.sleep(min(0.2, left))


def _jobs(args: argparse.Namespace) -> int:
    if args.job_id:
        _print(_request("GET", f"{args.url}/api/v1/jobs/{args.job_id}"))
        return 0
    params = {
        k: v
        for k, v in {"status": args.status, "model": args.model, "limit": args.limit}.items()
        if v is not None
    }
    page = _request("GET", f"{args.url}/api/v1/jobs", params=params)
    for job in page["jobs"]:
        print(f"{job['id']}  {job['status']:<10} {job['model']:<18} {job['created_at']}")
    return 0


def _models(args: argparse.Namespace) -> int:
    for model in _request("GET", f"{args.url}/api/v1/models")["models"]:
        state = "loaded" if model["loaded"] else "not loaded"
        batching = model["batching"]
        print(
            f"{model['name']:<20} v{model['version']:<6} {state:<11} "
            f"batch {batching['max_batch_size']} / {batching['max_wait_ms']} ms"
            f", {batching['instances']} at once"
        )
    return 0


def _top(args: argparse.Namespace) -> int:
    import httpx

    from inferline import top

    if args.once:
        try:
            snapshot = top.fetch_snapshot(args.url)
        except httpx.HTTPError as exc:
            sys.exit(f"inferline: cannot reach {args.url}: {exc}")
        from rich.console import Console

        Console().print(top.render(snapshot, source=args.url))
        return 0
    with contextlib.suppress(KeyboardInterrupt):
        top.run(args.url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
