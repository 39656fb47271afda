"""The example CI workflow (deploy/ci/github-actions.yml) is valid YAML of GitHub
Actions' shape: read-only permissions, actions pinned to a major version, and the
deployment checks it promises (Terraform fmt/validate, and the deployment tests, each of
which exists)."""

from __future__ import annotations

import re

import yaml

from tests.support.deploy import DEPLOY, REPO_ROOT

WORKFLOW = DEPLOY / "ci" / "github-actions.yml"


def test_the_workflow_is_valid_and_runs_the_deployment_checks() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as True.
    triggers = workflow.get("on", workflow.get(True))
    assert set(triggers) == {"pull_request", "push"}
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    assert set(jobs) == {"terraform", "checks"}
    runs: list[str] = []
    for name, job in jobs.items():
        assert job["runs-on"].startswith("ubuntu-"), name
        assert isinstance(job["timeout-minutes"], int), name
        for step in job["steps"]:
            assert set(step) <= {"name", "uses", "with", "run", "env", "working-directory"}, step
            if "uses" in step:
                assert re.fullmatch(r"[\w-]+/[\w-]+@v\d+", step["uses"]), step["uses"]
            else:
                runs.append(step["run"])
    assert jobs["terraform"]["defaults"]["run"]["working-directory"] == "deploy/terraform"
    assert {"terraform fmt -check -recursive", "terraform validate"} <= set(runs)
    script = "\n".join(runs)
    assert "./scripts/install-checkov.sh" in script
    tests = re.findall(r"tests/unit/test_deploy_\w+\.py", script)
    assert len(tests) == 5
    for test in tests:
        assert (REPO_ROOT / test).is_file(), test
    assert jobs["checks"]["env"]["CI"] == "1", "a missing tool fails instead of skipping"
