"""Reading the deployment files the way their tools do: docker-compose.yml, the kustomize builds of k8s/,
the Dockerfiles, and the settings each service knows."""

from __future__ import annotations

import inspect
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from callbridge.common.health import health_app
from callbridge.dialer.config import DialerSettings
from callbridge.media.config import MediaSettings
from callbridge.media.main import CUT_GRACE_S
from callbridge.media.server import MediaServer
from callbridge.transfer.config import TransferSettings
from callbridge.webhooks.config import WebhooksSettings
from callbridge.webhooks.main import create_app
from tests.webhooks.hostile import route_cases

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "CALLBRIDGE_"
SERVICES = ("webhooks", "media", "dialer", "transfer")
DEPLOYMENTS = {
    "webhooks": "callbridge-webhooks",
    "media": "callbridge-media",
    "dialer": "callbridge-dialer",
    "transfer": "callbridge-transfer",
}
# Served inside the cluster only: never routed by an Ingress.
NOT_PUBLIC = ("/metrics", "/livez", "/readyz", "/healthz")
# The standard OpenTelemetry variables the services are given (the SDK reads them itself).
OTEL_VARIABLES = {"OTEL_EXPORTER_OTLP_ENDPOINT"}

Document = dict[str, Any]


def cut_time_s() -> float:
    """How long media takes past its drain timeout to end the calls it cuts (their last audio, then the
    close), with its default settings."""
    return MediaSettings().hang_up_drain_timeout_s + CUT_GRACE_S


def settings_names(model: type[Any]) -> set[str]:
    return {PREFIX + name.upper() for name in model.model_fields}


KNOWN_SETTINGS = {
    "webhooks": settings_names(WebhooksSettings),
    "media": settings_names(MediaSettings),
    "dialer": settings_names(DialerSettings),
    "transfer": settings_names(TransferSettings),
}


def load_compose() -> Document:
    compose: Document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose


def kubectl() -> str:
    found = shutil.which("kubectl")
    assert found, "kubectl is missing: `make setup` installs it (Debian's kubernetes-client)"
    return found


def kustomize_build(folder: str) -> list[Document]:
    """The documents ``kubectl kustomize k8s/<folder>`` builds (kustomize's own deprecation notices on
    stderr are not failures)."""
    built = subprocess.run(
        [kubectl(), "kustomize", str(ROOT / "k8s" / folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    return [document for document in yaml.safe_load_all(built.stdout) if document]


def one(documents: list[Document], kind: str, name: str) -> Document:
    (found,) = [d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def of_kind(documents: list[Document], kind: str) -> list[Document]:
    return [d for d in documents if d["kind"] == kind]


def workloads(documents: list[Document]) -> list[Document]:
    return [d for d in documents if d["kind"] in ("Deployment", "StatefulSet")]


def pod_labels(workload: Document) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: Document, labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels and matchExpressions) matches ``labels``."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


def container(workload: Document, name: str | None = None) -> Document:
    containers: list[Document] = workload["spec"]["template"]["spec"]["containers"]
    if name is None:
        (found,) = containers
        return found
    (found,) = [c for c in containers if c["name"] == name]
    return found


def env_values(container_spec: Document) -> dict[str, str]:
    return {item["name"]: item.get("value", "") for item in container_spec.get("env", [])}


def dockerfile_stages(service: str) -> list[list[str]]:
    """The Dockerfile's instructions, one list per stage (each starting with its FROM line)."""
    stages: list[list[str]] = []
    for line in (ROOT / "services" / service / "Dockerfile").read_text().splitlines():
        if line.startswith("FROM "):
            stages.append([line])
        elif line and not line.startswith("#") and stages:
            stages[-1].append(line)
    return stages


def served_paths(service: str) -> set[str]:
    """The HTTP paths ``service`` answers, read from the service itself."""
    if service == "webhooks":
        return {case.path for case in route_cases(create_app(WebhooksSettings()))}
    if service in ("dialer", "transfer"):
        return {getattr(route, "path", "") for route in health_app(lambda: True).routes}
    # Media answers plain HTTP in process_request, before any WebSocket handshake.
    source = inspect.getsource(MediaServer.process_request)
    return {path for path in NOT_PUBLIC if f'"{path}"' in source}
