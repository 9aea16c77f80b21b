"""k8s/: the base and the production overlay build with kustomize, every document is valid against the
Kubernetes OpenAPI schemas (kubernetes-validate ships them), and the objects fit together: settings that
exist, probes on served routes, Services, PDBs and NetworkPolicies that select real pods, media's drain
numbers in step, the Ingress routing the API, provider webhooks and media joins, and nothing else."""

from __future__ import annotations

import inspect
import re
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from callbridge.dialer.health import health_app
from callbridge.media.server import JOIN_PATH, MediaServer
from callbridge.webhooks.config import WebhooksSettings
from callbridge.webhooks.main import create_app
from tests.deploy.manifests import (
    KNOWN_SETTINGS,
    OTEL_VARIABLES,
    PREFIX,
    Document,
    container,
    env_values,
    of_kind,
    one,
    pod_labels,
    selects,
    workloads,
)
from tests.webhooks.hostile import route_cases

# The Kubernetes versions the manifests must be valid for: the oldest still maintained upstream that the
# manifests target, and the kubectl installed here.
KUBERNETES_VERSIONS = ["1.30.0", "1.32.0"]
# Custom resources kubernetes-validate has no schema for, and the fields their controllers require.
CUSTOM_RESOURCES = {("keda.sh/v1alpha1", "ScaledObject"): ("scaleTargetRef", "triggers")}
DEPLOYMENTS = {"webhooks": "callbridge-webhooks", "media": "callbridge-media", "dialer": "callbridge-dialer"}
NOT_PUBLIC = ("/metrics", "/livez", "/readyz", "/healthz")


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_built_document_is_valid_against_the_kubernetes_schemas(
    build: list[Document], version: str
) -> None:
    for document in build:
        if (document["apiVersion"], document["kind"]) in CUSTOM_RESOURCES:
            continue  # checked in test_custom_resources_carry_what_their_controllers_require
        kubernetes_validate.validate(document, version, strict=True)  # strict: unknown fields are errors


def test_the_schema_check_catches_a_misspelled_or_mistyped_field(base: list[Document]) -> None:
    service = one(base, "Service", "callbridge-media")
    mistyped = {**service, "spec": {**service["spec"], "ports": [{"name": "ws", "port": "eighty"}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(mistyped, KUBERNETES_VERSIONS[-1], strict=True)
    misspelled = {**service, "spec": {**service["spec"], "selectr": service["spec"]["selector"]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelled, KUBERNETES_VERSIONS[-1], strict=True)


def test_custom_resources_carry_what_their_controllers_require(build: list[Document]) -> None:
    custom = [d for d in build if (d["apiVersion"], d["kind"]) in CUSTOM_RESOURCES]
    assert custom, "the media ScaledObject is missing"
    for document in custom:
        assert document["metadata"]["name"]
        for field in CUSTOM_RESOURCES[(document["apiVersion"], document["kind"])]:
            assert document["spec"].get(field), f"{document['kind']} without spec.{field}"


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


def test_no_secret_is_shipped(build: list[Document]) -> None:
    assert of_kind(build, "Secret") == [], "kubectl apply -k would overwrite the real Secret"


def test_every_object_is_labelled_part_of_callbridge(base: list[Document]) -> None:
    for document in base:
        labels = document["metadata"].get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "callbridge", document["metadata"]["name"]


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
    assert ours <= KNOWN_SETTINGS["webhooks"] | KNOWN_SETTINGS["media"] | KNOWN_SETTINGS["dialer"]
    assert shared - ours <= OTEL_VARIABLES
    assert (
        ours - {PREFIX + "API_KEY", PREFIX + "PUBLIC_BASE_URL", PREFIX + "MEDIA_PUBLIC_URL"}
        <= (KNOWN_SETTINGS[service])
    )
    (port,) = spec["ports"]
    assert str(port["containerPort"]) in env.values()  # the port the service is told to listen on


def _served_paths(service: str) -> set[str]:
    if service == "webhooks":
        return {case.path for case in route_cases(create_app(WebhooksSettings()))}
    if service == "dialer":
        return {getattr(route, "path", "") for route in health_app(lambda: True).routes}
    # Media answers plain HTTP in process_request, before any WebSocket handshake.
    source = inspect.getsource(MediaServer.process_request)
    return {path for path in NOT_PUBLIC if f'"{path}"' in source}


@pytest.mark.parametrize("service", sorted(DEPLOYMENTS))
def test_probes_point_at_routes_the_service_serves(build: list[Document], service: str) -> None:
    spec = container(one(build, "Deployment", DEPLOYMENTS[service]))
    port_names = {port["name"] for port in spec["ports"]}
    served = _served_paths(service)
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
    # Enough to close NATS and flush events after the drain, not so much that a stuck pod lingers.
    assert 15 <= margin_s <= 120, (
        f"grace period {pod['terminationGracePeriodSeconds']} s vs {pre_stop_s + drain_s}"
    )
    assert pre_stop_s < drain_s


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


def _allowed_ports(policy: Document, direction: str) -> set[int]:
    return {port["port"] for rule in policy["spec"].get(direction, []) for port in rule.get("ports", [])}


def test_network_policies_deny_by_default_and_select_existing_pods(build: list[Document]) -> None:
    policies = of_kind(build, "NetworkPolicy")
    default_deny = [p for p in policies if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")]
    assert any({"Ingress", "Egress"} <= set(p["spec"]["policyTypes"]) for p in default_deny)
    all_pods = [pod_labels(w) for w in workloads(build)]
    for policy in policies:
        assert any(selects(policy["spec"]["podSelector"], labels) for labels in all_pods), policy["metadata"]
        for direction, peers in (("ingress", "from"), ("egress", "to")):
            for rule in policy["spec"].get(direction, []):
                for peer in rule.get(peers, []):
                    if "podSelector" in peer and "namespaceSelector" not in peer:  # a peer in this namespace
                        assert any(selects(peer["podSelector"], labels) for labels in all_pods), peer


def _policies_for(build: list[Document], deployment: str) -> list[Document]:
    labels = pod_labels(one(build, "Deployment", deployment))
    return [p for p in of_kind(build, "NetworkPolicy") if selects(p["spec"]["podSelector"], labels)]


def _from_namespace(policy: Document, namespace: str) -> set[int]:
    ports: set[int] = set()
    for rule in policy["spec"].get("ingress", []):
        for peer in rule["from"]:
            if (
                peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                == namespace
            ):
                ports.update(port["port"] for port in rule["ports"])
    return ports


@pytest.mark.parametrize("service", sorted(DEPLOYMENTS))
def test_network_policies_let_in_only_what_each_service_needs(build: list[Document], service: str) -> None:
    deployment = one(build, "Deployment", DEPLOYMENTS[service])
    (port,) = [p["containerPort"] for p in container(deployment)["ports"]]
    policies = _policies_for(build, DEPLOYMENTS[service])
    from_ingress_controller = set().union(*(_from_namespace(p, "ingress-nginx") for p in policies))
    from_prometheus = set().union(*(_from_namespace(p, "monitoring") for p in policies))
    # The ingress controller reaches webhooks and media, nothing reaches the dialer but Prometheus.
    assert from_ingress_controller == (set() if service == "dialer" else {port})
    assert port in from_prometheus
    assert int(deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]) == port
    egress = set().union(*(_allowed_ports(p, "egress") for p in policies))
    assert {53, 4222, 443} <= egress  # DNS, NATS, providers' APIs and agents over TLS


def test_nats_lets_in_the_services_and_its_own_routes(build: list[Document]) -> None:
    nats = one(build, "StatefulSet", "nats")
    ports = {p["name"]: p["containerPort"] for p in container(nats)["ports"]}
    policies = [
        p for p in of_kind(build, "NetworkPolicy") if selects(p["spec"]["podSelector"], pod_labels(nats))
    ]
    ingress = set().union(*(_allowed_ports(p, "ingress") for p in policies))
    egress = set().union(*(_allowed_ports(p, "egress") for p in policies))
    assert {ports["client"], ports["cluster"]} <= ingress
    assert ports["cluster"] in egress
    for name in DEPLOYMENTS.values():
        labels = pod_labels(one(build, "Deployment", name))
        assert any(
            "podSelector" in peer and selects(peer["podSelector"], labels)
            for p in policies
            for rule in p["spec"].get("ingress", [])
            for peer in rule["from"]
            if ports["client"] in {port["port"] for port in rule["ports"]}
        ), f"{name} cannot reach NATS"


def _covered(path: str, ingress: Document) -> set[str]:
    """The Services an Ingress sends ``path`` to (Prefix matching is by whole path elements)."""
    backends = set()
    for rule in ingress["spec"]["rules"]:
        for route in rule["http"]["paths"]:
            prefix = route["path"].rstrip("/")
            if route["pathType"] == "Prefix" and (path == prefix or path.startswith(prefix + "/")):
                backends.add(route["backend"]["service"]["name"])
    return backends


def test_the_ingress_routes_the_api_and_provider_webhooks_to_webhooks(build: list[Document]) -> None:
    ingress = one(build, "Ingress", "callbridge-webhooks")
    api_routes = [path for path in _served_paths("webhooks") if path.startswith("/api")]
    assert any("telephony_xml" in path for path in api_routes)  # provider webhooks are under /api
    for path in api_routes:
        assert _covered(path, ingress) == {"callbridge-webhooks"}, path
    for path in NOT_PUBLIC:
        assert _covered(path, ingress) == set(), f"{path} is exposed"


def test_the_ingress_routes_media_joins_with_websocket_timeouts_and_no_buffering(
    build: list[Document],
) -> None:
    ingress = one(build, "Ingress", "callbridge-media")
    join = "/calls/6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b/telephony/1735689600.c2lnbmF0dXJl"
    assert JOIN_PATH.fullmatch(join)
    assert _covered(join, ingress) == {"callbridge-media"}
    for path in NOT_PUBLIC:
        assert _covered(path, ingress) == set(), f"{path} is exposed"
    annotations = ingress["metadata"]["annotations"]
    drain_s = float(
        env_values(container(one(build, "Deployment", "callbridge-media")))["CALLBRIDGE_DRAIN_TIMEOUT_S"]
    )
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        seconds = int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"])
        assert seconds >= max(3600, drain_s), f"{timeout} would cut a long call"
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert not any("affinity" in key for key in annotations)  # sticky to nothing


def test_ingress_backends_are_existing_services_and_ports(build: list[Document]) -> None:
    services = {
        s["metadata"]["name"]: {p["name"] for p in s["spec"]["ports"]} for s in of_kind(build, "Service")
    }
    for ingress in of_kind(build, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for route in rule["http"]["paths"]:
                backend = route["backend"]["service"]
                assert backend["port"]["name"] in services[backend["name"]]


def test_production_serves_the_public_urls_over_tls(production: list[Document]) -> None:
    config = one(production, "ConfigMap", "callbridge")["data"]
    for setting, ingress_name, scheme in (
        ("CALLBRIDGE_PUBLIC_BASE_URL", "callbridge-webhooks", "https"),
        ("CALLBRIDGE_MEDIA_PUBLIC_URL", "callbridge-media", "wss"),
    ):
        url = urlsplit(config[setting])
        ingress = one(production, "Ingress", ingress_name)["spec"]
        assert url.scheme == scheme
        assert [rule["host"] for rule in ingress["rules"]] == [url.hostname]
        assert [host for tls in ingress["tls"] for host in tls["hosts"]] == [url.hostname]


def test_production_sets_namespace_images_and_replicas(production: list[Document]) -> None:
    (namespace,) = of_kind(production, "Namespace")
    for document in production:
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == namespace["metadata"]["name"]
    for name in DEPLOYMENTS.values():
        image = container(one(production, "Deployment", name))["image"]
        assert "/" in image.split(":")[0].removeprefix("callbridge/"), f"{name} still runs {image}"
        assert not image.endswith(":latest")
    assert one(production, "Deployment", "callbridge-webhooks")["spec"]["replicas"] >= 2


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
