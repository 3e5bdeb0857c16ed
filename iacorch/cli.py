"""Command line: iacorch validate | plan | apply | destroy | status | unlock | schema | graph."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from typing import Any, Sequence

from iacorch.errors import IacorchError
from iacorch.lock import StackLock
from iacorch.plan import Plan
from iacorch.render import render_graph, render_plan
from iacorch.report import PlainReporter, Reporter, for_stream
from iacorch.stack.load import StackFile, load_stack
from iacorch.stack.templating import parse_var_assignment
from iacorch.stack.units import parse_duration

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except IacorchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug in iacorch: say so, traceback only on request
        if os.environ.get("IACORCH_DEBUG"):
            raise
        print(f"internal error: {type(exc).__name__}: {exc}\n"
              "  this is a bug in iacorch; set IACORCH_DEBUG=1 to see the traceback", file=sys.stderr)
        return EXIT_ERROR


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="iacorch", description="VMs, containers and HAProxy from one stack file")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def stack_cmd(name: str, help_: str, func, *, stack_help: str = "stack file") -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.add_argument("stack", metavar="STACK", help=stack_help)
        sp.add_argument("--var", action="append", default=[], metavar="NAME=VALUE", help="set a variable")
        sp.add_argument("--var-file", action="append", default=[], metavar="FILE", help="YAML/JSON variables")
        sp.add_argument("--trust-new-host-keys", action="store_true",
                        help="record SSH host keys never seen before (trust on first use) instead of refusing")
        sp.set_defaults(func=func)
        return sp

    stack_cmd("validate", "check a stack file without touching anything", cmd_validate)

    sp = stack_cmd("plan", "show what apply would change", cmd_plan)
    sp.add_argument("--json", action="store_true", help="print the plan as JSON")
    sp.add_argument("-o", "--out", metavar="FILE", help="save the plan for `iacorch apply FILE`")
    sp.add_argument("--detailed-exitcode", action="store_true", help="exit 0: no changes, 1: error, 2: changes")
    sp.add_argument("--destroy", action="store_true", help="plan the destruction of everything the stack owns")
    sp.add_argument("--no-color", action="store_true")

    sp = stack_cmd("apply", "make what exists match the stack (or apply a saved plan exactly)", cmd_apply,
                   stack_help="stack file, or a plan saved with plan -o")
    _apply_options(sp)

    sp = stack_cmd("destroy", "remove everything the stack owns", cmd_destroy)
    _apply_options(sp)

    sp = stack_cmd("status", "what exists: resources, hosts, containers, load balancers", cmd_status)
    sp.add_argument("--json", action="store_true")

    stack_cmd("unlock", "remove the stack lock by force (when its holder is gone)", cmd_unlock)

    sp = stack_cmd("graph", "the plan's dependency graph as DOT (or SVG with Graphviz)", cmd_graph)
    sp.add_argument("--format", choices=["dot", "svg"], default="dot")

    sp = sub.add_parser("schema", help="print the JSON Schema of the stack format (for editors)")
    sp.set_defaults(func=cmd_schema)
    return p


def _apply_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    sp.add_argument("--parallelism", type=int, default=10, metavar="N", help="steps run at once (default 10)")
    sp.add_argument("--lock-timeout", default="0s", metavar="DURATION",
                    help="wait this long for the stack lock (default: fail at once)")
    sp.add_argument("--json", action="store_true", help="print the plan and result as JSON")
    sp.add_argument("--no-color", action="store_true")


# -- helpers ---------------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> StackFile:
    overrides = dict(parse_var_assignment(v) for v in args.var)
    return load_stack(args.stack, var_files=args.var_file, overrides=overrides)


def _engine(sf: StackFile, reporter: Reporter, args: argparse.Namespace | None = None):
    from iacorch.engine import Engine
    from providers import open_provider

    return Engine(sf, open_provider(sf), reporter,
                  trust_new_host_keys=bool(getattr(args, "trust_new_host_keys", False)))


def _reporter(args: argparse.Namespace) -> Reporter:
    if getattr(args, "json", False):
        return PlainReporter(sys.stderr)
    return for_stream(sys.stderr)


def _color(args: argparse.Namespace) -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and not getattr(args, "no_color", False)


def _confirm(plan: Plan, args: argparse.Namespace, verb: str) -> bool:
    if args.auto_approve:
        return True
    if not sys.stdin.isatty():
        raise IacorchError(f"{verb} needs confirmation, and stdin is not a terminal",
                           hint="pass --auto-approve to run without asking (for CI)")
    answer = input(f"Do you want to {verb} these changes? Only 'yes' will be accepted: ")
    return answer.strip() == "yes"


def _is_saved_plan(path: str) -> bool:
    if not path.endswith(".json"):
        return False
    try:
        with open(path, encoding="utf-8") as f:
            return "format_version" in json.load(f)
    except (OSError, ValueError):
        return False


# -- commands --------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    sf = _load(args)
    s = sf.stack
    print(f"{args.stack}: valid stack {s.stack!r} ({s.provider_kind}): {len(s.groups)} group(s), "
          f"{len(s.services)} service(s), {len(s.load_balancers)} load balancer(s)")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    sf = _load(args)
    reporter = _reporter(args)
    try:
        with _engine(sf, reporter, args) as engine:
            observed = engine.observe()
            plan = engine.plan(observed, destroy=args.destroy)
    finally:
        reporter.close()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(plan.to_json(), f, indent=2, sort_keys=True)
            f.write("\n")
    if args.json:
        print(json.dumps(plan.to_json(), indent=2, sort_keys=True))
    else:
        sys.stdout.write(render_plan(plan, color=_color(args)))
        if args.out:
            print(f"\nSaved the plan to {args.out}. Apply exactly this plan with: iacorch apply {args.out}")
    if args.detailed_exitcode and plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def cmd_apply(args: argparse.Namespace) -> int:
    from iacorch.engine import stack_from_snapshot

    saved: Plan | None = None
    if _is_saved_plan(args.stack):
        with open(args.stack, encoding="utf-8") as f:
            try:
                saved = Plan.from_json(json.load(f))
            except (ValueError, KeyError) as exc:
                raise IacorchError(f"not a usable saved plan: {exc}", where=args.stack) from None
        if args.var or args.var_file:
            raise IacorchError("a saved plan already fixes its variables; drop --var/--var-file",
                               where=args.stack)
        sf = stack_from_snapshot(saved.source)
        return _run(sf, args, destroy=saved.destroy, saved=saved)
    return _run(_load(args), args, destroy=False)


def cmd_destroy(args: argparse.Namespace) -> int:
    return _run(_load(args), args, destroy=True)


def _run(sf: StackFile, args: argparse.Namespace, *, destroy: bool, saved: Plan | None = None) -> int:
    from iacorch.engine import failure_summary

    reporter = _reporter(args)
    try:
        engine = _engine(sf, reporter, args)
        operation = "destroy" if destroy else "apply"
        with engine, StackLock(engine.provider.lock_backend(), sf.stack.stack, operation,
                               wait=parse_duration(args.lock_timeout)):
            observed = engine.observe()
            if saved is not None:
                engine.check_fresh(saved, observed)
                plan = saved
            else:
                plan = engine.plan(observed, destroy=destroy)
            reporter.close()  # the live display must not draw over the plan or the prompt
            if not args.json:
                sys.stdout.write(render_plan(plan, color=_color(args)))
                sys.stdout.flush()
            if not plan.has_changes:
                if args.json:
                    print(json.dumps({"plan": plan.to_json(), "applied": True, "failed": []}, indent=2))
                return EXIT_OK
            if saved is None and not _confirm(plan, args, operation):
                print("Cancelled; nothing was changed.")
                return EXIT_ERROR
            reporter = engine.reporter = _reporter(args)
            result = engine.apply(plan, observed, parallelism=args.parallelism)
    finally:
        reporter.close()
    outcome = result.outcome
    if args.json:
        print(json.dumps({
            "plan": plan.to_json(), "applied": outcome.ok, "seconds": round(result.seconds, 2),
            "failed": [{"step": str(s), "error": e} for s, e in outcome.failed],
            "skipped": [{"step": str(s), "reason": r} for s, r in outcome.skipped],
        }, indent=2))
    if not outcome.ok or result.unreachable:
        raise failure_summary(result)
    if not args.json:
        s = plan.summary()
        verb = "Destroy" if destroy else "Apply"
        print(f"{verb} complete in {result.seconds:.1f}s: {s['add']} added, {s['change']} changed, "
              f"{s['replace']} replaced, {s['destroy']} destroyed.")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    sf = _load(args)
    reporter = PlainReporter(sys.stderr) if args.json else _reporter(args)
    from iacorch.status import render_status, status_data

    try:
        with _engine(sf, reporter, args) as engine:
            observed = engine.observe()
            data = status_data(sf, observed)
            data["load_balancers"] = engine.balancers.status(observed)
            if hasattr(engine.provider, "lb_status"):  # load balancers the cloud runs (aws-alb)
                data["load_balancers"].update(engine.provider.lb_status(observed))
    finally:
        reporter.close()
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        sys.stdout.write(render_status(data))
    return EXIT_OK


def cmd_unlock(args: argparse.Namespace) -> int:
    sf = _load(args)
    from providers import open_provider

    held = open_provider(sf).lock_backend().delete(None)
    if held is None:
        print(f"stack {sf.stack.stack!r} was not locked")
    else:
        print(f"removed the lock of stack {sf.stack.stack!r}, held by {held.describe()}")
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    sf = _load(args)
    with _engine(sf, PlainReporter(sys.stderr), args) as engine:
        dot = render_graph(engine.plan(engine.observe()))
    if args.format == "dot":
        sys.stdout.write(dot)
        return EXIT_OK
    if not shutil.which("dot"):
        raise IacorchError("SVG output needs Graphviz's `dot`, which is not installed",
                           hint="apt-get install graphviz, or use --format dot")
    svg = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=False)
    if svg.returncode != 0:
        raise IacorchError(f"Graphviz failed: {svg.stderr.strip()}")
    sys.stdout.write(svg.stdout)
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from iacorch.stack.model import Stack

    schema: dict[str, Any] = Stack.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "iacorch stack"
    print(json.dumps(schema, indent=2))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
