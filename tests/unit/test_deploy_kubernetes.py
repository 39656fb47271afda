"""The Kubernetes manifests (deploy/k8s): every overlay renders with `kubectl kustomize`,
validates against the Kubernetes schemas (kubernetes-validate, strict), and says what
matters: settings that exist with values Settings accepts, probes on routes that exist,
one image, consistent ports, non-root read-only containers, GPUs where the overlay
promises them, disruption budgets and autoscalers on pods that exist, and network
policies under which only the API is reachable and the other pods reach only the
database, the broker and the cache; the log collector (Fluent Bit's DaemonSet) reaches
the API's Forward port through its Service, reads pods and namespaces only, and runs
the configuration of deploy/fluent-bit. kubectl is required in CI (CI=1) and skips
elsewhere."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.support.deploy import (
    DEPLOY,
    env_name_problem,
    http_routes,
    metric_names,
    validated_settings,
)
from tests.support.requirements import require_tool

K8S = DEPLOY / "k8s"
OVERLAYS = (
    "dev",
    "prod",
    "arch-async-standard/dev",
    "arch-async-standard/prod",
    "arch-async-batched/dev",
    "arch-async-batched/prod",
)
ROLES = ("api", "worker", "relay")
KUBERNETES_VERSION = "1.32.0"
SECRET_NAME = "inferline-secrets"
# The log analysis components (components/logs, components/fluent-bit) and their port.
LOGS_OVERLAYS = {"dev", "prod"}
LOGS_FORWARD_PORT = "INFERLINE_LOGS_FORWARD_PORT"
FORWARD_PORT = 24224
# What the pods may reach: DNS, PostgreSQL, MySQL/MariaDB, Redis, Kafka.
BACKEND_PORTS = {("TCP", 5432), ("TCP", 3306), ("TCP", 6379), ("TCP", 9092)}
DNS_PORTS = {("UDP", 53), ("TCP", 53)}

Doc = dict[str, Any]
_rendered: dict[str, list[Doc]] = {}


def render(overlay: str) -> list[Doc]:
    """`kubectl kustomize` of an overlay (or `base`), parsed; rendered once per session."""
    if overlay not in _rendered:
        kubectl = require_tool("kubectl")
        folder = K8S / "base" if overlay == "base" else K8S / "overlays" / overlay
        done = subprocess.run(
            [kubectl, "kustomize", str(folder)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"kubectl kustomize {overlay} failed:\n{done.stderr}"
        _rendered[overlay] = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    return _rendered[overlay]


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def named(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [doc for doc in of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def deployment(docs: list[Doc], role: str) -> Doc:
    return named(docs, "Deployment", f"inferline-{role}")


def container(docs: list[Doc], role: str) -> Doc:
    containers = deployment(docs, role)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: Doc = containers[0]
    return result


def pod_labels(docs: list[Doc]) -> Iterator[tuple[str, dict[str, str]]]:
    for doc in of_kind(docs, "Deployment"):
        yield doc["metadata"]["name"], doc["spec"]["template"]["metadata"]["labels"]


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    """A label selector (matchLabels, matchExpressions with In/NotIn/Exists) on labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def environment(docs: list[Doc], role: str) -> dict[str, str]:
    """The environment the role's container gets: its ConfigMap, then its own env."""
    spec = container(docs, role)
    env: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        config = named(docs, "ConfigMap", source["configMapRef"]["name"])
        env.update(config.get("data", {}))
    for item in spec.get("env", []):
        env[item["name"]] = item.get("value", "<from a reference>")
    return env


def cli_option(args: list[str], option: str) -> str:
    assert option in args, f"{option} missing from {args}"
    return args[args.index(option) + 1]


ALL = ("base", *OVERLAYS)
# Custom resources, absent from the Kubernetes schemas: KEDA's ScaledObject, the Prometheus
# Operator's PodMonitor.
CUSTOM_GROUPS = {"keda.sh", "monitoring.coreos.com"}


@pytest.mark.parametrize("overlay", ALL)
def test_every_object_validates_against_the_kubernetes_schemas(overlay: str) -> None:
    docs = render(overlay)
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler"} <= kinds
    assert {"PodDisruptionBudget", "NetworkPolicy", "ServiceAccount"} <= kinds
    for doc in docs:
        if doc["apiVersion"].split("/")[0] in CUSTOM_GROUPS:
            continue  # custom resources: their tests below check their shape
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{overlay}: {doc['kind']} {doc['metadata']['name']}: {exc.message}")


@pytest.mark.parametrize("overlay", ALL)
def test_secrets_are_referenced_and_never_stored(overlay: str) -> None:
    docs = render(overlay)
    assert of_kind(docs, "Secret") == [], "a Secret's values would be in the repository"
    for role in ROLES:
        pod = deployment(docs, role)["spec"]["template"]["spec"]
        secret_volumes = {
            volume["name"]: volume["secret"]["secretName"]
            for volume in pod["volumes"]
            if "secret" in volume
        }
        assert set(secret_volumes.values()) == {SECRET_NAME}
        mounts = {
            mount["mountPath"]: mount["name"]
            for mount in container(docs, role)["volumeMounts"]
            if mount["name"] in secret_volumes
        }
        files = {k: v for k, v in environment(docs, role).items() if k.endswith("_FILE")}
        assert "INFERLINE_DATABASE_URL_FILE" in files, "the database URL holds a password"
        for name, path in files.items():
            folder = str(Path(path).parent)
            assert folder in mounts, f"{role}: {name}={path} is not in a mounted secret"
        for name, value in environment(docs, role).items():
            assert not re.search(r"://[^/@\s]+:[^/@\s]+@", value), f"{name} holds a password"


@pytest.mark.parametrize("overlay", ALL)
def test_every_variable_is_a_setting_with_a_valid_value(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(overlay)
    for role in ROLES:
        env = environment(docs, role)
        problems = [problem for name in env if (problem := env_name_problem(name))]
        assert problems == [], f"{overlay} {role}: {problems}"
        validated_settings(env, monkeypatch)  # raises on a value the process would refuse


PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def test_probes_ask_routes_that_exist(tmp_path: Path) -> None:
    routes = http_routes(tmp_path)
    for overlay in ALL:
        docs = render(overlay)
        for role in ROLES:
            spec = container(docs, role)
            ports = {port["name"]: port["containerPort"] for port in spec["ports"]}
            probes = {k: spec[k] for k in PROBES if k in spec}
            assert {"startupProbe", "livenessProbe"} <= set(probes), f"{overlay} {role}"
            for kind, probe in probes.items():
                path, port = probe["httpGet"]["path"], probe["httpGet"]["port"]
                assert port in ports, f"{overlay} {role} {kind}: no container port {port}"
                if role == "api":
                    assert path in routes, f"{overlay} api {kind}: no route {path}"
                else:  # the --metrics-port of a worker or relay
                    assert path == "/metrics"
        api = container(docs, "api")
        assert api["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.parametrize("overlay", ALL)
def test_one_image_and_consistent_ports(overlay: str) -> None:
    docs = render(overlay)
    repositories = set()
    for role in ROLES:
        spec = container(docs, role)
        image = spec["image"]
        repository, _, tag = image.rpartition(":")
        assert repository, f"{role}: image {image} has no tag"
        assert repository.rsplit("/", 1)[-1] == "inferline", f"{role}: image {image}"
        assert re.fullmatch(r"\d+\.\d+\.\d+(-cu\d+)?", tag), f"{role}: tag {tag}"
        repositories.add(repository)
        ports = {port["name"]: port["containerPort"] for port in spec["ports"]}
        args = spec["args"]
        assert args[0] == role
        annotations = deployment(docs, role)["spec"]["template"]["metadata"]["annotations"]
        if role == "api":
            assert int(cli_option(args, "--port")) == ports["http"] == 8000
            assert cli_option(args, "--host") == "0.0.0.0"
            assert "--no-relay" in args, "the relay has its own Deployment"
            assert annotations["prometheus.io/port"] == str(ports["http"])
        else:
            assert int(cli_option(args, "--metrics-port")) == ports["metrics"]
            assert cli_option(args, "--metrics-host") == "0.0.0.0"
            assert annotations["prometheus.io/port"] == str(ports["metrics"])
    assert len(repositories) == 1, f"{overlay}: several image repositories {repositories}"
    for service in of_kind(docs, "Service"):
        matched = [
            name
            for name, labels in pod_labels(docs)
            if selects({"matchLabels": service["spec"]["selector"]}, labels)
        ]
        assert matched, f"Service {service['metadata']['name']} selects no pod"
        for name in matched:
            role = name.removeprefix("inferline-")
            names = {port["name"] for port in container(docs, role)["ports"]}
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in names, f"{service['metadata']['name']}: {port}"


@pytest.mark.parametrize("overlay", ALL)
def test_containers_run_unprivileged_with_resources(overlay: str) -> None:
    docs = render(overlay)
    for role in ROLES:
        pod = deployment(docs, role)["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        spec = container(docs, role)
        security = spec["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        resources = spec["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"])
        assert "memory" in resources["limits"]
        writable = {mount["mountPath"] for mount in spec["volumeMounts"]}
        assert "/tmp" in writable, "a read-only root needs a writable /tmp"


GPU_OVERLAYS = {"prod", "arch-async-batched/prod"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gpu_workers_where_the_overlay_promises_them(overlay: str) -> None:
    docs = render(overlay)
    pod = deployment(docs, "worker")["spec"]["template"]["spec"]
    limits = container(docs, "worker")["resources"]["limits"]
    if overlay in GPU_OVERLAYS:
        assert limits["nvidia.com/gpu"] == 1
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
            "tolerations"
        ]
        assert container(docs, "worker")["image"].endswith("-cu128")
    else:
        assert "nvidia.com/gpu" not in limits
        assert "nodeSelector" not in pod
    for role in ("api", "relay"):
        assert "nvidia.com/gpu" not in container(docs, role)["resources"]["limits"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ocr_overlays_choose_their_strategy_by_configuration(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(overlay)
    env = environment(docs, "worker")
    if not overlay.startswith("arch-async-"):
        assert "INFERLINE_PROFILE" not in env
        return
    strategy = overlay.split("/")[0].removeprefix("arch-async-")
    for role in ROLES:
        assert environment(docs, role)["INFERLINE_PROFILE"] == strategy
    assert env["INFERLINE_MODELS"] == "ocr-tesseract,ocr-rapid"
    if overlay == "arch-async-batched/prod":
        batching = validated_settings(env, monkeypatch).batching
        assert batching["ocr-rapid"].max_batch_size == 16
    # The API stores uploads and the workers read them: both mount the shared blob volume.
    claims = set()
    for role in ("api", "worker"):
        pod = deployment(docs, role)["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container(docs, role)["volumeMounts"]}
        volume = volumes[mounts[env["INFERLINE_BLOB_PATH"]]]
        claims.add(volume["persistentVolumeClaim"]["claimName"])
    assert len(claims) == 1
    claim = named(docs, "PersistentVolumeClaim", claims.pop())
    one_node = overlay.endswith("/dev")  # kind, minikube: local storage, one node
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce" if one_node else "ReadWriteMany"]
    replicas = deployment(docs, "worker")["spec"]["replicas"]
    assert (
        replicas == {"dev": 1, "prod": 6 if strategy == "standard" else 2}[overlay[-4:].strip("/")]
    )


@pytest.mark.parametrize("overlay", ALL)
def test_budgets_and_autoscalers_point_at_pods_that_exist(overlay: str) -> None:
    docs = render(overlay)
    labels = dict(pod_labels(docs))
    budgets = of_kind(docs, "PodDisruptionBudget")
    covered = set()
    for budget in budgets:
        matched = [name for name, pod in labels.items() if selects(budget["spec"]["selector"], pod)]
        assert matched, f"PodDisruptionBudget {budget['metadata']['name']} selects no pod"
        covered.update(matched)
        assert budget["spec"].get("maxUnavailable") == 1
    assert {"inferline-api", "inferline-worker"} <= covered
    (hpa,) = of_kind(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "inferline-api",
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


QUEUE_SCALED = {"prod", "arch-async-standard/prod", "arch-async-batched/prod"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_queue_depth_autoscaling(overlay: str) -> None:
    """KEDA's ScaledObject is a custom resource, absent from the Kubernetes schemas: its
    shape is checked here against KEDA's documented fields."""
    docs = render(overlay)
    scaled = of_kind(docs, "ScaledObject")
    if overlay not in QUEUE_SCALED:
        assert scaled == []
        return
    (scaler,) = scaled
    assert scaler["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaler["spec"]
    assert set(spec) <= {
        "scaleTargetRef",
        "minReplicaCount",
        "maxReplicaCount",
        "pollingInterval",
        "cooldownPeriod",
        "idleReplicaCount",
        "fallback",
        "advanced",
        "triggers",
    }
    target = spec["scaleTargetRef"]
    deployment(docs, target["name"].removeprefix("inferline-"))
    assert target.get("kind", "Deployment") == "Deployment"
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert isinstance(spec["pollingInterval"], int)
    assert isinstance(spec["cooldownPeriod"], int)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus"
    metadata = trigger["metadata"]
    assert all(isinstance(value, str) for value in metadata.values()), "KEDA wants strings"
    assert metadata["serverAddress"].startswith("http")
    float(metadata["threshold"])
    float(metadata["activationThreshold"])
    metrics_in_query = set(re.findall(r"\binferline_[a-z_]+", metadata["query"]))
    assert metrics_in_query == {"inferline_queue_depth"}
    assert metrics_in_query <= metric_names()
    namespace = scaler["metadata"]["namespace"]
    assert f'namespace="{namespace}"' in metadata["query"]
    hpas = [
        hpa
        for hpa in of_kind(docs, "HorizontalPodAutoscaler")
        if hpa["spec"]["scaleTargetRef"]["name"] == target["name"]
    ]
    assert hpas == [], "KEDA makes the workers' HPA; a second one would fight it"


def _ports(rule: Doc) -> set[tuple[str, int]]:
    return {(port.get("protocol", "TCP"), port["port"]) for port in rule.get("ports", [])}


@pytest.mark.parametrize("overlay", ALL)
def test_network_policies(overlay: str) -> None:
    docs = render(overlay)
    policies = of_kind(docs, "NetworkPolicy")
    for role, labels in ((name.removeprefix("inferline-"), pod) for name, pod in pod_labels(docs)):
        applying = [p for p in policies if selects(p["spec"]["podSelector"], labels)]
        types = {t for p in applying for t in p["spec"]["policyTypes"]}
        assert types == {"Ingress", "Egress"}, f"{role}: not isolated both ways"
        ingress = [rule for p in applying for rule in p["spec"].get("ingress", [])]
        egress = [rule for p in applying for rule in p["spec"].get("egress", [])]
        open_ingress = [rule for rule in ingress if not rule.get("from")]
        if role == "api":
            assert [_ports(rule) for rule in open_ingress] == [{("TCP", 8000)}]
        else:
            assert open_ingress == [], f"{role} is reachable from outside"
            for rule in ingress:
                for peer in rule["from"]:
                    assert peer["namespaceSelector"]["matchLabels"] == {
                        "kubernetes.io/metadata.name": "monitoring"
                    }
                assert _ports(rule) <= {("TCP", 9101), ("TCP", 9102)}
        reachable: set[tuple[str, int]] = set()
        for rule in egress:
            ports = _ports(rule)
            assert ports, f"{role}: an egress rule without ports allows everything"
            if ports & DNS_PORTS:
                assert ports == DNS_PORTS
                (peer,) = rule["to"]
                assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
            reachable |= ports
        assert reachable == BACKEND_PORTS | DNS_PORTS, f"{role} reaches {reachable}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_way_in_is_an_ingress_to_the_api_with_tls(overlay: str) -> None:
    docs = render(overlay)
    ingresses = of_kind(docs, "Ingress")
    if overlay not in QUEUE_SCALED:  # the prod overlays
        assert ingresses == []
        return
    (ingress,) = ingresses
    spec = ingress["spec"]
    (rule,) = spec["rules"]
    (tls,) = spec["tls"]
    assert tls["hosts"] == [rule["host"]]
    assert tls["secretName"]
    service = named(docs, "Service", "inferline-api")
    for path in rule["http"]["paths"]:
        backend = path["backend"]["service"]
        assert backend["name"] == "inferline-api"
        assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}


def test_prod_overlays_have_their_own_hosts() -> None:
    hosts = {
        overlay: of_kind(render(overlay), "Ingress")[0]["spec"]["rules"][0]["host"]
        for overlay in sorted(QUEUE_SCALED)
    }
    assert len(set(hosts.values())) == len(hosts), hosts


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_prometheus_operator_scrapes_every_pod(overlay: str) -> None:
    """The PodMonitor (a custom resource) by the Prometheus Operator's documented fields."""
    docs = render(overlay)
    monitors = of_kind(docs, "PodMonitor")
    if overlay not in QUEUE_SCALED:
        assert monitors == []
        return
    (monitor,) = monitors
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor["spec"]) <= {"selector", "podMetricsEndpoints", "namespaceSelector"}
    endpoints = monitor["spec"]["podMetricsEndpoints"]
    for role in ROLES:
        labels = deployment(docs, role)["spec"]["template"]["metadata"]["labels"]
        assert selects(monitor["spec"]["selector"], labels), f"{role} is not scraped"
        ports = {port["name"] for port in container(docs, role)["ports"]}
        scraped = [e for e in endpoints if e["port"] in ports]
        assert [e["path"] for e in scraped] == ["/metrics"], f"{role}: {scraped}"


def _fluent_bit(docs: list[Doc]) -> tuple[Doc, Doc]:
    """The collector's DaemonSet and its one container."""
    daemonset = named(docs, "DaemonSet", "fluent-bit")
    (spec,) = daemonset["spec"]["template"]["spec"]["containers"]
    return daemonset, spec


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_log_collector_forwards_to_the_apis_forward_port(overlay: str) -> None:
    docs = render(overlay)
    if overlay not in LOGS_OVERLAYS:
        assert of_kind(docs, "DaemonSet") == []
        assert LOGS_FORWARD_PORT not in environment(docs, "api")
        return
    api_ports = {port["name"]: port["containerPort"] for port in container(docs, "api")["ports"]}
    assert api_ports["forward"] == FORWARD_PORT
    assert environment(docs, "api")[LOGS_FORWARD_PORT] == str(FORWARD_PORT)
    for role in ("worker", "relay"):
        assert "forward" not in {port["name"] for port in container(docs, role)["ports"]}
    daemonset, spec = _fluent_bit(docs)
    env = {item["name"]: item["value"] for item in spec["env"]}
    service = named(docs, "Service", env["FORWARD_HOST"])
    (port,) = service["spec"]["ports"]
    assert port["port"] == int(env["FORWARD_PORT"]) == FORWARD_PORT
    assert port["targetPort"] == "forward"
    api_labels = deployment(docs, "api")["spec"]["template"]["metadata"]["labels"]
    assert selects({"matchLabels": service["spec"]["selector"]}, api_labels)
    # Every ${VARIABLE} of the configuration is set in the container.
    config = named(docs, "ConfigMap", spec_config_name(daemonset))
    used = set(re.findall(r"^\s*[^#\s].*\$\{(\w+)\}", config["data"]["fluent-bit.conf"], re.M))
    assert used <= set(env), f"unset in the DaemonSet: {used - set(env)}"


def spec_config_name(daemonset: Doc) -> str:
    volumes = daemonset["spec"]["template"]["spec"]["volumes"]
    (config,) = [volume["configMap"]["name"] for volume in volumes if "configMap" in volume]
    return str(config)


@pytest.mark.parametrize("overlay", sorted(LOGS_OVERLAYS))
def test_the_log_collector_runs_the_repositorys_configuration(overlay: str) -> None:
    docs = render(overlay)
    daemonset, spec = _fluent_bit(docs)
    config = named(docs, "ConfigMap", spec_config_name(daemonset))
    for name in ("fluent-bit.conf", "parsers.conf"):
        assert config["data"][name] == (DEPLOY / "fluent-bit" / name).read_text()
    mounts = {mount["name"]: mount for mount in spec["volumeMounts"]}
    volumes = {
        volume["name"]: volume for volume in daemonset["spec"]["template"]["spec"]["volumes"]
    }
    (config_volume,) = [name for name, volume in volumes.items() if "configMap" in volume]
    assert spec["args"] == [f"--config={mounts[config_volume]['mountPath']}/fluent-bit.conf"]
    logs = [
        name
        for name, volume in volumes.items()
        if volume.get("hostPath", {}).get("path") == "/var/log"
    ]
    assert [mounts[name].get("readOnly") for name in logs] == [True]
    # Read positions and buffered chunks live where fluent-bit.conf puts them, on the node.
    conf = config["data"]["fluent-bit.conf"]
    state = [m["mountPath"] for m in mounts.values() if not m.get("readOnly")]
    assert state and all(path in conf for path in state)


@pytest.mark.parametrize("overlay", sorted(LOGS_OVERLAYS))
def test_the_log_collector_reads_pods_and_namespaces_only(overlay: str) -> None:
    docs = render(overlay)
    daemonset, spec = _fluent_bit(docs)
    pod = daemonset["spec"]["template"]["spec"]
    account = named(docs, "ServiceAccount", pod["serviceAccountName"])
    assert pod["automountServiceAccountToken"] is True, "the kubernetes filter needs a token"
    (binding,) = of_kind(docs, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": daemonset["metadata"]["namespace"],
        }
    ]
    role = named(docs, "ClusterRole", binding["roleRef"]["name"])
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["get", "list", "watch"]}
    ]
    assert of_kind(docs, "Role") == [] and of_kind(docs, "RoleBinding") == []
    # The only token mounted in the deployment is the collector's.
    for role_name in ROLES:
        assert (
            deployment(docs, role_name)["spec"]["template"]["spec"]["automountServiceAccountToken"]
            is False
        )
    # Root to read the runtime's files, but nothing else.
    security = spec["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "privileged" not in security and "add" not in security["capabilities"]
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert "memory" in spec["resources"]["limits"]
    assert {"operator": "Exists"} in pod["tolerations"], "every node's logs, GPU nodes too"


@pytest.mark.parametrize("overlay", sorted(LOGS_OVERLAYS))
def test_network_policies_of_the_log_collector(overlay: str) -> None:
    docs = render(overlay)
    daemonset, _ = _fluent_bit(docs)
    collector = daemonset["spec"]["template"]["metadata"]["labels"]
    api = deployment(docs, "api")["spec"]["template"]["metadata"]["labels"]
    policies = of_kind(docs, "NetworkPolicy")
    applying = [p for p in policies if selects(p["spec"]["podSelector"], collector)]
    assert {t for p in applying for t in p["spec"]["policyTypes"]} == {"Ingress", "Egress"}
    ingress = [rule for p in applying for rule in p["spec"].get("ingress", [])]
    assert [_ports(rule) for rule in ingress] == [{("TCP", 2020)}]
    assert all(
        peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}
        for rule in ingress
        for peer in rule["from"]
    )
    egress = [rule for p in applying for rule in p["spec"].get("egress", [])]
    to_api = [
        r
        for r in egress
        if any(
            selects(peer.get("podSelector", {}), api) and "namespaceSelector" not in peer
            for peer in r.get("to", [])
        )
    ]
    assert [_ports(rule) for rule in to_api] == [{("TCP", FORWARD_PORT)}]
    reachable = set().union(*(_ports(rule) for rule in egress))
    assert reachable == DNS_PORTS | {("TCP", FORWARD_PORT), ("TCP", 443), ("TCP", 6443)}
    # ... and the API lets the collector in on that port, and nobody else.
    forward_rules = [
        rule
        for p in policies
        if selects(p["spec"]["podSelector"], api)
        for rule in p["spec"].get("ingress", [])
        if ("TCP", FORWARD_PORT) in _ports(rule)
    ]
    (rule,) = forward_rules
    assert _ports(rule) == {("TCP", FORWARD_PORT)}
    (peer,) = rule["from"]
    assert set(peer) == {"podSelector"} and selects(peer["podSelector"], collector)
