"""DTMF batching: keys pressed close together reach the agent as one message."""

from __future__ import annotations

import asyncio

from callbridge.common.models.medium import DtmfHandling, Urgency
from callbridge.media.dtmf import DtmfBatcher


async def _collect(handling: DtmfHandling, presses: list[tuple[float, str]]) -> list[tuple[str, Urgency]]:
    sent: list[tuple[str, Urgency]] = []

    async def send(text: str, urgency: Urgency) -> None:
        sent.append((text, urgency))

    batcher = DtmfBatcher(handling, send, pause_s=0.05)
    start = asyncio.get_running_loop().time()
    for at, digit in presses:
        await asyncio.sleep(max(0.0, start + at - asyncio.get_running_loop().time()))
        batcher.press(digit)
    await asyncio.sleep(0.1)
    await batcher.close()
    return sent


async def test_keys_in_quick_succession_are_batched() -> None:
    sent = await _collect(DtmfHandling(), [(0.0, "1"), (0.01, "2"), (0.02, "3"), (0.2, "#")])
    assert sent == [("123", Urgency.IMMEDIATE), ("#", Urgency.IMMEDIATE)]


async def test_template_and_urgency_apply_to_the_batch() -> None:
    handling = DtmfHandling.model_validate(
        {"userTextMessage": {"text": "pressed {digits}", "urgency": "URGENCY_LATER"}}
    )
    assert await _collect(handling, [(0.0, "4"), (0.01, "2")]) == [("pressed 42", Urgency.LATER)]


async def test_ignored_keys_are_not_sent() -> None:
    assert await _collect(DtmfHandling(ignore=True), [(0.0, "1")]) == []


async def test_close_drops_keys_not_yet_sent() -> None:
    sent: list[tuple[str, Urgency]] = []

    async def send(text: str, urgency: Urgency) -> None:
        sent.append((text, urgency))

    batcher = DtmfBatcher(DtmfHandling(), send, pause_s=0.05)
    batcher.press("9")
    await batcher.close()
    await asyncio.sleep(0.1)
    assert sent == []
