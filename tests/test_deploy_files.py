"""docker-compose.yml and k8s/ stay in step with the code: valid YAML, and only settings that exist."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from callbridge.dialer.config import DialerSettings
from callbridge.media.config import MediaSettings
from callbridge.webhooks.config import WebhooksSettings

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "CALLBRIDGE_"


def _settings_names(*models: type[Any]) -> set[str]:
    return {PREFIX + name.upper() for model in models for name in model.model_fields}


WEBHOOKS = _settings_names(WebhooksSettings)
MEDIA = _settings_names(MediaSettings)
DIALER = _settings_names(DialerSettings)


def _env_of(container: dict[str, Any]) -> set[str]:
    return {item["name"] for item in container.get("env", [])}


def test_compose_passes_only_known_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"nats", "webhooks", "media", "dialer"} <= services.keys()
    for name, known in (("webhooks", WEBHOOKS), ("media", MEDIA), ("dialer", DIALER)):
        env = set(services[name]["environment"])
        assert env <= known, f"{name}: unknown settings {env - known}"
        assert services[name]["build"]["dockerfile"] == f"services/{name}/Dockerfile"
        assert (ROOT / services[name]["build"]["dockerfile"]).is_file()


@pytest.mark.parametrize(
    ("manifest", "known"),
    [("webhooks.yaml", WEBHOOKS), ("media.yaml", MEDIA), ("dialer.yaml", DIALER)],
)
def test_k8s_deployments_use_known_settings_and_the_config(manifest: str, known: set[str]) -> None:
    documents = list(yaml.safe_load_all((ROOT / "k8s" / manifest).read_text()))
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert _env_of(container) <= known
    config = {d["kind"]: d for d in yaml.safe_load_all((ROOT / "k8s" / "config.yaml").read_text())}
    shared = set(config["ConfigMap"]["data"])
    assert shared <= WEBHOOKS
    assert shared - {PREFIX + "API_KEY", PREFIX + "PUBLIC_BASE_URL", PREFIX + "MEDIA_PUBLIC_URL"} <= known
    port = container["ports"][0]["containerPort"]
    assert str(port) in {item["value"] for item in container["env"]}
    (service,) = [d for d in documents if d["kind"] == "Service"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def _compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose


def test_compose_runs_nats_with_authorization_and_publishes_only_what_must_be_reached() -> None:
    services = _compose()["services"]
    nats = services["nats"]
    config_path = next(v.split(":")[0] for v in nats["volumes"] if v.split(":")[1] == "/etc/nats/nats.conf")
    config = (ROOT / config_path).read_text()
    assert "authorization" in config
    assert "$CALLBRIDGE_NATS_PASSWORD" in config  # read from the environment, not written in the file
    assert "/etc/nats/nats.conf" in nats["command"]
    for name, service in services.items():
        for port in service.get("ports", []):
            if name not in ("webhooks", "media"):
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
    for name in ("webhooks", "media", "dialer"):
        env = services[name]["environment"]
        assert env["CALLBRIDGE_NATS_USER"]
        assert env["CALLBRIDGE_NATS_PASSWORD"].startswith("${CALLBRIDGE_NATS_PASSWORD")
        assert "/livez" in " ".join(services[name]["healthcheck"]["test"])


def test_k8s_ships_no_secret_and_probes_liveness_apart_from_readiness() -> None:
    for manifest in sorted((ROOT / "k8s").glob("*.yaml")):
        kinds = [d["kind"] for d in yaml.safe_load_all(manifest.read_text()) if d]
        assert "Secret" not in kinds, f"{manifest.name}: kubectl apply would overwrite the real Secret"
    containers = {}
    for name in ("webhooks", "media", "dialer"):
        documents = list(yaml.safe_load_all((ROOT / "k8s" / f"{name}.yaml").read_text()))
        (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
        (containers[name],) = deployment["spec"]["template"]["spec"]["containers"]
        assert {"secretRef": {"name": "callbridge"}} in containers[name]["envFrom"]
        assert containers[name]["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert containers["webhooks"]["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert containers["dialer"]["livenessProbe"]["httpGet"]["path"] == "/livez"
    # Media has none on purpose: a draining replica closes its listener while its calls run on.
    assert "livenessProbe" not in containers["media"]


@pytest.mark.parametrize("service", ["webhooks", "media", "dialer"])
def test_the_images_health_check_is_liveness(service: str) -> None:
    dockerfile = (ROOT / "services" / service / "Dockerfile").read_text()
    (healthcheck,) = [line for line in dockerfile.splitlines() if line.startswith("HEALTHCHECK")]
    assert "/livez" in healthcheck


def _callbridge_requirements(package_dir: Path) -> set[str]:
    """The callbridge packages ``package_dir``'s pyproject needs, directly or through another one."""
    locations = {"callbridge-common": "libs/common", "callbridge-telephony": "libs/telephony"}
    found: set[str] = set()
    pending = [package_dir]
    while pending:
        project = tomllib.loads((pending.pop() / "pyproject.toml").read_text())["project"]
        for requirement in project["dependencies"]:
            name = requirement.split(";")[0].split(">")[0].split("=")[0].split("[")[0].strip()
            if name.startswith("callbridge-") and locations[name] not in found:
                found.add(locations[name])
                pending.append(ROOT / locations[name])
    return found


@pytest.mark.parametrize("service", ["webhooks", "media", "dialer"])
def test_each_image_installs_every_callbridge_library_its_service_needs(service: str) -> None:
    dockerfile = (ROOT / "services" / service / "Dockerfile").read_text()
    (install,) = [line for line in dockerfile.splitlines() if line.startswith("RUN pip install")]
    for library in sorted(_callbridge_requirements(ROOT / "services" / service)):
        assert f"COPY {library} {library}" in dockerfile, f"{service} image lacks {library}"
        assert f"./{library}" in install, f"{service} image does not install {library}"
