"""The imported provider configs: one KV bucket (``callbridge_telephony_configs``), one key per provider (its
name), each read as that provider's stored credential model."""

from __future__ import annotations

from typing import Any

from nats.js.kv import KeyValue

from callbridge.common.models.medium import Provider
from callbridge.common.store import KvStore
from callbridge.telephony.credentials import StoredTelephonyConfig
from callbridge.telephony.registry import PROVIDERS


class TelephonyConfigs:
    def __init__(self, bucket: KeyValue) -> None:
        self._stores: dict[Provider, KvStore[Any]] = {
            provider: KvStore(bucket, plugin.credentials.stored) for provider, plugin in PROVIDERS.items()
        }

    def store(self, provider: Provider) -> KvStore[StoredTelephonyConfig]:
        """The provider's config record, under the key ``provider.value``."""
        store: KvStore[StoredTelephonyConfig] = self._stores[provider]
        return store

    async def find(self, provider: Provider) -> StoredTelephonyConfig | None:
        found = await self.store(provider).find(provider.value)
        return None if found is None else found.value

    async def imported(self) -> frozenset[Provider]:
        """The providers whose credentials are imported (a read per provider: listing a bucket's keys is a
        watcher that can come back early, a get cannot); ``CorruptRecordError`` for one that cannot be
        read."""
        return frozenset([provider for provider in self._stores if await self.find(provider) is not None])
