"""Run the local GCE API in the foreground, to try stacks by hand:

    python -m moto_fixtures.gce --port 8085 [--project my-project] [--step-seconds 1]

then point the client (or iacorch's GCP provider) at the printed endpoint:
``ClientOptions(api_endpoint="http://127.0.0.1:8085")``, ``AnonymousCredentials()``,
``transport="rest"``. State lives in memory and is gone on Ctrl-C.
"""

from __future__ import annotations

import argparse
import threading

from .server import GceServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m moto_fixtures.gce", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--port", type=int, default=8085, help="port on 127.0.0.1 (default 8085; 0 picks a free one)"
    )
    parser.add_argument("--project", help="serve only this project (others answer 404)")
    parser.add_argument(
        "--step-seconds", type=float, default=1.0, help="time per operation/status step (default 1)"
    )
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)
    server = GceServer(port=args.port, project=args.project, log_requests=not args.quiet)
    server.step_seconds = args.step_seconds
    with server:
        print(f"Local GCE API on {server.url} (project: {args.project or 'any'})")
        print(
            f'  ClientOptions(api_endpoint="{server.url}"), AnonymousCredentials(), transport="rest"',
            flush=True,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopped")


if __name__ == "__main__":
    main()
