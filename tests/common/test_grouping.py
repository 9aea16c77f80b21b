"""Group commit: queued requests are written together, each caller gets its own result or the error."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from callbridge.common.grouping import GroupCommitter


async def test_requests_queued_during_a_write_go_in_the_next_one_and_each_gets_its_result() -> None:
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def commit(batch: Sequence[int]) -> list[int]:
        batches.append(list(batch))
        if len(batches) == 1:
            await release.wait()  # the first write is in flight while the others queue
        return [n * 10 for n in batch]

    committer = GroupCommitter(commit, name="test")
    first = asyncio.create_task(committer.submit(1))
    await asyncio.sleep(0)  # let the first write start
    rest = [asyncio.create_task(committer.submit(n)) for n in range(2, 6)]
    await asyncio.sleep(0)
    release.set()
    assert await first == 10
    assert [await task for task in rest] == [20, 30, 40, 50]
    assert batches == [[1], [2, 3, 4, 5]]
    assert committer.idle


async def test_a_failed_write_fails_every_request_in_it_and_the_next_write_goes_on() -> None:
    async def commit(batch: Sequence[int]) -> list[int]:
        if 0 in batch:
            raise ValueError("boom")
        return list(batch)

    committer = GroupCommitter(commit, name="test", max_batch=2)
    results = await asyncio.gather(*(committer.submit(n) for n in (0, 1, 2, 3)), return_exceptions=True)
    assert isinstance(results[0], ValueError)
    assert isinstance(results[1], ValueError)  # in the same batch as 0
    assert results[2:] == [2, 3]
    with pytest.raises(ValueError, match="boom"):
        await committer.submit(0)
