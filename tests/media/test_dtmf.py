"""DTMF batching: keys pressed close together reach the agent as one message."""

from __future__ import annotations

import asyncio

from callbridge.common.models.medium import DtmfHandling, Urgency
from callbridge.media.dtmf import DtmfBatcher

PAUSE_S = 0.05


async def _collect(
    handling: DtmfHandling, presses: list[tuple[float, str]], expected: int
) -> list[tuple[str, Urgency]]:
    """Press the keys at their times (the caller's pauses are the behaviour under test), then wait for
    ``expected`` messages to the agent."""
    sent: asyncio.Queue[tuple[str, Urgency]] = asyncio.Queue()

    async def send(text: str, urgency: Urgency) -> None:
        sent.put_nowait((text, urgency))

    batcher = DtmfBatcher(handling, send, pause_s=PAUSE_S)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for at, digit in presses:
        await asyncio.sleep(max(0.0, start + at - loop.time()))
        batcher.press(digit)
    messages = [await asyncio.wait_for(sent.get(), timeout=2.0) for _ in range(expected)]
    await batcher.close()
    assert sent.empty()
    return messages


async def test_keys_in_quick_succession_are_batched() -> None:
    sent = await _collect(DtmfHandling(), [(0.0, "1"), (0.01, "2"), (0.02, "3"), (0.2, "#")], 2)
    assert sent == [("123", Urgency.IMMEDIATE), ("#", Urgency.IMMEDIATE)]


async def test_template_and_urgency_apply_to_the_batch() -> None:
    handling = DtmfHandling.model_validate(
        {"userTextMessage": {"text": "pressed {digits}", "urgency": "URGENCY_LATER"}}
    )
    assert await _collect(handling, [(0.0, "4"), (0.01, "2")], 1) == [("pressed 42", Urgency.LATER)]


async def test_ignored_keys_are_not_sent() -> None:
    sent: list[tuple[str, Urgency]] = []

    async def send(text: str, urgency: Urgency) -> None:
        sent.append((text, urgency))

    batcher = DtmfBatcher(DtmfHandling(ignore=True), send, pause_s=PAUSE_S)
    batcher.press("1")
    assert batcher.pending == ""  # nothing waits for the pause: nothing will be sent
    await batcher.close()
    assert sent == []


async def test_close_drops_keys_not_yet_sent() -> None:
    sent: list[tuple[str, Urgency]] = []

    async def send(text: str, urgency: Urgency) -> None:
        sent.append((text, urgency))

    batcher = DtmfBatcher(DtmfHandling(), send, pause_s=PAUSE_S)
    batcher.press("9")
    assert batcher.pending == "9"
    await batcher.close()
    assert batcher.pending == ""
    # The pause passing after the close is the behaviour: no timer is left to send the key.
    await asyncio.sleep(2 * PAUSE_S)
    assert sent == []
