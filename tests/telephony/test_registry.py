"""The registry: every provider callbridge names has a plugin, each as its sub-package describes it."""

from __future__ import annotations

from callbridge.common.models.medium import Provider
from callbridge.telephony import PROVIDERS, provider_for
from callbridge.telephony.credentials import AgentAccess, AgentAccessUpdate, StoredTelephonyConfig


def test_every_provider_has_a_plugin_in_enum_order() -> None:
    assert list(PROVIDERS) == list(Provider)
    for provider in Provider:
        plugin = provider_for(provider)
        assert plugin.provider is provider
        assert plugin.display_name.lower() == provider.value


def test_each_plugin_names_its_credential_models() -> None:
    for plugin in PROVIDERS.values():
        models = plugin.credentials
        assert issubclass(models.create, AgentAccess)
        assert issubclass(models.update, AgentAccessUpdate)
        assert issubclass(models.public, AgentAccess)
        assert issubclass(models.stored, StoredTelephonyConfig)
        assert models.stored.PROVIDER is plugin.provider
        name = plugin.display_name
        assert [m.__name__ for m in (models.create, models.update, models.public, models.stored)] == [
            f"{name}ConfigCreate",
            f"{name}ConfigUpdate",
            f"{name}ConfigPublic",
            f"Stored{name}Config",
        ]


def test_only_a_provider_that_signs_nothing_takes_a_secret_in_the_path() -> None:
    assert [p for p, plugin in PROVIDERS.items() if plugin.takes_path_secret] == [Provider.EXOTEL]
    assert [p for p, plugin in PROVIDERS.items() if plugin.status_accepts_json] == [Provider.TELNYX]
