"""docker-compose.yml runs the whole stack, valid for docker compose, and stays in step with the code: only
settings that exist, health checks that gate start-up, observability wired from the services to the UIs."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.manifests import (
    KNOWN_SETTINGS,
    OTEL_VARIABLES,
    PREFIX,
    ROOT,
    SERVICES,
    cut_time_s,
    load_compose,
)

OBSERVABILITY = ("otel-collector", "jaeger", "prometheus", "grafana")


def _compose_schema() -> jsonschema.Draft7Validator:
    """The Compose Specification's JSON schema (draft-07), shipped beside these tests."""
    schema = json.loads((ROOT / "tests/deploy/schemas/compose-spec.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _compose_plugin() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30, check=False)
    return docker if probe.returncode == 0 else None


def test_compose_file_is_valid_for_docker_compose() -> None:
    docker = _compose_plugin()
    if docker is not None:
        checked = subprocess.run(
            [docker, "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
    # Either way (the docker here has no compose plugin), the Compose Specification's own schema, which
    # docker compose validates against too.
    _compose_schema().validate(load_compose())


def test_the_schema_check_catches_a_broken_compose_file() -> None:
    validator = _compose_schema()
    broken = load_compose()
    broken["services"]["media"]["depends_on"]["nats"]["condition"] = "service_sleeping"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)
    misspelled = load_compose()
    misspelled["services"]["grafana"]["helthcheck"] = misspelled["services"]["grafana"].pop("healthcheck")
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(misspelled)


def test_compose_runs_the_whole_stack() -> None:
    services = load_compose()["services"]
    assert {"nats", *SERVICES, *OBSERVABILITY} <= services.keys()


@pytest.mark.parametrize("name", SERVICES)
def test_compose_passes_only_known_settings_and_the_standard_otel_endpoint(name: str) -> None:
    service = load_compose()["services"][name]
    env = set(service["environment"])
    ours = {variable for variable in env if variable.startswith(PREFIX)}
    assert ours <= KNOWN_SETTINGS[name], f"{name}: unknown settings {ours - KNOWN_SETTINGS[name]}"
    assert env - ours <= OTEL_VARIABLES, f"{name}: unknown variables {env - ours - OTEL_VARIABLES}"
    # Traces go through the collector, named by the standard variable only.
    assert "CALLBRIDGE_OTEL_EXPORTER_OTLP_ENDPOINT" not in env
    assert service["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    assert service["build"] == {"context": ".", "dockerfile": f"services/{name}/Dockerfile"}
    assert (ROOT / service["build"]["dockerfile"]).is_file()


def test_compose_runs_nats_with_authorization_and_publishes_only_what_must_be_reached() -> None:
    services = load_compose()["services"]
    nats = services["nats"]
    config_path = next(v.split(":")[0] for v in nats["volumes"] if v.split(":")[1] == "/etc/nats/nats.conf")
    config = (ROOT / config_path).read_text()
    assert "authorization" in config
    assert "$CALLBRIDGE_NATS_PASSWORD" in config  # read from the environment, not written in the file
    assert "/etc/nats/nats.conf" in nats["command"]
    assert any(volume.endswith(":/data") for volume in nats["volumes"])  # JetStream's store on a volume
    for name, service in services.items():
        for port in service.get("ports", []):
            if name not in ("webhooks", "media"):
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"
    assert services["dialer"].get("ports") is None
    assert services["transfer"].get("ports") is None
    for name in SERVICES:
        env = services[name]["environment"]
        assert env["CALLBRIDGE_NATS_USER"]
        assert env["CALLBRIDGE_NATS_PASSWORD"].startswith("${CALLBRIDGE_NATS_PASSWORD")
        assert "/livez" in " ".join(services[name]["healthcheck"]["test"])


def test_health_checks_gate_start_up_order() -> None:
    services = load_compose()["services"]
    for name in SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on["nats"] == {"condition": "service_healthy"}
        assert "otel-collector" in depends_on
    assert services["grafana"]["depends_on"]["prometheus"] == {"condition": "service_healthy"}
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits on {dependency}'s missing check"


def test_media_gets_time_to_drain_when_stopped() -> None:
    """The drain timeout, then the cut calls' last audio and close (cut_time_s), then closing NATS."""
    media = load_compose()["services"]["media"]
    drain_s = float(media["environment"]["CALLBRIDGE_DRAIN_TIMEOUT_S"])
    assert media["stop_grace_period"].endswith("s")
    assert float(media["stop_grace_period"].removesuffix("s")) >= drain_s + cut_time_s() + 5


def _volume_source(service: dict[str, Any], target: str) -> str:
    (source,) = [str(v).split(":")[0] for v in service["volumes"] if str(v).split(":")[1] == target]
    return source.removeprefix("./")


def test_the_collector_takes_otlp_over_http_and_exports_traces_to_jaeger() -> None:
    services = load_compose()["services"]
    collector = services["otel-collector"]
    assert collector["image"].startswith("otel/opentelemetry-collector-contrib:")
    config_file = ROOT / _volume_source(collector, "/etc/otelcol-contrib/config.yaml")
    config = yaml.safe_load(config_file.read_text())
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    pipeline = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        assert set(pipeline[kind]) <= set(config[kind]), f"the traces pipeline names undefined {kind}"
    (exporter,) = [config["exporters"][name] for name in pipeline["exporters"]]
    host, port = exporter["endpoint"].split(":")
    assert host == "jaeger"
    assert port == "4317"
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    assert "127.0.0.1:16686:16686" in services["jaeger"]["ports"]


def test_prometheus_scrapes_every_service_on_its_metrics_port() -> None:
    services = load_compose()["services"]
    prometheus = services["prometheus"]
    config = yaml.safe_load((ROOT / _volume_source(prometheus, "/etc/prometheus/prometheus.yml")).read_text())
    scraped = {}
    for job in config["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            for name in sd["names"]:
                scraped[name] = sd["port"]
    ports = {"webhooks": 8000, "media": 8001, "dialer": 8002, "transfer": 8003}
    assert scraped == ports
    for name, port in ports.items():
        assert f"{port}" in " ".join(services[name]["healthcheck"]["test"])  # the port the service serves
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in config["scrape_configs"])


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    grafana = load_compose()["services"]["grafana"]
    provisioning = ROOT / _volume_source(grafana, "/etc/grafana/provisioning")
    dashboards = ROOT / _volume_source(grafana, "/var/lib/grafana/dashboards")
    (datasource,) = yaml.safe_load((provisioning / "datasources/prometheus.yaml").read_text())["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards/callbridge.yaml").read_text())["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert (dashboards / "callbridge.json").is_file()
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD")
