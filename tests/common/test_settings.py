import pytest

from callbridge.common.settings import CommonSettings, InsecureSettingsError


def test_production_refuses_the_development_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_ENVIRONMENT", "production")
    monkeypatch.delenv("CALLBRIDGE_SECRET_KEY", raising=False)
    with pytest.raises(InsecureSettingsError):
        CommonSettings()


def test_production_accepts_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLBRIDGE_ENVIRONMENT", "production")
    monkeypatch.setenv("CALLBRIDGE_SECRET_KEY", "s" * 48)
    assert CommonSettings().is_production
