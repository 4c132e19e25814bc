"""``otel-autoguard`` / ``python -m otel_autoguard``: the command line (``doctor`` for now)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence

_DOCTOR = """\
Explain what otel-autoguard does in this environment: installation, activation, the role a
command would get, the resolved export configuration (secrets redacted) and conflicts.
Exit status: 0 telemetry would flow; 1 it would not (see the result line); 2 bad usage."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-autoguard")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    doctor = commands.add_parser(
        "doctor",
        help="explain what otel-autoguard does here, and what is wrong",
        description=_DOCTOR,
        usage="otel-autoguard doctor [--json] [--check] [--timeout S] "
        "[--spool-send | --spool-clear] [--argv COMMAND | -- COMMAND...]",
    )
    doctor.add_argument("--json", action="store_true", help="print one JSON document")
    doctor.add_argument(
        "--argv",
        metavar="COMMAND",
        help="the command line of a process to predict the role of, as one string "
        "(or give it after --)",
    )
    doctor.add_argument(
        "--check",
        action="store_true",
        help="send an empty OTLP export to each configured endpoint; report status and latency",
    )
    doctor.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds each --check export may take (default: 5)",
    )
    spool = doctor.add_mutually_exclusive_group()
    spool.add_argument(
        "--spool-send",
        action="store_true",
        help="send what the hand-over spool holds to its collectors now",
    )
    spool.add_argument(
        "--spool-clear", action="store_true", help="delete what the hand-over spool holds"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in args:
        split = args.index("--")
        args, command = args[:split], args[split + 1 :]
    parser = _parser()
    options = parser.parse_args(args)
    if options.argv is not None:
        if command:
            parser.error("give the command either after -- or with --argv, not both")
        command = shlex.split(options.argv)
    if not options.timeout > 0:
        parser.error("--timeout must be a number of seconds > 0")
    from ._doctor import run

    return run(
        os.environ,
        command=command,
        as_json=options.json,
        check=options.check,
        timeout=options.timeout,
        spool_action="send" if options.spool_send else "clear" if options.spool_clear else None,
    )


if __name__ == "__main__":
    sys.exit(main())
