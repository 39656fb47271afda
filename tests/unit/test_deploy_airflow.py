"""The Airflow DAGs of deploy/airflow, read with `ast` (Airflow does not install here
cheaply): they import only Airflow and the standard library, run the documented commands
(`inferline logs quality --date YYYY-MM-DD` daily, `inferline logs aggregate --hour
YYYY-MM-DDTHH` hourly) with the run's dates filled in, retry, and have SLAs. Where the
`inferline logs` command is installed, the filled-in commands are also parsed by the real
command line."""

from __future__ import annotations

import argparse
import ast
import re
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.deploy import DEPLOY

DAGS = sorted((DEPLOY / "airflow" / "dags").glob("*.py"))
# A run's template values: the day 2024-01-15, its interval starting at 10:05.
RUN_START = datetime(2024, 1, 15, 10, 5)
TEMPLATES = {
    "{{ ds }}": RUN_START.strftime("%Y-%m-%d"),
    "{{ data_interval_start.strftime('%Y-%m-%dT%H') }}": RUN_START.strftime("%Y-%m-%dT%H"),
}
DOCUMENTED = {
    "quality": re.compile(r"inferline logs quality --date \d{4}-\d{2}-\d{2}"),
    "aggregate": re.compile(r"inferline logs aggregate --hour \d{4}-\d{2}-\d{2}T\d{2}"),
}
SCHEDULES = {
    "quality": re.compile(r"\d{1,2} \d{1,2} \* \* \*"),  # once a day
    "aggregate": re.compile(r"\d{1,2} \* \* \* \*"),  # once an hour
}


def fill(template: str) -> str:
    for placeholder, value in TEMPLATES.items():
        template = template.replace(placeholder, value)
    assert "{{" not in template, f"a template value the test does not know: {template}"
    return template


def module_constants(tree: ast.Module) -> dict[str, Any]:
    """Top-level NAME = <literal> assignments."""
    constants: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    constants[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return constants


def dag_calls(tree: ast.Module) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "DAG"
    ]


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def commands(path: Path) -> dict[str, list[str]]:
    """The command (as argv) of each job kind a DAG file runs, filled in for one run."""
    constants = module_constants(ast.parse(path.read_text()))
    found: dict[str, list[str]] = {}
    for name, value in constants.items():
        if name.endswith("_COMMAND"):
            argv = shlex.split(fill(value))
        elif name.endswith("_ARGUMENTS"):
            argv = ["inferline", *(fill(item) for item in value)]
        else:
            continue
        found[argv[2]] = argv
    return found


@pytest.mark.parametrize("path", DAGS, ids=lambda p: p.name)
def test_dags_import_only_airflow_and_the_standard_library(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top == "airflow" or top in sys.stdlib_module_names or top == "__future__", (
                f"{path.name} imports {name}"
            )


@pytest.mark.parametrize("path", DAGS, ids=lambda p: p.name)
def test_dags_run_the_documented_commands_on_their_schedules(path: Path) -> None:
    found = commands(path)
    assert set(found) == {"quality", "aggregate"}
    for kind, argv in found.items():
        assert DOCUMENTED[kind].fullmatch(shlex.join(argv)), argv
    assert found["quality"][-1] == "2024-01-15"
    assert found["aggregate"][-1] == "2024-01-15T10"
    tree = ast.parse(path.read_text())
    calls = dag_calls(tree)
    assert len(calls) == 2
    schedules = {}
    for call in calls:
        dag_id = ast.literal_eval(keyword(call, "dag_id"))  # type: ignore[arg-type]
        kind = "quality" if "quality" in dag_id else "aggregate"
        schedules[kind] = ast.literal_eval(keyword(call, "schedule"))  # type: ignore[arg-type]
        assert ast.literal_eval(keyword(call, "catchup")) is False  # type: ignore[arg-type]
        assert keyword(call, "default_args") is not None
    for kind, schedule in schedules.items():
        assert SCHEDULES[kind].fullmatch(schedule), f"{path.name}: {kind} {schedule}"
    source = path.read_text()  # DEFAULT_ARGS holds timedeltas: not a literal, read as text
    assert '"retries": 3' in source and '"retry_delay": timedelta(' in source
    assert source.count("sla=timedelta(") == 2, "each task has an SLA"
    assert source.count("execution_timeout=timedelta(") == 2


def test_the_kubernetes_dags_pods_match_the_deployment() -> None:
    tree = ast.parse((DEPLOY / "airflow" / "dags" / "inferline_logs_kubernetes.py").read_text())
    constants = module_constants(tree)
    assert constants["IMAGE"].rsplit("/", 1)[-1].startswith("inferline:")
    secrets_dir = constants["SECRETS_DIR"]
    api = (DEPLOY / "k8s" / "base" / "api.yaml").read_text()
    assert f"mountPath: {secrets_dir}" in api
    assert f"value: {secrets_dir}/database-url" in api
    assert "INFERLINE_DATABASE_URL_FILE" in ast.unparse(tree)


def test_the_commands_parse_with_the_installed_command_line() -> None:
    from inferline import cli

    parser = cli._parser()
    subcommands = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    if "logs" not in subcommands.choices:
        pytest.skip(
            "`inferline logs` is not in this checkout's command line (issue 15, batch part)"
        )
    for path in DAGS:
        for kind, argv in commands(path).items():
            args = parser.parse_args(argv[1:])
            assert args.command == "logs" and args.logs_command == kind, argv
