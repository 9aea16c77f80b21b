"""JSON log lines: the fields a log pipeline reads, and the call id on every line about a call, from the
record or from the task's context (inherited by the tasks it starts)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from callbridge.common.logs import bind_call, call_context, current_call_id, log_handler

CALL = "0192d4e5-0000-7000-8000-00000000abcd"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    logger = logging.getLogger("callbridge.test.logs")
    handler = log_handler("json", service="callbridge-test", instance="r1", stream=stream)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_has_the_fields_a_pipeline_reads(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.info("hello %s", "world")
    (line,) = lines(stream)
    assert line["message"] == "hello world"
    assert line["level"] == "INFO"
    assert line["logger"] == "callbridge.test.logs"
    assert line["service"] == "callbridge-test"
    assert line["instance"] == "r1"
    assert line["call_id"] is None
    assert isinstance(line["time"], str)
    assert line["time"].endswith("Z")


def test_the_call_id_comes_from_the_record_or_the_context(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured
    logger.info("tagged", extra={"call_id": "from-record"})
    with call_context(CALL):
        logger.info("in context")
        logger.info("record wins", extra={"call_id": "explicit"})
    logger.info("after")
    assert [line["call_id"] for line in lines(stream)] == ["from-record", CALL, "explicit", None]
    assert current_call_id() is None


async def test_a_bound_call_tags_the_task_and_the_tasks_it_starts(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = captured

    async def serve_call(call_id: str) -> None:
        bind_call(call_id)
        logger.info("serving")
        await asyncio.create_task(asyncio.to_thread(lambda: None))
        child = asyncio.create_task(asyncio.sleep(0, result=None))
        await child
        await asyncio.create_task(_log_later(logger))

    await asyncio.gather(serve_call("call-a"), serve_call("call-b"))
    logger.info("outside")
    by_call = sorted((line["call_id"], line["message"]) for line in lines(stream) if line["call_id"])
    assert by_call == [("call-a", "child"), ("call-a", "serving"), ("call-b", "child"), ("call-b", "serving")]
    assert lines(stream)[-1]["call_id"] is None


async def _log_later(logger: logging.Logger) -> None:
    await asyncio.sleep(0)
    logger.info("child")


def test_an_exception_is_one_line(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    (line,) = lines(stream)
    assert "ValueError: boom" in str(line["exc_info"])


def test_text_lines_name_the_call_once() -> None:
    stream = io.StringIO()
    handler = log_handler("text", service="s", instance="i", stream=stream)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "call %s: joined", (CALL,), None)
    other = logging.LogRecord("x", logging.INFO, __file__, 1, "agent connected", (), None)
    with call_context(CALL):
        handler.handle(record)
        handler.handle(other)
    first, second = stream.getvalue().splitlines()
    assert first.count(CALL) == 1
    assert second.endswith(f"agent connected [call {CALL}]")
