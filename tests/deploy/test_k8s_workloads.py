"""k8s/: the workloads fit the code and each other: settings that exist, probes on routes the services
serve, Services and PDBs selecting real pods, media's drain numbers in step and its scaling by calls, the
NATS cluster's routes, storage and credentials."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.deploy.manifests import (
    DEPLOYMENTS,
    KNOWN_SETTINGS,
    OTEL_VARIABLES,
    PREFIX,
    Document,
    container,
    cut_time_s,
    env_values,
    of_kind,
    one,
    pod_labels,
    selects,
    served_paths,
    workloads,
)


@pytest.mark.parametrize("service", sorted(DEPLOYMENTS))
def test_deployments_pass_only_known_settings_and_read_the_config_and_secret(
    build: list[Document], service: str
) -> None:
    deployment = one(build, "Deployment", DEPLOYMENTS[service])
    spec = container(deployment)
    env = env_values(spec)
    assert set(env) <= KNOWN_SETTINGS[service], set(env) - KNOWN_SETTINGS[service]
    assert {"configMapRef": {"name": "callbridge"}} in spec["envFrom"]
    assert {"secretRef": {"name": "callbridge"}} in spec["envFrom"]
    shared = set(one(build, "ConfigMap", "callbridge")["data"])
    ours = {name for name in shared if name.startswith(PREFIX)}
    assert ours <= set().union(*KNOWN_SETTINGS.values())
    assert shared - ours <= OTEL_VARIABLES
    assert (
        ours - {PREFIX + "API_KEY", PREFIX + "PUBLIC_BASE_URL", PREFIX + "MEDIA_PUBLIC_URL"}
        <= (KNOWN_SETTINGS[service])
    )
    (port,) = spec["ports"]
    assert str(port["containerPort"]) in env.values()  # the port the service is told to listen on


@pytest.mark.parametrize("service", sorted(DEPLOYMENTS))
def test_probes_point_at_routes_the_service_serves(build: list[Document], service: str) -> None:
    spec = container(one(build, "Deployment", DEPLOYMENTS[service]))
    port_names = {port["name"] for port in spec["ports"]}
    served = served_paths(service)
    assert spec["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        if probe in spec:
            assert spec[probe]["httpGet"]["path"] in served
            assert spec[probe]["httpGet"]["port"] in port_names
    if service == "media":
        # None on purpose: a draining replica has closed its listener while its calls run on.
        assert "livenessProbe" not in spec
    else:
        assert spec["livenessProbe"]["httpGet"]["path"] == "/livez"


def test_media_drains_within_its_grace_period(build: list[Document]) -> None:
    pod = one(build, "Deployment", "callbridge-media")["spec"]["template"]["spec"]
    spec = container(one(build, "Deployment", "callbridge-media"))
    drain_s = float(env_values(spec)["CALLBRIDGE_DRAIN_TIMEOUT_S"])
    command = spec["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop_s = float(command[1])
    margin_s = pod["terminationGracePeriodSeconds"] - pre_stop_s - drain_s
    # Enough to end the calls cut at the drain timeout, close NATS and flush events, not so much that a
    # stuck pod lingers.
    assert cut_time_s() + 15 <= margin_s <= 120, (
        f"grace period {pod['terminationGracePeriodSeconds']} s vs {pre_stop_s + drain_s}"
    )
    assert pre_stop_s < drain_s


def test_media_is_scaled_by_active_calls_with_keda(build: list[Document]) -> None:
    scaled = one(build, "ScaledObject", "callbridge-media")["spec"]
    media = one(build, "Deployment", "callbridge-media")
    target = scaled["scaleTargetRef"]
    assert (target.get("kind", "Deployment"), target["name"]) == ("Deployment", "callbridge-media")
    assert "replicas" not in media["spec"], "the HPA KEDA creates owns media's replicas"
    assert 2 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "prometheus"
    metadata = trigger["metadata"]
    assert urlsplit(metadata["serverAddress"]).scheme in ("http", "https")
    assert re.fullmatch(r"sum\(callbridge_media_active_calls(\{[^}]*\})?\)", metadata["query"])
    # New replicas come before a replica is full and refuses joins.
    max_calls = int(env_values(container(media))["CALLBRIDGE_MAX_CALLS"])
    assert 0 < float(metadata["threshold"]) < max_calls
    assert scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["policies"]


def test_the_production_scaler_counts_only_its_own_namespace(production: list[Document]) -> None:
    query = one(production, "ScaledObject", "callbridge-media")["spec"]["triggers"][0]["metadata"]["query"]
    namespace = one(production, "ScaledObject", "callbridge-media")["metadata"]["namespace"]
    assert f'namespace="{namespace}"' in query


def test_services_select_their_workloads_and_target_named_ports(build: list[Document]) -> None:
    for service in of_kind(build, "Service"):
        selected = [
            w
            for w in workloads(build)
            if selects({"matchLabels": service["spec"]["selector"]}, pod_labels(w))
        ]
        assert len(selected) == 1, f"Service {service['metadata']['name']} selects {len(selected)} workloads"
        port_names = {
            port["name"] for c in selected[0]["spec"]["template"]["spec"]["containers"] for port in c["ports"]
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names
    media = one(build, "Service", "callbridge-media")
    assert media["spec"].get("sessionAffinity", "None") == "None"  # any replica takes any join


def test_each_workload_selector_matches_its_own_pods(build: list[Document]) -> None:
    for workload in workloads(build):
        assert selects(workload["spec"]["selector"], pod_labels(workload)), workload["metadata"]["name"]


def test_pod_disruption_budgets_select_existing_pods(build: list[Document]) -> None:
    budgets = of_kind(build, "PodDisruptionBudget")
    covered = set()
    for budget in budgets:
        selected = [
            w["metadata"]["name"]
            for w in workloads(build)
            if selects(budget["spec"]["selector"], pod_labels(w))
        ]
        assert len(selected) == 1, f"PDB {budget['metadata']['name']} selects {selected}"
        covered.update(selected)
    assert covered == {w["metadata"]["name"] for w in workloads(build)}


def test_nats_is_a_three_node_jetstream_cluster_with_persistent_storage(build: list[Document]) -> None:
    nats = one(build, "StatefulSet", "nats")
    spec = nats["spec"]
    assert spec["replicas"] == 3
    headless = one(build, "Service", spec["serviceName"])["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["publishNotReadyAddresses"] is True
    conf = one(build, "ConfigMap", "nats-config")["data"]["nats.conf"]
    cluster_port = {p["name"]: p["containerPort"] for p in container(nats)["ports"]}["cluster"]
    for ordinal in range(spec["replicas"]):
        assert f"nats://nats-{ordinal}.{spec['serviceName']}:{cluster_port}" in conf
    (store_dir,) = re.findall(r"store_dir:\s*(\S+)", conf)
    (claim,) = spec["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container(nats)["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == store_dir
    # Every $VARIABLE the configuration reads is in the container's environment; the password from the Secret.
    env = {item["name"]: item for item in container(nats)["env"]}
    settings = re.sub(r"#.*", "", conf)  # comments out
    assert set(re.findall(r"\$([A-Z_]+)", settings)) <= set(env)
    assert env["CALLBRIDGE_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "callbridge"
    # The services' URL names the client Service and port.
    url = urlsplit(one(build, "ConfigMap", "callbridge")["data"]["CALLBRIDGE_NATS_URL"])
    client = one(build, "Service", url.hostname or "")
    assert url.port in {port["port"] for port in client["spec"]["ports"]}
    assert selects({"matchLabels": client["spec"]["selector"]}, pod_labels(nats))


def test_every_container_has_resources_and_runs_unprivileged(build: list[Document]) -> None:
    for workload in workloads(build):
        pod = workload["spec"]["template"]["spec"]
        name = workload["metadata"]["name"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] >= 1000, name
        for spec in pod["containers"]:
            assert {"cpu", "memory"} <= spec["resources"]["requests"].keys(), name
            assert "memory" in spec["resources"]["limits"], name
            assert spec["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert spec["securityContext"]["capabilities"]["drop"] == ["ALL"], name
            # A read-only root: whatever a process writes goes to a mounted volume (/tmp, the store).
            assert spec["securityContext"]["readOnlyRootFilesystem"] is True, name


def test_streams_and_buckets_are_replicated_on_every_nats_server(build: list[Document]) -> None:
    """The services create their JetStream streams and KV buckets with CALLBRIDGE_NATS_REPLICAS copies: one
    per server of the cluster, so losing a NATS pod loses no call record, event or delivery."""
    servers = one(build, "StatefulSet", "nats")["spec"]["replicas"]
    shared = one(build, "ConfigMap", "callbridge")["data"]
    assert int(shared["CALLBRIDGE_NATS_REPLICAS"]) == servers == 3
