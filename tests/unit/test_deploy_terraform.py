"""The Terraform of deploy/terraform, checked without a `terraform` binary or a cloud:
every file parses (python-hcl2), every module call's source exists and gets exactly the
variables its module declares (all the required ones), every tfvars file sets declared
variables (all the required ones), Terraform and the providers are pinned, no secret is
written down, the GPU node group matches what deploy/k8s's GPU workers select, the pods'
IAM roles trust the ServiceAccounts and namespaces the overlays use, and checkov finds
nothing that is not skipped inline with a reason.

checkov lives in a virtualenv of its own (scripts/install-checkov.sh, run by `make
setup`): missing, the checkov test fails in CI (env CI) and skips elsewhere."""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

from tests.support.deploy import DEPLOY
from tests.support.requirements import missing

TERRAFORM = DEPLOY / "terraform"
K8S = DEPLOY / "k8s"
CHECKOV_VERSION = "3.3.30"  # scripts/install-checkov.sh installs this one
EXPECTED_MODULES = {"vpc", "eks", "stream", "s3", "opensearch", "ecr", "secrets", "iam", "kms"}
# Arguments that would hold a secret, and values that look like one.
SECRET_ARGUMENTS = re.compile(
    r"\w*password|secret_string|secret_binary|\w*api_key|\w*token|\w*webhook_url|access_key|secret_key",
    re.I,
)
SECRET_VALUES = re.compile(
    r"AKIA[0-9A-Z]{16}|hooks\.slack\.com/services/|\bsk-[A-Za-z0-9]{20,}|xox[bp]-"
)

Block = dict[str, Any]


# Plain values: strings without their quotes, no comment or block markers.
PLAIN = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True, preserve_heredocs=False
)


@cache
def parsed(path: Path) -> Block:
    with path.open() as handle:
        loaded: Block = hcl2.load(handle, serialization_options=PLAIN)
    return loaded


def folder_blocks(folder: Path, kind: str) -> list[Block]:
    """Every block of `kind` (variable, module, resource, output, terraform) of a folder."""
    found: list[Block] = []
    for path in sorted(folder.glob("*.tf")):
        found.extend(parsed(path).get(kind, []))
    return found


def labelled(folder: Path, kind: str) -> dict[str, Block]:
    """`variable "x" {...}` blocks of a folder by label."""
    result: dict[str, Block] = {}
    for block in folder_blocks(folder, kind):
        for label, body in block.items():
            assert label not in result, f"{folder}: {kind} {label} declared twice"
            result[label] = body
    return result


def required(variables: dict[str, Block]) -> set[str]:
    return {name for name, body in variables.items() if "default" not in body}


def roots() -> list[Path]:
    """Folders with .tf files: the root and every module."""
    return sorted({path.parent for path in TERRAFORM.rglob("*.tf")})


def test_every_file_parses_and_every_expected_module_exists() -> None:
    for path in TERRAFORM.rglob("*.tf"):
        parsed(path)
    modules = {path.name for path in (TERRAFORM / "modules").iterdir() if path.is_dir()}
    assert modules == EXPECTED_MODULES
    for name in modules:
        files = {path.name for path in (TERRAFORM / "modules" / name).glob("*.tf")}
        assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= files, name


def test_module_calls_give_exactly_the_declared_variables() -> None:
    calls = labelled(TERRAFORM, "module")
    assert set(calls) == EXPECTED_MODULES
    for name, call in calls.items():
        source = TERRAFORM / call["source"]
        assert call["source"].startswith("./modules/") and source.is_dir(), call["source"]
        declared = labelled(source, "variable")
        given = set(call) - {"source", "providers", "depends_on", "count", "for_each"}
        assert given <= set(declared), f"module {name}: unknown {given - set(declared)}"
        assert required(declared) <= given, f"module {name}: missing {required(declared) - given}"
        for variable, body in declared.items():
            assert body.get("description"), f"module {name}: variable {variable} undocumented"
            assert "type" in body, f"module {name}: variable {variable} untyped"
    # Outputs of modules used by the root exist.
    main = (TERRAFORM / "main.tf").read_text() + (TERRAFORM / "outputs.tf").read_text()
    for module, output in set(re.findall(r"module\.(\w+)\.(\w+)", main)):
        outputs = labelled(TERRAFORM / "modules" / module, "output")
        assert output in outputs, f"module.{module}.{output} is not an output"


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_each_environment_sets_declared_variables(environment: str) -> None:
    declared = labelled(TERRAFORM, "variable")
    values = parsed(TERRAFORM / "environments" / f"{environment}.tfvars")
    assert set(values) <= set(declared), set(values) - set(declared)
    assert required(declared) <= set(values), required(declared) - set(values)
    assert values["environment"] == environment
    backend = (TERRAFORM / "environments" / f"{environment}.s3.tfbackend").read_text()
    assert f'key          = "inferline/{environment}/terraform.tfstate"' in backend


def test_terraform_and_providers_are_pinned() -> None:
    for folder in roots():
        (block,) = folder_blocks(folder, "terraform")
        assert re.match(r">= ?1\.\d+", block["required_version"]), folder
        for providers in block["required_providers"]:
            for name, spec in providers.items():
                assert spec["source"].startswith("hashicorp/"), f"{folder}: {name}"
                assert re.fullmatch(r"~> ?\d+\.\d+", spec["version"]), f"{folder}: {name} {spec}"
    (root,) = folder_blocks(TERRAFORM, "terraform")
    assert "s3" in root["backend"][0], "state in S3"


def _literals(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """(attribute path, value) of every literal attribute under `node`."""
    if isinstance(node, dict):
        return [item for key, value in node.items() for item in _literals(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [item for value in node for item in _literals(value, path)]
    return [(path, node)]


def test_no_secret_is_written_down() -> None:
    for path in TERRAFORM.rglob("*.tf*"):
        if path.suffix not in {".tf", ".tfvars"}:
            continue
        for attribute, value in _literals(parsed(path)):
            name = attribute.rsplit(".", 1)[-1]
            if SECRET_ARGUMENTS.fullmatch(name) and isinstance(value, str):
                assert value.startswith("${") or value == "", f"{path}: {attribute} = {value!r}"
        text = path.read_text()
        assert "aws_secretsmanager_secret_version" not in text, (
            f"{path}: a secret's value would be in the state; put it with the AWS CLI"
        )
        assert not SECRET_VALUES.search(text), f"{path}: a secret"


def _resources(folder: Path, kind: str) -> dict[str, Block]:
    return {
        label: body
        for block in folder_blocks(folder, "resource")
        for resource, labelled_bodies in block.items()
        if resource == kind
        for label, body in labelled_bodies.items()
    }


def test_the_gpu_node_group_is_what_the_gpu_workers_select() -> None:
    gpu = _resources(TERRAFORM / "modules" / "eks", "aws_eks_node_group")["gpu"]
    patch = yaml.safe_load((K8S / "components" / "gpu-worker" / "worker-gpu.yaml").read_text())
    pod = patch["spec"]["template"]["spec"]
    assert gpu["labels"] == pod["nodeSelector"]
    (taint,) = gpu["taint"]
    toleration = {"key": taint["key"], "operator": "Exists", "effect": "NoSchedule"}
    assert taint["effect"] == "NO_SCHEDULE" and toleration in pod["tolerations"]
    assert "AL2023_x86_64_NVIDIA" in str(gpu["ami_type"])


def test_pod_roles_trust_the_overlays_service_accounts() -> None:
    source = (TERRAFORM / "modules" / "iam" / "main.tf").read_text()
    accounts = dict(re.findall(r'^\s+([\w-]+)\s+= "([\w-]+)"$', source.split("}")[0], re.M))
    assert accounts == {"inferline": "inferline", "fluent-bit": "fluent-bit"}
    serviceaccounts = {
        doc["metadata"]["name"]
        for path in (
            K8S / "base" / "serviceaccount.yaml",
            K8S / "components" / "fluent-bit" / "rbac.yaml",
        )
        for doc in yaml.safe_load_all(path.read_text())
        if doc["kind"] == "ServiceAccount"
    }
    assert set(accounts.values()) == serviceaccounts
    for environment, overlay in (("dev", "dev"), ("prod", "prod")):
        tfvars = parsed(TERRAFORM / "environments" / f"{environment}.tfvars")
        kustomization = yaml.safe_load(
            (K8S / "overlays" / overlay / "kustomization.yaml").read_text()
        )
        assert tfvars["kubernetes_namespace"] == kustomization["namespace"]


def test_checkov_skips_give_reasons() -> None:
    for path in TERRAFORM.rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.search(r"#checkov:skip=CKV2?_AWS_\d+:\S.{20,}", line), f"{path}: {line}"


def checkov() -> str:
    venv = Path(os.environ.get("CHECKOV_VENV") or Path.home() / ".cache/inferline/checkov-venv")
    program = venv / "bin" / "checkov"
    if not program.is_file():
        missing(f"checkov is not installed in {venv}; run scripts/install-checkov.sh")
    return str(program)


@pytest.fixture(scope="session")
def checkov_report() -> Block:
    """checkov's findings on deploy/terraform, offline; run once per session (~10 s)."""
    program = checkov()
    done = subprocess.run(
        [
            program,
            "-d",
            str(TERRAFORM),
            "--framework",
            "terraform",
            "--skip-download",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    assert done.stdout, f"checkov printed nothing:\n{done.stderr[-2000:]}"
    report = json.loads(done.stdout)
    if isinstance(report, list):
        (report,) = report
    assert report["check_type"] == "terraform"
    result: Block = report
    return result


def test_checkov_finds_nothing_that_is_not_skipped_with_a_reason(checkov_report: Block) -> None:
    results = checkov_report["results"]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']})"
        for check in results["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)
    assert len(results["passed_checks"]) > 200
    skipped = {check["check_id"] for check in results["skipped_checks"]}
    inline = set(
        re.findall(
            r"#checkov:skip=(CKV2?_AWS_\d+)",
            "\n".join(path.read_text() for path in TERRAFORM.rglob("*.tf")),
        )
    )
    assert skipped == inline, "every skip is an inline comment, none comes from elsewhere"
    for check in results["skipped_checks"]:
        assert len(check.get("check_result", {}).get("suppress_comment", "")) > 20, check[
            "check_id"
        ]
