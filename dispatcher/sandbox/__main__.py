"""``python -m dispatcher.sandbox``: run the sandbox provider from the command line.

Settings come from ``$SANDBOX_CONFIG_JSON`` (a JSON object of SandboxConfig fields, which is how
SandboxProcess passes secrets without putting them on the command line), then from the flags.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from dispatcher.sandbox.config import ConfigValueError, SandboxConfig, config_from_dict
from dispatcher.sandbox.server import serve

CONFIG_ENV = "SANDBOX_CONFIG_JSON"

# flag dest -> SandboxConfig field
FLAGS: dict[str, tuple[type, str]] = {
    "host": (str, "address to bind (default 127.0.0.1)"),
    "port": (int, "port to bind, 0 for any free port (default 8700)"),
    "latency_ms": (float, "added to every send answer, in ms"),
    "jitter_ms": (float, "random extra latency, 0..jitter ms"),
    "fail_rate": (float, "share of sends answered 503 (0..1)"),
    "rate": (float, "messages/s accepted per sender API key (default unlimited)"),
    "burst": (int, "token bucket size (default 5)"),
    "pair_interval_s": (float, "min seconds between two messages to one recipient (131056)"),
    "api_key": (str, "required bearer token (default: any)"),
    "seed": (int, "random seed for fail_rate, jitter and webhooks"),
    "callback_url": (str, "where to POST status webhooks"),
    "app_secret": (str, "key of the webhook signature"),
    "delivered_rate": (float, "share of messages reported delivered"),
    "read_rate": (float, "share of messages reported read"),
    "failed_rate": (float, "share of messages reported failed (131026)"),
    "reply_rate": (float, "share of messages answered with a button/list reply"),
}
ALIASES = {"pair_interval_s": "--pair-interval"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dispatcher.sandbox",
        description="A local imitation of the WhatsApp messaging provider, for tests and demos.",
    )
    for dest, (kind, text) in FLAGS.items():
        flag = ALIASES.get(dest, "--" + dest.replace("_", "-"))
        parser.add_argument(flag, dest=dest, type=kind, default=None, help=text)
    parser.add_argument("--faults", default=None,
                        help='fault rules as JSON: [{"to": null, "status": 503, ...}]')
    parser.add_argument("--honor-idempotency", action="store_true", default=None,
                        help="answer a repeated Idempotency-Key with the first message id")
    return parser


def config_from_args(args: argparse.Namespace, environ: dict[str, str]) -> SandboxConfig:
    values: dict[str, Any] = orjson.loads(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else {}
    for dest in (*FLAGS, "honor_idempotency"):
        value = getattr(args, dest)
        if value is not None:
            values[dest] = value
    if args.faults is not None:
        values["faults"] = orjson.loads(args.faults)
    return config_from_dict(values)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args, dict(os.environ))
    except (ConfigValueError, orjson.JSONDecodeError) as exc:
        print(f"sandbox: bad setting: {exc}", file=sys.stderr)
        return 2
    serve(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
