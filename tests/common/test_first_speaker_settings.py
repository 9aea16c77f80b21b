"""firstSpeakerSettings and vadSettings: what the API accepts, and the settings it refuses with a message
saying why (a 422 at every entry point: the request models run these validators)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from callbridge.common.models.call import CallCreate
from callbridge.common.models.conversation import FirstSpeakerSettings, VadSettings


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"agent": {"text": "Hello", "prompt": "Greet"}}, "at most one of text or prompt"),
        ({"user": {"fallback": {"delay": "3s", "text": "Hi", "prompt": "Greet"}}}, "at most one of text"),
        ({"user": {"fallback": {"text": "Hello?"}}}, "fallback needs a delay"),
        ({"agent": {"delay": "-1s"}}, "delay may not be negative"),
        ({"user": {"fallback": {"delay": "-0.5s"}}}, "delay may not be negative"),
        ({"agent": {}, "user": {}}, "exactly one of 'agent' or 'user'"),
    ],
)
def test_first_speaker_settings_that_cannot_be_carried_out_are_refused(
    settings: dict[str, Any], says: str
) -> None:
    with pytest.raises(ValidationError, match=says):
        FirstSpeakerSettings.model_validate(settings)


@pytest.mark.parametrize(
    "settings",
    [
        {"agent": {}},
        {"agent": {"delay": "0s", "uninterruptible": True, "text": "Hello"}},
        {"user": {}},
        {"user": {"fallback": {"delay": "10s"}}},
        {"user": {"fallback": {"delay": "10s", "prompt": "Ask if John is there"}}},
    ],
)
def test_first_speaker_settings_ultravox_allows_are_accepted(settings: dict[str, Any]) -> None:
    parsed = FirstSpeakerSettings.model_validate(settings)
    dumped = parsed.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
    assert dumped.keys() == settings.keys()


@pytest.mark.parametrize("field", ["turnEndpointDelay", "minimumTurnDuration", "minimumInterruptionDuration"])
def test_negative_vad_durations_are_refused_in_requests_and_read_back_when_stored(field: str) -> None:
    with pytest.raises(ValidationError, match=f"vadSettings.{field} may not be negative"):
        CallCreate.model_validate({"vadSettings": {field: "-0.1s"}})
    assert VadSettings.model_validate({field: "-0.1s"})  # a stored record from before stays readable
