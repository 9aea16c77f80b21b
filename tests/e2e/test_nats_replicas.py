"""Replicated JetStream: with CALLBRIDGE_NATS_REPLICAS=3, every stream and KV bucket the services create on
a real three-server NATS cluster has three replicas, so losing one NATS server loses nothing."""

from __future__ import annotations

from collections.abc import Iterator

import nats
import pytest

from callbridge.devkit.stack import StackConfig, run_stack
from tests.e2e.helpers import API_KEY, SECRET_KEY
from tests.nats_cluster import SIZE, NatsCluster


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    with NatsCluster() as running:
        yield running


async def _replicas(url: str, names: set[str] | None = None) -> dict[str, int]:
    """Each stream's configured replicas; ``names``: asked one by one (a cluster's stream list leaves out
    the streams whose leaders do not answer in time, as while they move to more servers)."""
    client = await nats.connect(url, connect_timeout=5)
    try:
        js = client.jetstream()
        if names is None:
            infos = await js.streams_info()
        else:
            infos = [await js.stream_info(name) for name in sorted(names)]
        return {info.config.name or "": info.config.num_replicas or 1 for info in infos}
    finally:
        await client.close()


async def test_every_stream_and_bucket_has_the_configured_replicas(
    cluster: NatsCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """First with one replica (the default), then restarted with three: existing streams and buckets are
    scaled up in place, as when a deployment moves from one NATS server to a cluster."""
    await cluster.wait_replicated()
    config = StackConfig(nats_url=cluster.urls[0], api_key=API_KEY, secret_key=SECRET_KEY)
    monkeypatch.delenv("CALLBRIDGE_NATS_REPLICAS", raising=False)
    async with run_stack(config):
        before = await _replicas(cluster.urls[1])
    monkeypatch.setenv("CALLBRIDGE_NATS_REPLICAS", str(SIZE))
    async with run_stack(config):
        replicas = await _replicas(cluster.urls[2], set(before))
    # The events, dial, delivery and live-call streams and every KV bucket (KV_…), each on every server.
    expected = {
        "CALLBRIDGE_EVENTS",
        "CALLBRIDGE_DIAL",
        "CALLBRIDGE_WEBHOOK_DELIVERIES",
        "KV_callbridge_calls",
    }
    assert expected <= set(before), before
    assert set(before.values()) == {1}
    assert {name: count for name, count in replicas.items() if count != SIZE} == {}


async def test_one_replica_by_default_on_a_single_server(nats_url: str, clean_jetstream: None) -> None:
    async with run_stack(StackConfig(nats_url=nats_url, api_key=API_KEY, secret_key=SECRET_KEY)):
        replicas = await _replicas(nats_url)
    assert replicas
    assert set(replicas.values()) == {1}
