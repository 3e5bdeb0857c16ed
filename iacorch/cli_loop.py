"""Command line of the control loop: ``iacorch reconcile`` and ``iacorch events``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from iacorch.stack.units import parse_duration


def add_commands(stack_cmd) -> None:
    sp = stack_cmd("reconcile", "heal and autoscale: observe, decide and act (once, or again and again)",
                   cmd_reconcile)
    sp.add_argument("--watch", action="store_true", help="keep going until interrupted (Ctrl-C, SIGTERM)")
    sp.add_argument("--interval", metavar="DURATION", help="time between passes (default: the stack's "
                    "reconcile.interval, 5s); a container that dies wakes the loop early")
    sp.add_argument("--passes", type=int, metavar="N", help="stop after N passes")
    sp.add_argument("--json", action="store_true", help="print each event as a JSON line")

    sp = stack_cmd("events", "what the control loop did: time, subject, action, result and reason", cmd_events)
    sp.add_argument("--follow", "-f", action="store_true", help="keep printing new events as they come")
    sp.add_argument("--json", action="store_true", help="one JSON object per line")
    sp.add_argument("--tail", type=int, metavar="N", help="only the last N events")


def cmd_reconcile(args: argparse.Namespace) -> int:
    from iacorch.cli import _engine, _load
    from iacorch.reconcile.decide import Settings
    from iacorch.reconcile.events import format_event
    from iacorch.reconcile.loop import Reconciler
    from iacorch.report import PlainReporter

    sf = _load(args)
    conf = sf.stack.reconcile
    interval = parse_duration(args.interval) if args.interval else (conf.interval if conf else 5.0)
    settings = Settings() if conf is None else Settings(
        restart_backoff=conf.restart_backoff, max_restarts=conf.max_restarts, restart_window=conf.restart_window,
        replace_after=conf.replace_after)
    class Reporter(PlainReporter):
        def phase(self, text: str) -> None:  # every pass observes: only say what is done
            if not text.startswith("observing"):
                super().phase(text)

    reporter = Reporter(sys.stderr)
    loop = Reconciler(_engine(sf, reporter, args), settings=settings)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: loop.stop())

    def show(result) -> None:
        for event in result.events:
            print(json.dumps(event.to_json(), sort_keys=True) if args.json else format_event(event), flush=True)

    passes = args.passes if args.passes else (None if args.watch else 1)
    if not args.json:
        print(f"reconciling stack {sf.stack.stack!r} every {interval:g}s; events also go to {loop.log.path}"
              if args.watch else f"reconciling stack {sf.stack.stack!r} once", file=sys.stderr)
    try:
        loop.watch(interval, passes=passes, on_pass=show)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        loop.close()
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    from iacorch.cli import _load
    from iacorch.reconcile.events import EventLog, format_event

    log = EventLog(_load(args).stack.stack)
    events = log.follow() if args.follow else iter(log.read()[-args.tail:] if args.tail else log.read())
    try:
        for event in events:
            print(json.dumps(event.to_json(), sort_keys=True) if args.json else format_event(event), flush=True)
    except KeyboardInterrupt:
        pass
    return 0
