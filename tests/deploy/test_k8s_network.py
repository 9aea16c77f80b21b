"""k8s/: network policies deny by default and let in only what each component needs; the Ingress routes
the API, provider webhooks and media joins (with WebSocket timeouts) and nothing else, over TLS in
production on the hosts the public URLs name."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from callbridge.media.server import JOIN_PATH
from tests.deploy.manifests import (
    DEPLOYMENTS,
    NOT_PUBLIC,
    Document,
    container,
    env_values,
    of_kind,
    one,
    pod_labels,
    selects,
    served_paths,
    workloads,
)


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
    # The ingress controller reaches webhooks and media; nothing reaches the workers but Prometheus.
    assert from_ingress_controller == (set() if service in ("dialer", "transfer") else {port})
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
    api_routes = [path for path in served_paths("webhooks") if path.startswith("/api")]
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
