"""The kustomize base and GPU overlay render and validate against the Kubernetes schemas,
offline: `kubectl kustomize` (or `kustomize build`) when installed, else a small renderer.
"""

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.config import Settings
from tests.deploy import kustomize
from tests.deploy.conftest import DEPLOY, find_tool

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed (pip install it)"
)

K8S = DEPLOY / "k8s"
TARGETS = {
    "base": K8S / "base",
    "gpu": K8S / "overlays" / "gpu",
    "shared-models": K8S / "overlays" / "shared-models",
}
OVERLAY_KINDS = {"shared-models": {"PersistentVolumeClaim"}}
KUBERNETES_VERSION = "1.30.0"
CUSTOM_KINDS = {"ServiceMonitor"}  # CRDs: no schema in kubernetes-validate


def render(directory: Path) -> list[dict[str, Any]]:
    kubectl, standalone = find_tool("kubectl"), find_tool("kustomize")
    command = (
        [standalone, "build", str(directory)] if standalone
        else [kubectl, "kustomize", str(directory)] if kubectl
        else None
    )  # fmt: skip
    if command is None:
        return kustomize.render(directory)
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=sorted(TARGETS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, dict[str, dict[str, Any]]]:
    resources = render(TARGETS[request.param])
    return request.param, {r["kind"]: r for r in resources}


def test_every_builtin_resource_is_valid(rendered):
    target, by_kind = rendered
    assert set(by_kind) == {
        "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor"
    } | OVERLAY_KINDS.get(target, set())  # fmt: skip
    for kind, resource in by_kind.items():
        if kind not in CUSTOM_KINDS:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_invalid_manifest_is_rejected():
    """The validator really checks: a misspelt field fails in strict mode."""
    (deployment,) = [r for r in render(TARGETS["base"]) if r["kind"] == "Deployment"]
    kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    broken = kustomize.merge(deployment, {"spec": {"replica": 3}})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def _container(by_kind: dict[str, dict[str, Any]]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = by_kind["Deployment"]["spec"]["template"]["spec"][
        "containers"
    ]
    (container,) = containers
    return container


def test_probes_resources_and_graceful_stop(rendered):
    _, by_kind = rendered
    container = _container(by_kind)
    # grpc.health.v1's empty service answers as /readyz does (service/rpc/health.py).
    grpc_port = next(p["containerPort"] for p in container["ports"] if p["name"] == "grpc")
    assert container["readinessProbe"]["grpc"] == {"port": grpc_port}
    assert grpc_port == Settings.model_fields["grpc_port"].default
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    drain = next(e for e in container["env"] if e["name"] == "KERASSERVE_DRAIN_TIMEOUT_S")
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    grace = by_kind["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert pre_stop + float(drain["value"]) < grace


def test_service_hpa_and_monitor_point_at_the_deployment(rendered):
    _, by_kind = rendered
    deployment, service = by_kind["Deployment"], by_kind["Service"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    container_ports = {p["name"] for p in _container(by_kind)["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports
    hpa_target = by_kind["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert hpa_target["kind"] == "Deployment"
    assert hpa_target["name"] == deployment["metadata"]["name"]

    monitor = by_kind["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    service_labels = service["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels.items()
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in service_ports
        assert endpoint["path"] == "/metrics"
    # The alert rules select job="kerasserve"; the operator takes the job from this label.
    assert service_labels[monitor["spec"]["jobLabel"]] == "kerasserve"


def test_gpu_overlay_requests_a_gpu_and_the_gpu_image():
    by_kind = {r["kind"]: r for r in render(TARGETS["gpu"])}
    container = _container(by_kind)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["image"].endswith(":gpu")
    assert {"name": "KERASSERVE_DEVICE", "value": "gpu"} in container["env"]
    base_container = _container({r["kind"]: r for r in render(TARGETS["base"])})
    assert base_container["image"].endswith(":cpu")
    assert "nvidia.com/gpu" not in base_container["resources"]["limits"]


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        if all(isinstance(i, dict) and "name" in i for i in items):
            return sorted(items, key=lambda i: i["name"])
        return items
    return value


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fallback_renderer_matches_kubectl(target):
    if find_tool("kubectl") is None and find_tool("kustomize") is None:
        pytest.skip("neither kubectl nor kustomize is installed to compare with")

    def by_kind(resources: list[dict[str, Any]]) -> list[Any]:
        return sorted((_canonical(r) for r in resources), key=lambda r: r["kind"])

    assert by_kind(kustomize.render(TARGETS[target])) == by_kind(render(TARGETS[target]))


def test_replicas_spread_over_nodes(rendered):
    _, by_kind = rendered
    spec = by_kind["Deployment"]["spec"]["template"]["spec"]
    keys = {c["topologyKey"] for c in spec["topologySpreadConstraints"]}
    assert "kubernetes.io/hostname" in keys
    pods = {"app.kubernetes.io/name": "kerasserve"}
    for constraint in spec["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"] == pods


def test_shared_models_overlay_mounts_one_read_only_volume_in_every_pod():
    by_kind = {r["kind"]: r for r in render(TARGETS["shared-models"])}
    claim = by_kind["PersistentVolumeClaim"]
    assert claim["spec"]["accessModes"] == ["ReadOnlyMany"]
    spec = by_kind["Deployment"]["spec"]["template"]["spec"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == "models"]
    assert volume["persistentVolumeClaim"] == {
        "claimName": claim["metadata"]["name"], "readOnly": True
    }  # fmt: skip
    mounts = {m["mountPath"]: m for m in _container(by_kind)["volumeMounts"]}
    assert mounts["/models"] == {"name": "models", "mountPath": "/models", "readOnly": True}
    assert "/tmp" in mounts  # the base's mounts are kept
