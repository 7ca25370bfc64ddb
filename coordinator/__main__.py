"""``python -m coordinator serve|demo|publish``: run the API locally, the end-to-end demo, or
publish a ladder as an encoding worker (``coordinator.client``)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coordinator")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API with uvicorn (config from env)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    commands.add_parser("demo", help="end to end on a local SigV4-checking S3 server")
    publish = commands.add_parser(
        "publish", help="publish an HLS/DASH ladder for a job (token in $COORDINATOR_WORKER_TOKEN)"
    )
    from .client.cli import add_arguments  # stdlib only until it runs

    add_arguments(publish)
    args = parser.parse_args(argv)

    if args.command == "publish":
        from .client.cli import run

        return run(args)

    if args.command == "demo":
        from .demo import main as demo

        return demo()

    import uvicorn

    from .app import create_app
    from .config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration: {exc}", file=sys.stderr)
        return 2
    import logging

    from .httpio import SERVER_LIMITS

    # The app's own JSON access line (coordinator/access_log.py) replaces uvicorn's, which
    # would print the query string.
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    # For local work and the demo, on loopback; production is Lambda behind a function URL or
    # API Gateway, which own the client connection (README, "The coordinator").
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        server_header=False,
        access_log=False,
        **SERVER_LIMITS,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
