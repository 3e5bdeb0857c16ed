"""Command line: iacorch validate | plan | apply | destroy | status | unlock | rollback | releases |
promote | reconcile | events | schema | graph."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
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

    sp = stack_cmd("rollback", "switch a service back to a kept release (no image pull)", cmd_rollback)
    sp.add_argument("service", metavar="SERVICE")
    sp.add_argument("--to", metavar="RELEASE", help="a kept release (default: the previous one)")
    sp.add_argument("--parallelism", type=int, default=10, metavar="N")
    sp.add_argument("--lock-timeout", default="0s", metavar="DURATION")
    sp.add_argument("--json", action="store_true")

    sp = stack_cmd("releases", "a service's releases: active and kept, with image and time", cmd_releases)
    sp.add_argument("service", metavar="SERVICE")
    sp.add_argument("--json", action="store_true")

    sp = stack_cmd("promote", "roll a service's canary release out to every replica", cmd_promote)
    sp.add_argument("service", metavar="SERVICE")
    _apply_options(sp)

    sp = stack_cmd("graph", "the plan's dependency graph as DOT (or SVG with Graphviz)", cmd_graph)
    sp.add_argument("--format", choices=["dot", "svg"], default="dot")

    from iacorch.cli_loop import add_commands

    add_commands(stack_cmd)

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


def _run(sf: StackFile, args: argparse.Namespace, *, destroy: bool, saved: Plan | None = None,
         promote: tuple[str, ...] = ()) -> int:
    from iacorch.engine import failure_summary

    reporter = _reporter(args)
    results = []
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
                plan = engine.plan(observed, destroy=destroy, promote=promote)
            reporter.close()  # the live display must not draw over the plan or the prompt
            _show(plan, args)
            if not plan.has_changes:
                if args.json:
                    print(json.dumps({"plan": plan.to_json(), "applied": True, "failed": []}, indent=2))
                return EXIT_OK
            if saved is None and not _confirm(plan, args, operation):
                print("Cancelled; nothing was changed.")
                return EXIT_ERROR
            reporter = engine.reporter = _reporter(args)
            results.append(engine.apply(plan, observed, parallelism=args.parallelism))
            if results[-1].ok and not destroy:
                follow = _auto_promote(engine, args)
                if follow is not None:
                    results.append(follow)
    finally:
        reporter.close()
    if args.json:
        print(json.dumps([_result_json(r) for r in results] if len(results) > 1 else _result_json(results[0]),
                         indent=2))
    for result in results:
        if not result.ok or result.rolled_back or result.paused:
            raise failure_summary(result)
    if not args.json:
        s = results[0].plan.summary()
        seconds = sum(r.seconds for r in results)
        verb = "Destroy" if destroy else "Apply"
        print(f"{verb} complete in {seconds:.1f}s: {s['add']} added, {s['change']} changed, "
              f"{s['replace']} replaced, {s['destroy']} destroyed.")
        for service, held in engine.hosts.model.canary_holds(sf.stack, engine.observe()).items():
            print(f"Canary: {service} runs its new release beside {len(held)} replica(s) on the old one. "
                  f"Promote it with: iacorch promote {args.stack} {service}")
    return EXIT_OK


def _show(plan: Plan, args: argparse.Namespace) -> None:
    if not args.json:
        sys.stdout.write(render_plan(plan, color=_color(args)))
        sys.stdout.flush()


def _auto_promote(engine, args: argparse.Namespace):
    """Canaries with ``update.auto_promote``: watched for ``update.monitor``, then the rest follows."""
    stack = engine.stack
    held = engine.hosts.model.canary_holds(stack, engine.observe())
    auto = [s for s in held if stack.services[s].update.auto_promote]
    if not auto:
        return None
    seconds = max(stack.services[s].update.monitor for s in auto)
    engine.reporter.phase(f"watching the canaries of {', '.join(auto)} for {seconds:g}s before promoting")
    trouble = engine.watch_canaries(auto, seconds)
    observed = engine.observe()
    if trouble is not None:
        from iacorch.engine import ApplyResult
        from iacorch.executor import Outcome

        ids = {a: r.id for a, r in observed.resources.items()}
        result = ApplyResult(engine.plan(observed), Outcome(), 0.0)
        for service in auto:
            reverted, errors = engine.rollback_switched(service, ids, args.parallelism)
            result.rolled_back[service] = reverted
            result.rollback_errors += errors
        result.rollback_errors.insert(0, trouble)
        return result
    plan = engine.plan(observed, promote=auto)
    engine.reporter.phase(f"promoting the canaries of {', '.join(auto)}")
    _show(plan, args)
    return engine.apply(plan, observed, parallelism=args.parallelism)


def _result_json(result) -> dict[str, Any]:
    outcome = result.outcome
    return {
        "plan": result.plan.to_json(), "applied": result.ok and not result.rolled_back,
        "seconds": round(result.seconds, 2),
        "failed": [{"step": str(s), "error": e} for s, e in outcome.failed],
        "skipped": [{"step": str(s), "reason": r} for s, r in outcome.skipped],
        "unreachable": result.unreachable, "rolled_back": result.rolled_back,
        "rollback_errors": result.rollback_errors, "paused": result.paused,
    }


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
            from iacorch.reconcile.loop import recommendations

            for name, rec in recommendations(engine, observed).items():
                data["services"][name]["resources"] = rec
    finally:
        reporter.close()
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        sys.stdout.write(render_status(data))
    return EXIT_OK


def cmd_promote(args: argparse.Namespace) -> int:
    sf = _load(args)
    if args.service not in sf.stack.services:
        raise IacorchError(f"stack {sf.stack.stack!r} has no service {args.service!r}")
    return _run(sf, args, destroy=False, promote=(args.service,))


def cmd_rollback(args: argparse.Namespace) -> int:
    sf = _load(args)
    reporter = _reporter(args)
    try:
        with _engine(sf, reporter, args) as engine, StackLock(
                engine.provider.lock_backend(), sf.stack.stack, f"rollback {args.service}",
                wait=parse_duration(args.lock_timeout)):
            started = time.monotonic()
            reverted, errors, release = engine.rollback(args.service, args.to, parallelism=args.parallelism)
            seconds = time.monotonic() - started
    finally:
        reporter.close()
    if args.json:
        print(json.dumps({"service": args.service, "release": release, "replicas": reverted, "errors": errors,
                          "seconds": round(seconds, 2)}, indent=2))
    if errors:
        raise IacorchError(f"rollback of {args.service} to {release}: {len(errors)} replica(s) failed:\n  "
                           + "\n  ".join(errors), hint="the others switched; the failed ones keep their release")
    if not args.json:
        if reverted:
            print(f"Rolled back {args.service} to release {release} on {len(reverted)} replica(s) in {seconds:.1f}s."
                  "\nThe stack file still describes the newer release: the next apply rolls it out again,"
                  " unless you change the file (or its --var) back.")
        else:
            print(f"{args.service} already runs release {release} everywhere.")
    return EXIT_OK


def cmd_releases(args: argparse.Namespace) -> int:
    from iacorch.hosts.releases import releases

    sf = _load(args)
    if args.service not in sf.stack.services:
        raise IacorchError(f"stack {sf.stack.stack!r} has no service {args.service!r}")
    reporter = PlainReporter(sys.stderr) if args.json else _reporter(args)
    try:
        with _engine(sf, reporter, args) as engine:
            found = releases(engine.observe(), args.service)
    finally:
        reporter.close()
    rows = [{"release": r.release, "image": r.image, "started": r.started, "active": r.active, "kept": r.kept,
             "status": r.status} for r in found]
    if args.json:
        print(json.dumps({"service": args.service, "releases": rows}, indent=2))
        return EXIT_OK
    from iacorch.status import table

    print(table(["RELEASE", "IMAGE", "STARTED", "ACTIVE", "KEPT", "STATUS"],
                 [[r["release"], r["image"], r["started"][:19].replace("T", " "), r["active"], r["kept"],
                   r["status"]] for r in rows]))
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
