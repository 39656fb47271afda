"""The compose stacks (deploy/compose.yaml, deploy/ocr/compose.yaml), checked without a
container engine: the compose client validates them (`docker compose config`, or
`docker-compose config` where the plugin is missing; required in CI), and the files are
read here for what matters: the services and profiles promised, health checks behind
every `service_healthy`, settings that exist with values Settings accepts, secrets as
files made by deploy/secrets/generate.sh, ports and scrape targets that agree, and only
nginx published to the network."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploy import (
    DEPLOY,
    REPO_ROOT,
    env_name_problem,
    validated_settings,
)
from tests.support.deploy import load_compose as load
from tests.support.requirements import require_tool

MAIN = DEPLOY / "compose.yaml"
OCR = DEPLOY / "ocr" / "compose.yaml"
INFERLINE_ROLES = {"api", "worker", "worker-gpu", "relay"}

Doc = dict[str, Any]


def compose_command() -> list[str]:
    """`docker compose`, or the standalone `docker-compose` (Debian's package)."""
    docker = shutil.which("docker")
    if docker:
        plugin = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30
        )
        if plugin.returncode == 0:
            return [docker, "compose"]
    return [require_tool("docker-compose")]


def args_port(command: list[str], option: str) -> int:
    return int(command[command.index(option) + 1])


def healthcheck_port(service: Doc) -> int:
    (port,) = re.findall(r"127\.0\.0\.1:(\d+)/", " ".join(service["healthcheck"]["test"]))
    return int(port)


@pytest.mark.parametrize("path", [MAIN, OCR], ids=["main", "ocr"])
def test_the_compose_client_accepts_the_file(path: Path, tmp_path: Path) -> None:
    command = compose_command()
    copy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("secrets"))
    shutil.copytree(DEPLOY / "secrets", copy / "secrets")
    made = subprocess.run(
        ["bash", str(copy / "secrets" / "generate.sh")], capture_output=True, text=True, timeout=60
    )
    assert made.returncode == 0, made.stderr
    target = copy / path.relative_to(DEPLOY)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERLINE_")}
    for profile_args in ([], ["--profile", "monitoring", "--profile", "gpu"]):
        done = subprocess.run(
            [*command, "-f", str(target), *profile_args, "config"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        resolved = yaml.safe_load(done.stdout)
        assert set(resolved["services"]) <= set(load(path)["services"])
    for secret in load(path)["secrets"].values():
        secret_file = (target.parent / secret["file"]).resolve()
        assert secret_file.is_file(), f"generate.sh does not make {secret['file']}"
        assert secret_file.read_text().strip(), f"{secret['file']} is empty"


def test_the_secrets_folder_commits_only_its_script() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/secrets/database_url"], cwd=REPO_ROOT, timeout=30
    )
    assert ignored.returncode == 0, "a generated secret would be committed"
    kept = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/secrets/generate.sh"], cwd=REPO_ROOT, timeout=30
    )
    assert kept.returncode == 1


def test_the_main_stack_has_what_source_s2_asks() -> None:
    compose = load(MAIN)
    services = compose["services"]
    core = {"api", "worker", "relay", "postgres", "redis", "kafka", "nginx"}
    assert {*core, "prometheus", "grafana", "worker-gpu"} == set(services)
    for name in core:
        assert "profiles" not in services[name], f"{name} must start by default"
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["grafana"]["profiles"] == ["monitoring"]
    assert services["worker-gpu"]["profiles"] == ["gpu"]
    devices = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert services["worker-gpu"]["build"]["args"]["TORCH_VARIANT"] == "cu128"
    env = services["api"]["environment"]
    assert env["INFERLINE_DATABASE_URL_FILE"] == "/run/secrets/database_url"
    assert env["INFERLINE_EVENTS_URL"].startswith("kafka://kafka:")
    assert env["INFERLINE_QUEUE_URL"].startswith("redis://redis:")
    assert services["api"]["command"][0] == "api"
    assert "--no-relay" in services["api"]["command"]
    assert services["relay"]["command"][0] == "relay"
    assert services["worker"]["command"][0] == "worker"


def test_the_ocr_stack_is_api_worker_redis_and_mysql(monkeypatch: pytest.MonkeyPatch) -> None:
    for strategy in ("standard", "batched"):
        compose = load(OCR, {"INFERLINE_PROFILE": strategy})
        services = compose["services"]
        assert set(services) == {"api", "worker", "redis", "mariadb"}
        for role in ("api", "worker"):
            env = services[role]["environment"]
            assert env["INFERLINE_PROFILE"] == strategy
            assert env["INFERLINE_MODELS"] == "ocr-tesseract,ocr-rapid"
            assert env["INFERLINE_DATABASE_URL_FILE"] == "/run/secrets/ocr_database_url"
            mounts = {
                volume.split(":")[1]: volume.split(":")[0] for volume in services[role]["volumes"]
            }
            assert mounts[env["INFERLINE_BLOB_PATH"]] == "blobs", "API and worker share blobs"
            validated_settings(env, monkeypatch)
    assert load(OCR)["services"]["api"]["environment"]["INFERLINE_PROFILE"] == "standard"
    script = (DEPLOY / "secrets" / "generate.sh").read_text()
    assert "mysql+aiomysql://inferline:$(cat mariadb_password)@mariadb:3306/inferline" in script


@pytest.mark.parametrize("path", [MAIN, OCR], ids=["main", "ocr"])
def test_health_checks_and_start_order(path: Path) -> None:
    services = load(path)["services"]
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
        assert service["healthcheck"]["test"][0] == "CMD"
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency]
    for name in INFERLINE_ROLES & set(services):
        service = services[name]
        command = service["command"]
        port = healthcheck_port(service)
        if command[0] == "api":
            assert port == args_port(command, "--port")
            assert "/readyz" in " ".join(service["healthcheck"]["test"])
        else:
            assert port == args_port(command, "--metrics-port")
            assert command[command.index("--metrics-host") + 1] == "0.0.0.0"


@pytest.mark.parametrize("path", [MAIN, OCR], ids=["main", "ocr"])
def test_settings_exist_and_secrets_are_files(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compose = load(path)
    declared = compose["secrets"]
    for secret in declared.values():
        assert Path(secret["file"]).parent.name == "secrets", "secrets live in deploy/secrets"
    for name, service in compose["services"].items():
        env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        mounted = set(service.get("secrets", []))
        assert mounted <= set(declared), f"{name} mounts an undeclared secret"
        for variable, value in env.items():
            if variable.endswith("_FILE"):
                assert value.startswith("/run/secrets/"), f"{name}: {variable}={value}"
                assert value.removeprefix("/run/secrets/") in mounted, f"{name}: {variable}"
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), (
                f"{name}: {variable} has a password"
            )
            assert "PASSWORD=" not in variable, f"{name}: a password as a value"
        if name in INFERLINE_ROLES:
            problems = [p for variable in env if (p := env_name_problem(variable))]
            assert problems == [], f"{name}: {problems}"
            validated_settings(env, monkeypatch)


def test_only_nginx_is_published_and_the_proxy_and_scrapes_agree() -> None:
    services = load(MAIN)["services"]
    for name, service in services.items():
        for mapping in service.get("ports", []):
            if name == "nginx":
                assert mapping in ("80:80", "443:443")
            else:
                assert mapping.startswith("127.0.0.1:"), f"{name} publishes {mapping}"
    config = (DEPLOY / "nginx" / "compose.conf").read_text()
    (upstream,) = re.findall(r"server (\w+):(\d+);", config)
    assert upstream[0] == "api"
    assert int(upstream[1]) == args_port(services["api"]["command"], "--port")
    for location in ("/api/", "= /ws/events", "= /ws/dashboard", "= /ws/news", "/"):
        assert f"location {location} {{" in config, location
    assert "listen 443 ssl;" in config
    secrets = set(services["nginx"]["secrets"])
    for path in re.findall(r"ssl_certificate(?:_key)? (\S+);", config):
        assert path.removeprefix("/run/secrets/") in secrets
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "compose.yml").read_text())
    targets = {
        (job["job_name"], sd["names"][0], sd["port"])
        for job in scrape["scrape_configs"]
        for sd in job["dns_sd_configs"]
    }
    assert targets == {
        ("inferline-api", "api", args_port(services["api"]["command"], "--port")),
        ("inferline-worker", "worker", args_port(services["worker"]["command"], "--metrics-port")),
        ("inferline-relay", "relay", args_port(services["relay"]["command"], "--metrics-port")),
    }
    for name in ("prometheus", "grafana", "nginx"):
        for volume in services[name].get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"


def test_prometheus_accepts_the_compose_scrape_config(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    for name in ("compose.yml", "alerts.yml"):
        shutil.copy(DEPLOY / "prometheus" / name, tmp_path / name)
    done = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "compose.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
