"""The built-in demo agent: greets the caller, reads back the keys pressed, and hangs up on '#'.

It speaks recorded prompts (espeak-ng, 16 kHz, shipped in ``prompts/``) and behaves like a real agent on
the serverWebSocket protocol: it sends its audio faster than real time (callbridge paces it), barges in on
itself with ``playback_clear_buffer`` when a key is pressed mid-prompt, reports ``transcript`` and ``state``
(``speaking`` when it starts a prompt, ``listening`` once the prompt has had time to play), and ends the call
by invoking the ``hangUp`` tool.

Who speaks first (``firstSpeakerSettings``, first_speaker.py) it honours as an agent should: it greets on
its own only when it is the first speaker with no ``text`` or ``prompt`` (callbridge holds that greeting
for the ``delay``); otherwise it waits for what callbridge sends. It has recorded prompts only, so whatever
it is asked to say (``forced_agent_message``) or to answer (a ``user_text_message`` that is not keys) it
says with its greeting's audio and the asked text as its transcript; and when the caller spoke first it
answers with its greeting once the caller has stopped (``user_stopped_speaking``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
import wave
from importlib import resources
from typing import Any

from callbridge.common.models.conversation import FirstSpeakerSettings
from callbridge.media.agents.base import AgentConnection, AgentListener
from callbridge.media.agents.messages import (
    ClientToolInvocation,
    PlaybackClearBuffer,
    StateChanged,
    Transcript,
)

logger = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16000
HANG_UP_KEY = "#"
GREETING = (
    "Hello, this is the callbridge demo agent. Press any key and I will read it back to you. "
    "Press the pound key to hang up."
)
GOODBYE = "Goodbye."
_DIGIT_FILES = {**{d: f"digit_{d}" for d in "0123456789ABCD"}, "*": "digit_star"}
_DIGIT_WORDS = {"*": "star", "#": "pound"}


@functools.cache
def prompt(name: str) -> bytes:
    """A prompt's s16le samples at 16 kHz, read once per process."""
    with (
        resources.files(__package__).joinpath("prompts", f"{name}.wav").open("rb") as handle,
        wave.open(handle) as wav,
    ):
        if wav.getframerate() != SAMPLE_RATE_HZ or wav.getnchannels() != 1 or wav.getsampwidth() != 2:
            raise ValueError(f"prompt {name}: expected 16 kHz mono 16-bit")
        frames: bytes = wav.readframes(wav.getnframes())
        return frames


def _read_back(key: str) -> tuple[bytes, str]:
    return prompt("pressed") + prompt(_DIGIT_FILES[key]), f"You pressed {_DIGIT_WORDS.get(key, key)}."


def utterance_lengths_ms() -> dict[str, int]:
    """How long each thing the agent says plays, by its transcript text (the demo's timeline reports a
    barge-in against the cut prompt's full length)."""
    said = [(prompt("greeting"), GREETING), (prompt("goodbye"), GOODBYE), *map(_read_back, _DIGIT_FILES)]
    return {text: _duration_ms(audio) for audio, text in said}


def _duration_ms(audio: bytes) -> int:
    return len(audio) * 1000 // (2 * SAMPLE_RATE_HZ)


class DemoAgent(AgentConnection):
    input_rate_hz = SAMPLE_RATE_HZ
    output_rate_hz = SAMPLE_RATE_HZ

    def __init__(self, first_speaker: FirstSpeakerSettings | None = None) -> None:
        self._listener: AgentListener | None = None
        self._ordinal = 0
        self._hanging_up = False
        self._greeted = False
        self._done_speaking: asyncio.Task[None] | None = None
        agent = first_speaker.agent if first_speaker is not None else None
        self._greets_on_start = first_speaker is None or (
            agent is not None and agent.text is None and agent.prompt is None
        )

    async def start(self, listener: AgentListener) -> None:
        self._listener = listener
        if self._greets_on_start:
            await self._greet(GREETING)

    async def _greet(self, text: str) -> None:
        self._greeted = True
        await self._say(prompt("greeting"), text)

    async def send_audio(self, pcm: bytes) -> None:
        """The demo agent does not listen to speech; it reacts to keys (DTMF as user_text_message)."""

    async def send_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if self._hanging_up:
            return
        if kind == "forced_agent_message":
            await self._greet(str(message.get("content", "")))
        elif kind == "user_stopped_speaking" and not self._greeted:
            await self._greet(GREETING)  # the caller spoke first: the demo's answer is its greeting
        elif kind in ("user_text_message", "input_text_message"):
            text = str(message.get("text", ""))
            if text and all(c in _DIGIT_FILES or c == HANG_UP_KEY for c in text):
                for key in text:
                    await self._on_key(key)
            elif text:
                await self._greet(GREETING)  # a prompt: the demo's only composition is its greeting

    async def _on_key(self, key: str) -> None:
        listener = self._listener
        if listener is None:
            return
        # A key pressed while the agent talks interrupts it, as a caller's speech would.
        self._cancel_done_speaking()
        await listener.on_agent_message(PlaybackClearBuffer())
        if key == HANG_UP_KEY:
            self._hanging_up = True
            await self._say(prompt("goodbye"), GOODBYE)
            await listener.on_agent_message(
                ClientToolInvocation(
                    tool_name="hangUp",
                    invocation_id=str(uuid.uuid4()),
                    parameters={"reason": "caller pressed #"},
                )
            )
            return
        await self._say(*_read_back(key))

    async def _say(self, audio: bytes, text: str) -> None:
        listener = self._listener
        if listener is None:
            return
        self._ordinal += 1
        await listener.on_agent_message(StateChanged(state="speaking"))
        await listener.on_agent_message(
            Transcript(role="agent", text=text, final=True, ordinal=self._ordinal)
        )
        await listener.on_agent_audio(audio)
        if not self._hanging_up:
            # The audio went out faster than real time; it plays for its length from now.
            self._done_speaking = asyncio.create_task(
                self._listening_after(_duration_ms(audio) / 1000), name="demo-agent-listening"
            )
            self._done_speaking.add_done_callback(_log_failure)

    async def _listening_after(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)  # the prompt playing: the behaviour modelled, not a wait for an event
        if self._listener is not None:
            await self._listener.on_agent_message(StateChanged(state="listening"))

    def _cancel_done_speaking(self) -> None:
        if self._done_speaking is not None:
            self._done_speaking.cancel()
            self._done_speaking = None

    async def close(self) -> None:
        self._cancel_done_speaking()
        self._listener = None


def _log_failure(task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        if (exc := task.exception()) is not None:
            logger.error("demo agent: %s failed: %r", task.get_name(), exc)
