"""What every ``hubmagic`` subcommand shares: its error type, output helpers, common options.

A subcommand module has ``add(subparsers)``, which declares its arguments and
sets the defaults ``func=run`` and ``command="<name>"``, and ``run(args) ->
int``, which parses nothing more, calls the core and renders what it returns
(with :mod:`hubmagic.ui.wording`). Exit codes: 0 success, 1 failure (a
one-line message on stderr and its fix line, no traceback), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from hubmagic.core.errors import HubmagicError
from hubmagic.core.records import jsonable

PROG = "hubmagic"

Subparsers = argparse._SubParsersAction  # the type add_subparsers() returns


class CommandError(HubmagicError):
    """A failure reported as ``hubmagic <command>: error: <message>`` and exit 1."""


def whole_number(
    minimum: int, maximum: int | None = None, *, what: str = "a whole number"
) -> Callable[[str], int]:
    """An argparse ``type=``: a whole number from ``minimum`` (to ``maximum``), else usage."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if maximum is not None and not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"must be between {minimum} and {maximum}, not {value}"
            )
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value

    return parse


def stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def print_json(value: object) -> None:
    """Prints a record (its ``to_dict()``) or plain data as indented JSON."""
    print(json.dumps(jsonable(value), indent=2))
    sys.stdout.flush()


def add_json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON, for scripts")


def add_cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache",
        metavar="DIR",
        default=None,
        help="cache folder or gs://bucket/prefix (default: TFHUB_CACHE_DIR, else tensorflow_hub's)",
    )
