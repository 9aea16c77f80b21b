import pytest
from pydantic import ValidationError

from callbridge.common.settings import DEV_NATS_PASSWORD, CommonSettings, InsecureSettingsError


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_ENVIRONMENT", "production")
    monkeypatch.delenv("CALLBRIDGE_SECRET_KEY", raising=False)
    with pytest.raises(InsecureSettingsError):
        CommonSettings()


def test_production_accepts_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_ENVIRONMENT", "production")
    monkeypatch.setenv("CALLBRIDGE_SECRET_KEY", "s" * 48)
    monkeypatch.setenv("CALLBRIDGE_NATS_PRIVATE", "true")
    assert CommonSettings().is_production


def test_production_refuses_to_start_without_nats_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_ENVIRONMENT", "production")
    monkeypatch.setenv("CALLBRIDGE_SECRET_KEY", "s" * 48)
    with pytest.raises(InsecureSettingsError, match="CALLBRIDGE_NATS_PRIVATE"):
        CommonSettings(nats_private=False)
    assert CommonSettings(nats_private=True).is_production  # told the NATS server is private
    assert CommonSettings(nats_url="nats://callbridge:long-password-123456@nats:4222").is_production


def test_production_refuses_the_development_nats_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_ENVIRONMENT", "production")
    monkeypatch.setenv("CALLBRIDGE_SECRET_KEY", "s" * 48)
    monkeypatch.setenv("CALLBRIDGE_NATS_USER", "callbridge")
    monkeypatch.setenv("CALLBRIDGE_NATS_PASSWORD", DEV_NATS_PASSWORD)
    with pytest.raises(InsecureSettingsError, match="CALLBRIDGE_NATS_PASSWORD"):
        CommonSettings()
    monkeypatch.setenv("CALLBRIDGE_NATS_PASSWORD", "p" * 24)
    settings = CommonSettings()
    assert settings.nats_credentials.connect_options() == {"user": "callbridge", "password": "p" * 24}
    assert "p" * 24 not in repr(settings)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"nats_user": "callbridge"}, "set together"),
        ({"nats_password": "x" * 20}, "set together"),
        ({"nats_user": "u", "nats_password": "x" * 20, "nats_nkey_seed_file": __file__}, "not both"),
        ({"nats_nkey_seed_file": "/nonexistent/callbridge.nk"}, "is not a file"),
    ],
)
def test_incomplete_or_conflicting_nats_credentials_are_refused(
    fields: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment):
        CommonSettings.model_validate(fields)


def test_nats_replicas_default_to_one_and_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert CommonSettings().nats_replicas == 1
    monkeypatch.setenv("CALLBRIDGE_NATS_REPLICAS", "3")
    assert CommonSettings().nats_replicas == 3


@pytest.mark.parametrize("replicas", ["0", "6", "three"])
def test_nats_replicas_outside_what_jetstream_allows_are_refused(
    monkeypatch: pytest.MonkeyPatch, replicas: str
) -> None:
    monkeypatch.setenv("CALLBRIDGE_NATS_REPLICAS", replicas)
    with pytest.raises(ValidationError, match="nats_replicas"):
        CommonSettings()
