from datetime import timedelta

import pytest
from pydantic import BaseModel

from callbridge.common.durations import Duration, InvalidDurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("0.384s", timedelta(milliseconds=384)),
        ("0s", timedelta(0)),
        ("3600s", timedelta(hours=1)),
        ("-1.5s", timedelta(seconds=-1.5)),
        ("0.000000001s", timedelta(0)),
    ],
)
def test_parse_duration_accepts_protobuf_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["30", "30ms", "1m", "01s", "1.s", ".5s", "1.0000000001s", "s", "", " 30s", "1e3s"]
)
def test_parse_duration_refuses_what_ultravox_refuses(text: str) -> None:
    with pytest.raises(InvalidDurationError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=30), "30s"),
        (timedelta(milliseconds=384), "0.384s"),
        (timedelta(0), "0s"),
        (timedelta(hours=1), "3600s"),
    ],
)
def test_format_duration_round_trips(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(format_duration(value)) == value


class _Model(BaseModel):
    timeout: Duration


def test_duration_field_reads_and_writes_strings() -> None:
    model = _Model.model_validate({"timeout": "0.5s"})
    assert model.timeout == timedelta(milliseconds=500)
    assert model.model_dump_json() == '{"timeout":"0.5s"}'
    with pytest.raises(ValueError, match="invalid duration"):
        _Model.model_validate({"timeout": 30})
