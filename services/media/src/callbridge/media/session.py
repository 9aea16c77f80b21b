"""One call on one media replica: the provider's receive loop, and the call's life from start to end.

The session reads the provider's stream in one loop and hands each parsed message to the part whose job it
is, each built when the stream starts (they need its format):

- ``caller_audio.py``: the caller's audio and keys, to the agent; ``caller_keys.py``: the keys, from the
  provider's events and from the tones in the caller's audio, each once;
- ``agent_audio.py`` and ``playout.py``: the agent's audio, cut into the provider's frames and paced;
- ``agent_bridge.py`` and ``tools.py``: the agent's messages, and the tools it invokes; ``own_audio.py``:
  audio of callbridge's own (the tones of ``playDtmfSounds``) played between the agent's;
- ``first_speaker.py``: who speaks first (``firstSpeakerSettings``), listening to the caller if need be;
- ``caller_activity.py`` and ``inactivity.py``: the caller's speech and keys, ``inactivityMessages``;
- ``hang_up.py``: what plays before a hang-up ends the call, and the caller cancelling it;
- ``reports.py``: bad provider input, counted and reported within a rate limit.

What stays here is the call's lifecycle: the wait for ``start``, the agent's connection and start,
``maxDuration``, hang-ups and the end, recorded as soon as it is decided. Tools and commands act on the
call through :class:`~callbridge.media.control.CallControl`, which the session implements.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Final
from uuid import UUID

import numpy as np
import numpy.typing as npt
from opentelemetry import propagate, trace
from opentelemetry.trace import Tracer

from callbridge.common.call_control import ColdTransfer
from callbridge.common.models.call import Call, EndReason, ProviderDetails
from callbridge.common.models.medium import Provider
from callbridge.common.warm_transfer import (
    ACCEPT_KEY,
    DECLINE_KEY,
    WarmTransfer,
    WarmTransferDecided,
)
from callbridge.media import metrics
from callbridge.media.agent_audio import AgentAudioFramer
from callbridge.media.agent_bridge import AgentBridge
from callbridge.media.agents.base import AgentConnection, AgentError
from callbridge.media.audio.resampler import create_resampler
from callbridge.media.caller_activity import CallerActivity
from callbridge.media.caller_audio import CallerAudio
from callbridge.media.caller_keys import CallerKeys
from callbridge.media.clock import Clock, TimerHandle
from callbridge.media.config import MediaSettings
from callbridge.media.control import RenderAudio
from callbridge.media.first_speaker import FirstTurn
from callbridge.media.hang_up import HangUpPlan, HangUps
from callbridge.media.hold import HoldPlayer
from callbridge.media.inactivity import InactivityMonitor
from callbridge.media.lifecycle import CallLifecycle
from callbridge.media.own_audio import OwnAudio
from callbridge.media.playout import Playout
from callbridge.media.providers.base import (
    Cleared,
    DtmfPressed,
    MarkPlayed,
    MediaReceived,
    ProtocolError,
    ProviderErrorReported,
    ProviderStream,
    Started,
    Stopped,
    StreamInfo,
)
from callbridge.media.ratelimit import CallLog
from callbridge.media.reports import ProviderInputReports
from callbridge.media.tasks import CallTasks
from callbridge.media.tool_replies import tool_answered
from callbridge.media.tools import ToolHandler, default_tools
from callbridge.media.transport import ProviderSocket

TIME_EXCEEDED_REPLY_S: Final = 3.0
"""How long the agent has to start saying the ``timeExceededMessage`` before the call ends without it."""
TIME_EXCEEDED_DRAIN_S: Final = 15.0
"""How long the ``timeExceededMessage`` may take to play once the agent has started saying it."""


class CallSession:
    def __init__(
        self,
        call: Call,
        socket: ProviderSocket,
        stream: ProviderStream,
        agent: AgentConnection,
        lifecycle: CallLifecycle,
        settings: MediaSettings,
        tracer: Tracer,
        log: CallLog,
        *,
        tools: Mapping[str, ToolHandler] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.call = call
        self._tracer = tracer
        self._socket = socket
        self._stream = stream
        self._agent = agent
        self._lifecycle = lifecycle
        self._settings = settings
        self._log = log
        self._tools = default_tools() if tools is None else tools
        self._playout = Playout(stream, socket.send, lead_ms=settings.playout_lead_ms, clock=clock)
        self._clock = self._playout.clock
        self._reports = ProviderInputReports(call.call_id, lifecycle, log, asyncio.get_running_loop().time)
        self._end_reason: EndReason | None = None
        self._end_detail: str | None = None
        self._transfer_target: str | None = None
        """Where a cold transfer under way sends the caller: the stream's end is then ``transferred``."""
        self._by_provider = False
        self._hold: HoldPlayer | None = None
        """The hold music while a warm transfer is under way."""
        self._warm_invocation: str | None = None
        """The ``warmTransfer`` invocation waiting for its result."""
        self._started = False
        self._tasks = CallTasks(call.call_id, log)
        self._timers: list[TimerHandle] = []
        self.frames_in = 0
        """Caller audio frames received (for the metrics)."""
        self._started_at: float | None = None
        """When the provider's start message came (the playout clock)."""
        # Built when the stream starts: they need its format.
        self._caller: CallerAudio | None = None
        self._framer: AgentAudioFramer | None = None
        self._bridge: AgentBridge | None = None
        self._first_turn: FirstTurn | None = None
        self._keys: CallerKeys | None = None
        self._own_audio: OwnAudio | None = None
        self._activity: CallerActivity | None = None
        self._inactivity: InactivityMonitor | None = None
        self._hang_ups = HangUps(
            self._playout,
            drain_timeout_s=settings.hang_up_drain_timeout_s,
            log=log,
            spawn=self._tasks.spawn,
            end=self._request_end,
            ended=lambda: self._end_reason is not None,
        )

    # -- running the call -------------------------------------------------------------------------

    async def run(self) -> None:
        # The call's span continues the trace of the request that created the call (webhook or API).
        with self._tracer.start_as_current_span(
            "media.call",
            context=propagate.extract(self.call.trace_context),
            attributes={"callbridge.call_id": str(self.call.call_id)},
        ):
            active = metrics.ACTIVE_CALLS.labels(self._stream.provider.value)
            active.inc()
            try:
                await self._run()
            except Exception as exc:  # anything unexpected ends this call, never the replica
                self._log.error("failed", exc_info=exc)
                self._request_end(EndReason.SYSTEM_ERROR, f"{type(exc).__name__}: {exc}")
            finally:
                await self._finish()
                active.dec()

    async def _run(self) -> None:
        agent_connected = self._tasks.spawn(self._connect_agent(), "agent-connect")
        recv = self._socket.recv
        parse = self._stream.parse
        reports = self._reports
        playout = self._playout
        notices = self._stream.notices
        caller: CallerAudio | None = None
        send_audio = resample = detect_keys = None  # the caller's audio path, once the stream has started
        listen = None  # the first turn's ear on the caller, while it listens (then None: no cost per frame)
        activity: CallerActivity | None = None  # the caller's activity, once the stream has started
        stopped = False
        # One loop for the whole stream: one awaited recv, one parse and one dispatch per message, no
        # layers between (measured: each async layer costs about 1 µs a message, 0.1 ms per call-second).
        # Until `start` it runs under the start deadline, which `start` removes (no cost per message).
        start_deadline = asyncio.timeout(self._settings.start_timeout_s)
        try:
            async with start_deadline:
                while (message := await recv()) is not None:
                    try:
                        parsed = parse(message)
                    except ProtocolError as exc:
                        reports.frame_rejected(exc)
                        continue
                    if isinstance(parsed, MediaReceived):
                        self.frames_in += 1
                        # CallerAudio.on_audio, inline; a stream parses media only once it has started.
                        assert send_audio is not None and resample is not None  # noqa: PT018
                        assert detect_keys is not None
                        if listen is not None and not listen(parsed.pcm):
                            listen = None
                        detect_keys(parsed.pcm)
                        if activity is not None and activity.listening:
                            activity.on_audio(parsed.pcm)
                        pcm = resample(parsed.pcm)
                        if self._hold is None:
                            await send_audio(pcm.tobytes())
                        else:  # on hold: the agent hears silence (the resampler's state runs on)
                            await send_audio(bytes(pcm.nbytes))
                        if notices:
                            reports.format_notices(notices)
                    elif isinstance(parsed, MarkPlayed):
                        playout.on_mark(parsed.name)
                    elif isinstance(parsed, DtmfPressed):
                        if self._keys is not None:
                            self._keys.on_event(parsed.digit)
                    elif isinstance(parsed, Cleared):
                        playout.on_cleared()
                    elif isinstance(parsed, ProviderErrorReported):
                        reports.provider_error(parsed)
                    elif isinstance(parsed, Started):
                        start_deadline.reschedule(None)
                        caller = await self._start(parsed.info, agent_connected)
                        send_audio, resample = caller.send_audio, caller.resample
                        assert self._keys is not None
                        detect_keys = self._keys.on_audio
                        activity = self._activity
                        first_turn = self._first_turn
                        if first_turn is not None and first_turn.listening:
                            listen = first_turn.on_caller_audio
                    elif isinstance(parsed, Stopped):
                        stopped = True
                        break
                    if self._end_reason is not None:
                        break
        except TimeoutError:
            if not start_deadline.expired():
                raise
            self._request_end(EndReason.CONNECTION_ERROR, "no start message from the provider")
            return
        if caller is None:
            self._provider_ended("stream closed before start")
        elif stopped:
            self._provider_ended("provider sent stop")
        else:
            self._provider_ended(f"provider closed the stream (code {self._socket.close_code})")

    def _provider_ended(self, detail: str) -> None:
        """The provider ended the stream: a transfer under way ends the call as ``transferred`` (the
        provider keeps the call, which media must not hang up, reference §1.4), else it is a hang-up."""
        if self._end_reason is not None:
            return
        if self._transfer_target is not None:
            self._request_end(EndReason.TRANSFERRED, f"transferred to {self._transfer_target}")
        else:
            self._by_provider = True
            self._request_end(EndReason.HANGUP, detail)

    async def _start(self, info: StreamInfo, agent_connected: asyncio.Task[None]) -> CallerAudio:
        """The stream has started: record it, build the call's parts for its format, start the agent."""
        details = ProviderDetails(
            provider=self._stream.provider,
            call_id=info.call_id,
            stream_id=info.stream_id,
            account_id=info.account_id,
            media_format=info.media_format,
        )
        self._started_at = self._playout.clock.now()
        span = trace.get_current_span()  # the call's media.call span: the provider's ids join the trace
        span.set_attribute("callbridge.provider", self._stream.provider.value)
        span.set_attribute("callbridge.provider_call_id", info.call_id)
        span.set_attribute("callbridge.stream_sid", info.stream_id)
        self.call = call = await self._lifecycle.started(self.call, details)
        self._log.info("joined: stream %s, %s", info.stream_id, info.media_format)
        agent = self._agent
        caller = self._caller = CallerAudio(
            call.call_id,
            agent,
            create_resampler(info.sample_rate_hz, agent.input_rate_hz),
            call.dtmf_handling,
            self._lifecycle.publish,
        )
        framer = self._framer = AgentAudioFramer(
            self._playout,
            create_resampler(agent.output_rate_hz, info.out_rate_hz),
            agent_rate_hz=agent.output_rate_hz,
            spawn=self._tasks.spawn,
        )
        bridge = self._bridge = AgentBridge(
            self, framer, self._playout, self._lifecycle, self._log, self._tools, self._request_end
        )
        bridge.ending = self.ending
        own_audio = self._own_audio = OwnAudio(self._playout, framer, bridge, rate_hz=info.out_rate_hz)
        self._keys = CallerKeys(
            self._on_key, self._clock.now, rate_hz=info.sample_rate_hz, echo_possible=own_audio.echo_possible
        )
        first_turn = self._first_turn = FirstTurn(
            call.first_speaker_settings,
            call.vad_settings,
            floor=bridge,
            playout=self._playout,
            send_to_agent=agent.send_message,
            spawn=self._tasks.spawn,
            log=self._log,
            input_rate_hz=info.sample_rate_hz,
        )
        activity = self._activity = CallerActivity(call.vad_settings, info.sample_rate_hz, self._clock)
        hang_ups = self._hang_ups
        hang_ups.bridge, hang_ups.framer, hang_ups.activity = bridge, framer, activity
        if call.inactivity_messages:
            self._inactivity = InactivityMonitor(
                call.inactivity_messages,
                call=self,
                activity=activity,
                playout=self._playout,
                spawn=self._tasks.spawn,
                log=self._log,
            )
        self._playout.start(f"playout-{call.call_id}")
        await agent_connected
        if self._end_reason is None:
            first_turn.prepare()
            await agent.start(bridge)
            first_turn.begin()
            self._started = True
            if self._inactivity is not None:
                self._inactivity.start()
            max_duration_s = call.max_duration.total_seconds()
            self._timers.append(
                self._clock.call_at(self._clock.now() + max_duration_s, self._on_max_duration)
            )
        return caller

    def _on_key(self, digit: str) -> None:
        """A key the caller pressed (reported by the provider or heard in the audio, once)."""
        if self.call.transfer_of is not None:  # the human on a warm transfer's second leg
            self._on_leg_key(digit)
        if self._first_turn is not None:
            self._first_turn.on_dtmf()
        if self._activity is not None:
            self._activity.on_dtmf()
        if self._caller is not None:
            self._caller.on_dtmf(digit)

    async def _connect_agent(self) -> None:
        # A span of the call's trace (this task was spawned inside media.call): how long the agent took.
        with self._tracer.start_as_current_span(
            "agent.connect", attributes={"callbridge.call_id": str(self.call.call_id)}
        ) as span:
            try:
                async with asyncio.timeout(self._settings.agent_connect_timeout_s):
                    await self._agent.connect()
            except (AgentError, TimeoutError) as exc:
                span.set_attribute("error.type", type(exc).__name__)
                self._request_end(EndReason.CONNECTION_ERROR, f"agent unavailable: {exc}")

    # -- what tools and commands may do (control.CallControl) -------------------------------------

    @property
    def call_id(self) -> UUID:
        return self.call.call_id

    @property
    def started(self) -> bool:
        return self._started

    @property
    def ending(self) -> bool:
        return self._hang_ups.under_way or self._end_reason is not None

    @property
    def agent_speaks_text(self) -> bool:
        return self._agent.speaks_text

    async def send_to_agent(self, message: dict[str, Any]) -> None:
        await self._agent.send_message(message)
        if message.get("type") == "client_tool_result":  # every tool's outcome is a call event
            self._lifecycle.publish(tool_answered(self.call.call_id, message))

    def play_own_audio(self, render: RenderAudio, margin_s: float) -> Coroutine[Any, Any, bool]:
        if self._own_audio is None or self.ending:
            return _not_played()
        return self._own_audio.play(render, margin_s)

    async def give_agent_the_floor(self) -> None:
        if self._first_turn is not None:
            await self._first_turn.give_agent_the_floor()

    async def say(self, text: str, *, uninterruptible: bool = False) -> bool:
        if not self._agent.speaks_text or self.ending:
            return False
        await self.give_agent_the_floor()  # what the agent is made to say is heard, first turn or not
        self._hang_ups.asked_at = self._playout.frames_queued
        await self._agent.send_message(
            {
                "type": "forced_agent_message",
                "content": text,
                "urgency": "immediate",
                "uninterruptible": uninterruptible,
            }
        )
        return True

    def hang_up(
        self,
        reason: EndReason,
        detail: str,
        *,
        before_end: Callable[[], Awaitable[None]] | None = None,
        goodbye_asked: bool = False,
        unless_caller_acts: bool = False,
        if_cancelled: Callable[[], Awaitable[None]] | None = None,
    ) -> bool:
        if self.ending:
            return False
        plan = HangUpPlan(reason, detail, before_end, goodbye_asked, unless_caller_acts, if_cancelled)
        self._hang_ups.begin(plan, "hang-up")
        return True

    def hand_off(
        self, target: str, *, close_stream: bool, before: Callable[[], Awaitable[None]] | None = None
    ) -> bool:
        transferred = f"transferred to {target}"
        if self._transfer_target is not None and self._end_reason is None:
            if close_stream:  # the transfer service says: end the stream now (Exotel's flow connects)
                self._hang_ups.begin(HangUpPlan(EndReason.TRANSFERRED, transferred), "hand-off")
            return True
        if self.ending:
            return False
        self._transfer_target = target
        # As a hang-up: what the agent sent plays out, what it sends from now on does not; the call ends
        # here only when the stream is ours to end, else when the provider stops it (``_provider_ended``).
        plan = HangUpPlan(EndReason.TRANSFERRED if close_stream else None, transferred, before)
        self._hang_ups.begin(plan, "hand-off")
        return True

    def abort_hand_off(self, detail: str) -> bool:
        if self._transfer_target is None or self._end_reason is not None:
            return False
        self._log.warning("transfer to %s failed: %s; the agent goes on", self._transfer_target, detail)
        self._transfer_target = None
        self._hang_ups.under_way = False
        if self._bridge is not None:
            self._bridge.ending = False
        return True

    async def request_transfer(self, command: ColdTransfer | WarmTransfer | WarmTransferDecided) -> None:
        await self._lifecycle.request_call_control(command)

    @property
    def provider(self) -> Provider | None:
        return self._stream.provider

    @property
    def transfer_of(self) -> UUID | None:
        return self.call.transfer_of

    @property
    def agent_rate_hz(self) -> int:
        return self._agent.output_rate_hz

    def begin_warm_hold(self, invocation_id: str, target: str, audio: npt.NDArray[np.int16]) -> bool:
        if self.ending or self._warm_invocation is not None or self._framer is None or self._bridge is None:
            return False
        self._bridge.on_hold = True  # the agent's audio from now on is dropped, its clears ignored
        player = self._hold = HoldPlayer(audio, self._framer, self._playout, self._clock)
        self._warm_invocation = invocation_id
        self._log.info("warm transfer to %s: the caller is on hold", target)

        async def cut_then_play() -> None:
            if self._framer is not None:
                self._framer.clear()
            await self._playout.clear()  # what the agent was saying stops: the music starts now
            if self._hold is player:  # not stopped meanwhile
                player.start(self._tasks.spawn)

        self._tasks.spawn(cut_then_play(), "hold")
        return True

    async def stop_hold(self) -> None:
        player, self._hold = self._hold, None
        if player is None:
            return
        await player.stop()
        if self._bridge is not None:
            self._bridge.on_hold = False

    def take_warm_invocation(self) -> str | None:
        invocation_id, self._warm_invocation = self._warm_invocation, None
        return invocation_id

    def _on_leg_key(self, digit: str) -> None:
        """A key on a warm transfer's second leg: 1 accepts, 2 declines (the first decision wins)."""
        first_call = self.call.transfer_of
        if first_call is None or digit not in (ACCEPT_KEY, DECLINE_KEY):
            return
        decision = WarmTransferDecided.once(
            first_call,
            "accepted" if digit == ACCEPT_KEY else "declined",
            f"decision:{self.call.call_id}",
            detail=f"the human pressed {digit}",
            leg_call_id=self.call.call_id,
        )
        self._tasks.spawn(self._lifecycle.request_call_control(decision), "warm-transfer-key")

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.spawn(coroutine, name)

    def tool_overrides(self, tool_name: str) -> dict[str, Any]:
        for tool in self.call.selected_tools:
            if tool.tool_name == tool_name and tool.parameter_overrides:
                return dict(tool.parameter_overrides)
        return {}

    # -- timers and ending ------------------------------------------------------------------------

    def _on_max_duration(self) -> None:
        self._tasks.spawn(self._time_exceeded(), "time-exceeded")

    async def _time_exceeded(self) -> None:
        message = self.call.time_exceeded_message
        if message and self._agent.speaks_text and not self.ending:
            asked_at = self._playout.frames_queued
            await self._agent.send_message(
                {"type": "forced_agent_message", "content": message, "urgency": "immediate"}
            )
            # The goodbye has played once the agent's audio for it started and then drained.
            await self._playout.wait_for_reply(asked_at, TIME_EXCEEDED_REPLY_S, TIME_EXCEEDED_DRAIN_S)
        self._request_end(EndReason.TIMEOUT, "maxDuration reached")

    def _request_end(self, reason: EndReason, detail: str) -> None:
        """The first reason wins; closing the provider socket then ends the receive loop."""
        if self._end_reason is None:
            self._end_reason = reason
            self._end_detail = detail
            if self._bridge is not None:
                self._bridge.ending = True
            self._tasks.spawn(self._socket.close(1000, reason.value), "close-provider")

    async def _finish(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._first_turn is not None:
            self._first_turn.close()
        if self._inactivity is not None:
            self._inactivity.close()
        if self._framer is not None:
            self._framer.close()
        reason = self._end_reason or EndReason.HANGUP
        await self._playout.close()
        await self._tasks.cancel_all()
        # The call ended when its end was decided: the record says so now, before the closing handshakes
        # with the agent and the provider, which a peer that does not answer can hold for seconds.
        if self._bridge is not None:
            self._bridge.closed = True
        await self._lifecycle.end(
            self.call.call_id,
            reason,
            detail=self._end_detail,
            rejected_frames=self._reports.rejected_frames,
            provider_errors=self._reports.provider_errors,
            agent_messages_rejected=self._agent.messages_rejected,
            by_provider=self._by_provider,
        )
        if self._caller is not None:
            await self._caller.close()
        try:
            await self._agent.close()
        except Exception:
            self._log.error("closing the agent failed", exc_info=True)
        await self._socket.close(1000, reason.value)
        self._add_to_metrics(reason)

    def _add_to_metrics(self, reason: EndReason) -> None:
        """The call's counts, once it has ended (per-frame figures are counted per call, lock-free)."""
        metrics.CALLS_ENDED.labels(reason.value).inc()
        self._reports.add_to_metrics()
        metrics.REPORTS_HELD_BACK.labels("log_line").inc(self._log.held_back)
        playout = self._playout
        metrics.FRAMES_DROPPED.inc(playout.frames_dropped + playout.sends_dropped)
        metrics.MARKS_UNKNOWN.inc(playout.marks_unknown)
        if self._framer is not None:
            metrics.FRAMES_PADDED.inc(self._framer.frames_padded)
        if self._keys is not None:
            for source, count in self._keys.passed_on.items():
                metrics.DTMF_KEYS.labels(source).inc(count)
            metrics.DTMF_KEYS_BOTH_WAYS.inc(self._keys.duplicates)
        if self._bridge is not None:
            metrics.AGENT_CLEARS_IGNORED.inc(self._bridge.clears_ignored)
            metrics.AGENT_HELD_AUDIO_DROPPED.inc(self._bridge.held_bytes_dropped)
        provider = self._stream.provider.value
        metrics.FRAMES_IN.labels(provider).inc(self.frames_in)
        metrics.FRAMES_OUT.labels(provider).inc(playout.frames_sent)
        round_trip = metrics.MARK_ROUND_TRIP.labels(provider)
        for seconds in playout.mark_round_trips:
            round_trip.observe(seconds)
        if self._started_at is not None and playout.first_sent_at is not None:
            metrics.FIRST_AGENT_AUDIO.labels(provider).observe(
                max(0.0, playout.first_sent_at - self._started_at)
            )
        for counter, count in self._stream.counters().items():
            metrics.STREAM_INPUT.labels(provider, counter).inc(count)


async def _not_played() -> bool:
    """What ``play_own_audio`` answers when the call cannot play audio (not started, or ending)."""
    return False
