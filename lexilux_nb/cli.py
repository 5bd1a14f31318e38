"""``lexilux-nb``: command-line entry points (``serve-local``)."""

from __future__ import annotations

import argparse
import signal
import sys
import time


def serve_local(port: int | None) -> int:
    """Run the embedded model in the foreground until Ctrl-C."""
    from .local import LocalModelUnavailable, LocalServer

    server = LocalServer(port=port)
    try:
        url = server.start()
    except LocalModelUnavailable as exc:
        print(f"lexilux-nb: {exc}", file=sys.stderr)
        return 1
    print(f"serving SmolLM2-135M-Instruct at {url} (model name 'smollm2'); Ctrl-C stops it")
    print(f"  export LEXILUX_BASE_URL={url} LEXILUX_MODEL=smollm2", flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops it cleanly too
    try:
        while server.running:
            time.sleep(0.5)
        print(f"lexilux-nb: the server exited:\n{server.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lexilux-nb")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve-local", help="Serve the embedded model on 127.0.0.1.")
    serve.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    if args.command == "serve-local":
        return serve_local(args.port)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    raise SystemExit(main())
