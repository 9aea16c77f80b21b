"""docker-compose.yml and k8s/ stay in step with the code: valid YAML, and only settings that exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from callbridge.media.config import MediaSettings
from callbridge.webhooks.config import WebhooksSettings

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "CALLBRIDGE_"


def _settings_names(*models: type[Any]) -> set[str]:
    return {PREFIX + name.upper() for model in models for name in model.model_fields}


WEBHOOKS = _settings_names(WebhooksSettings)
MEDIA = _settings_names(MediaSettings)


def _env_of(container: dict[str, Any]) -> set[str]:
    return {item["name"] for item in container.get("env", [])}


def test_compose_passes_only_known_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"nats", "webhooks", "media"} <= services.keys()
    for name, known in (("webhooks", WEBHOOKS), ("media", MEDIA)):
        env = set(services[name]["environment"])
        assert env <= known, f"{name}: unknown settings {env - known}"
        assert services[name]["build"]["dockerfile"] == f"services/{name}/Dockerfile"
        assert (ROOT / services[name]["build"]["dockerfile"]).is_file()


@pytest.mark.parametrize(("manifest", "known"), [("webhooks.yaml", WEBHOOKS), ("media.yaml", MEDIA)])
def test_k8s_deployments_use_known_settings_and_the_config(manifest: str, known: set[str]) -> None:
    documents = list(yaml.safe_load_all((ROOT / "k8s" / manifest).read_text()))
    (deployment,) = [d for d in documents if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert _env_of(container) <= known
    config = {d["kind"]: d for d in yaml.safe_load_all((ROOT / "k8s" / "config.yaml").read_text())}
    shared = set(config["ConfigMap"]["data"]) | set(config["Secret"]["stringData"])
    assert shared <= WEBHOOKS
    assert shared - {PREFIX + "API_KEY", PREFIX + "PUBLIC_BASE_URL", PREFIX + "MEDIA_PUBLIC_URL"} <= known
    port = container["ports"][0]["containerPort"]
    assert str(port) in {item["value"] for item in container["env"]}
    (service,) = [d for d in documents if d["kind"] == "Service"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
