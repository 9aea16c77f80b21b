"""Load benchmark of the media service: concurrent provider calls to the echo agent through ONE media process.

Run from the repository root: ``python -m bench.calls [--calls 200] [--duration 20] [--agent-rate 16000]
[--providers twilio,telnyx,plivo,exotel] [--per-provider-cpu]``; ``--quick`` is a 20-call, 5 s smoke run;
``--profile`` also samples the media process with py-spy (cProfile if py-spy is not installed) and prints
its top functions by own time.

Providers: the calls are split evenly, round-robin, over ``--providers`` (default all four; ``--providers
twilio`` is the first benchmark's run). Each call is created with the ``medium`` callbridge's webhooks
would give it, choosing the provider's best format: Twilio μ-law 8 kHz (its only one), Telnyx L16 16 kHz
(RTP mode, big-endian as media assumes by default), Plivo ``audio/x-l16;rate=16000``, Exotel PCM16 LE at
``?sample-rate=16000`` (providers.py). Each call's messages, and the checks of what the server sends, are
the devkit simulators' wire code for its provider (callbridge.devkit.simulators.*_wire), the code the tests
run: a message the simulators would flag is counted as a protocol violation here too.

Set-up: a real nats-server, then ``webhooks`` and ``media`` each as its own process, so the media
process's CPU (/proc/<pid>/stat) and RSS are its alone. The calls are created through ``POST /api/calls``
before the load starts. This process is the load generator: on 2+ cores the media process is pinned to
CPU 0 and the generator to CPU 1 (``--no-pin`` leaves both to the scheduler). Each call connects, sends
its provider's opening messages, then a 20 ms frame of a speech-like signal on its own absolute clock, the
calls' clocks spread over one 20 ms period; it plays the echo in real time and answers each mark (Plivo:
checkpoint) once its audio has played, then drains, sends `stop` and closes. Only 127.0.0.1 is ever
contacted.

Figures: the echo latency is the arrival of each echoed audio message minus the send time of the inbound
frame its audio came from (matched by sample offset); lost frames are frames sent minus frames echoed after
the drain. Exotel's echo comes back in 100 ms chunks, so its latency target is judged from each chunk's
newest frame (see figures.py). CPU, RSS and load-generator CPU are read over the steady-state window
only, and per process: in a mixed run they are the mix's. ``--per-provider-cpu`` therefore follows the run
with one single-provider pass per provider (``--calls`` calls x 10 s each, every pass with its own
services), which gives each provider's media CPU per call-second at the same scale.

Why a lean load client (client.py) rather than the devkit's TwilioSimulator (``--client simulator``,
Twilio only): both send the same messages, built by the same wire code, but the simulator's engine runs
two tasks per call on a ``websockets`` connection and connects each call just before its first frame,
where the lean client is one asyncio protocol per call on timer callbacks with just enough RFC 6455 of its
own (ws.py). Measured at 200 calls x 20 s,
16 kHz echo (media on CPU 0, client on CPU 1): with the simulator the client measured itself, not media:
echo p50 48 ms, p99 313 ms, every call's sender once ~300 ms late, 2276 echoes still in flight at hang-up,
client 58 % busy. With the lean client on the same media: p50 0.7 ms, p99 1.8-3.0 ms, nothing lost, client
33 % busy. Media's own CPU was the same under both (3.4-3.6 ms per call-second).

Exit status: 0 when no judged target fails, 1 when one does, 2 when the benchmark could not run.
"""

import argparse
import signal
import sys
from dataclasses import replace
from pathlib import Path

from bench.calls import profiling, report
from bench.calls import providers as catalog
from bench.calls import stack as services
from bench.calls.figures import Verdict
from bench.calls.run import Options, run_once

TOP_FUNCTIONS = 25
CPU_PASS_S = 10.0  # media per --per-provider-cpu pass: a 7 s steady window, 10 ms CPU ticks are 0.1 % of it


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.calls", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--calls", type=int, default=200, help="concurrent calls (default 200)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of media per call (default 20)")
    parser.add_argument("--agent-rate", type=int, default=16000, choices=(8000, 16000, 24000, 48000))
    parser.add_argument(
        "--providers",
        default=",".join(catalog.NAMES),
        help=f"comma-separated, calls split evenly round-robin (default {','.join(catalog.NAMES)})",
    )
    parser.add_argument(
        "--per-provider-cpu",
        action="store_true",
        help=f"then one single-provider pass per provider ({CPU_PASS_S:g} s each) for its media CPU",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 20 calls for 5 s")
    parser.add_argument(
        "--client", choices=("lean", "simulator"), default="lean", help="load client (default lean)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile the media process (py-spy, else cProfile)"
    )
    parser.add_argument(
        "--profile-out",
        metavar="FILE",
        help="with py-spy: keep its collapsed stacks (flamegraph.pl input) in FILE",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin media and load generator to CPUs")
    parser.add_argument(
        "--listening",
        action="store_true",
        help="every call waits for its caller to speak first: media's speech detector runs the whole call "
        "(its worst-case CPU; the held-back echo counts as lost frames)",
    )
    args = parser.parse_args(argv)
    calls, duration_s = (20, 5.0) if args.quick else (args.calls, args.duration)
    if not 1 <= calls <= 1000 or not 3.0 <= duration_s <= 600.0:
        parser.error("--calls must be 1..1000 and --duration 3..600 s")
    chosen = tuple(dict.fromkeys(name.strip().lower() for name in args.providers.split(",") if name.strip()))
    unknown = [name for name in chosen if name not in catalog.PROVIDERS]
    if not chosen or unknown:
        parser.error(f"--providers takes some of {','.join(catalog.NAMES)}, not {args.providers!r}")
    if args.client == "simulator" and chosen != ("twilio",):
        parser.error("--client simulator speaks Twilio only: add --providers twilio")
    profile_out = Path(args.profile_out) if args.profile_out else None
    return Options(
        calls,
        duration_s,
        args.agent_rate,
        args.client,
        args.profile or profile_out is not None,
        profile_out,
        not args.no_pin,
        chosen,
        args.per_provider_cpu,
        args.listening,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` cleans up as Ctrl-C does
    py_spy = profiling.find_py_spy() if options.profile else None
    try:
        run = run_once(options, py_spy)
        text, verdicts = report.format_run(run)
        print(text, flush=True)
        if run.profile is not None:
            print()
            print(profiling.format_profile(run.profile, TOP_FUNCTIONS))
        if options.per_provider_cpu and len(options.providers) > 1:
            verdicts += _cpu_passes(options)
        elif options.per_provider_cpu:
            print(f"\nper-provider media CPU: the run above is {options.providers[0]} alone")
    except KeyboardInterrupt:
        print("interrupted: services stopped", file=sys.stderr)
        return 130
    except services.BenchSetupError as exc:
        print(f"benchmark could not run: {exc}", file=sys.stderr)
        return 2
    return 1 if any(verdict.passed is False for verdict in verdicts) else 0


def _cpu_passes(options: Options) -> list[Verdict]:
    """One short run per provider, each alone in its own media process: CPU is per process."""
    duration_s = min(CPU_PASS_S, options.duration_s)
    print()
    print(
        f"per-provider media CPU: {len(options.providers)} more runs, each one provider alone, "
        f"{options.calls} calls x {duration_s:g} s, its own NATS, media and webhooks processes"
    )
    verdicts: list[Verdict] = []
    for name in options.providers:
        single = replace(
            options, duration_s=duration_s, providers=(name,), per_provider_cpu=False, profile=False
        )
        text, pass_verdicts = report.format_cpu_pass(run_once(single, None))
        print(text, flush=True)
        verdicts += pass_verdicts
    return verdicts


if __name__ == "__main__":
    sys.exit(main())
