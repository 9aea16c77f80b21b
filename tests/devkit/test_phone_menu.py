"""The simulated phone menu: its DTMF reader hears keys (and not tones that are not keys), and the menu
answers the key it heard with that option's reply, in the stream's inbound codec and frames."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from callbridge.devkit.signals import multitone, tone
from callbridge.devkit.simulators.audio_codec import AudioCodec
from callbridge.devkit.simulators.dtmf_reader import DtmfReader, read_keys
from callbridge.devkit.simulators.phone_menu import (
    DEFAULT_REPLIES_HZ,
    INVALID_OPTION_HZ,
    MenuScript,
    PhoneMenu,
)
from callbridge.devkit.simulators.rest import CalleeBehaviour, parse_behaviour
from callbridge.media.audio.dtmf_tones import synthesize

ALL_KEYS = "0123456789*#ABCD"


@pytest.mark.parametrize("rate_hz", [8000, 16000])
def test_the_reader_hears_every_key_after_mulaw_or_l16(rate_hz: int) -> None:
    codec = AudioCodec("PCMU", 8000) if rate_hz == 8000 else AudioCodec("L16", rate_hz)
    heard = codec.decode(codec.encode(synthesize(ALL_KEYS, rate_hz)))
    reader = DtmfReader(rate_hz)
    step = rate_hz // 50
    assert "".join(reader.feed(heard[i : i + step]) for i in range(0, heard.size, step)) == ALL_KEYS


def test_the_reader_ignores_single_tones_chords_and_keys_too_short() -> None:
    assert read_keys(tone(697.0, 1.0, 8000, -6.0), 8000) == ""
    assert read_keys(multitone([697.0, 770.0, 1209.0], 1.0, 8000, -6.0), 8000) == ""
    assert read_keys(synthesize("1", 8000, tone_s=0.02), 8000) == ""


def test_phone_menu_is_a_callee_behaviour() -> None:
    assert parse_behaviour("phone_menu(hold_s=8, tone_hz=440)") == CalleeBehaviour(
        "phone_menu", hold_s=8.0, tone_hz=440.0
    )
    assert parse_behaviour("phone_menu").answers
    assert parse_behaviour("phone_menu").speaks


def _frequency(payloads: list[bytes], codec: AudioCodec) -> float:
    pcm = codec.decode(b"".join(base64.b64decode(payload) for payload in payloads)).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(pcm))
    return float(np.fft.rfftfreq(pcm.size, 1 / codec.sample_rate_hz)[int(np.argmax(spectrum))])


@pytest.mark.parametrize(("key", "reply_hz"), [("1", DEFAULT_REPLIES_HZ["1"]), ("7", INVALID_OPTION_HZ)])
def test_the_menu_says_its_prompt_until_it_hears_a_key_then_that_options_reply(
    key: str, reply_hz: float
) -> None:
    inbound = AudioCodec("L16", 16000)
    menu = PhoneMenu(MenuScript(reply_s=0.5), inbound, 20, AudioCodec("PCMU", 8000))
    assert menu.says(0) is None  # the stream's own audio: the prompt
    keys = synthesize(key, 8000)
    heard = "".join(menu.hears(keys[i : i + 160]) for i in range(0, keys.size, 160))
    assert (heard, menu.keys_heard) == (key, key)
    reply = [menu.says(index) for index in range(10, 35)]
    assert all(payload is not None for payload in reply)
    assert _frequency([p for p in reply if p is not None], inbound) == pytest.approx(reply_hz, abs=5)
    assert menu.says(40) == base64.b64encode(inbound.silence * 320)  # after the reply: silence


def test_the_menu_answers_keys_sent_out_of_band_without_hearing_them() -> None:
    inbound = AudioCodec("L16", 16000)
    menu = PhoneMenu(MenuScript(reply_s=0.5), inbound, 20, AudioCodec("PCMU", 8000))
    menu.pressed("w2")  # through the provider's REST API: pauses are no keys
    assert (menu.keys_pressed, menu.keys_heard) == ("2", "")
    reply = [menu.says(index) for index in range(5, 25)]
    assert _frequency([p for p in reply if p is not None], inbound) == pytest.approx(
        DEFAULT_REPLIES_HZ["2"], abs=5
    )
