"""The ``hubmagic`` command line: one module per command, each parsing, calling the core, rendering.

``hubmagic info|setup|cache|fetch|serve``; see :mod:`hubmagic.cli.common` for
what a command module holds and the exit codes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from hubmagic._version import __version__
from hubmagic.cli import cache, fetch, info, serve, setup
from hubmagic.cli.common import PROG, CommandError, Subparsers, stderr_line
from hubmagic.core.errors import HubmagicError
from hubmagic.core.signals import Stopped, signal_name, stop_on_signals
from hubmagic.ui.wording import error_lines, stopped_text

__all__ = ["CommandError", "build_parser", "main"]

_COMMANDS: tuple[Callable[[Subparsers[argparse.ArgumentParser]], None], ...] = (
    serve.add,
    fetch.add,
    info.add,
    setup.add,
    cache.add,
)


def build_parser() -> argparse.ArgumentParser:
    """Returns the argument parser of ``hubmagic`` with every subcommand."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Load and serve TensorFlow Hub / Kaggle models."
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in _COMMANDS:
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the ``hubmagic`` command line.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The exit code: 0 success, 1 failure, 2 bad usage, 130 after Ctrl-C,
        128 + the signal's number after SIGTERM (143) or SIGHUP (129).

    Raises:
        SystemExit: On bad usage or ``--help`` (from argparse).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_usage(sys.stderr)
        stderr_line(f"{PROG}: error: a command is required (see {PROG} --help)")
        return 2
    name = f"{PROG} {args.command}"
    try:
        # For the whole run: SIGTERM / SIGHUP unwind like Ctrl-C, so a download
        # removes its lock and tmp folder on the way out (hubmagic.core.signals).
        with stop_on_signals(command_line=True):
            return func(args)
    except (HubmagicError, OSError) as error:
        first, *rest = error_lines(error, "cli")
        stderr_line(f"{name}: error: {first}")
        for line in rest:
            stderr_line(f"  {line}")
        return 1
    except KeyboardInterrupt:
        stderr_line(f"{name}: interrupted")
        return 130
    except Stopped as stopped:
        stderr_line(f"{name}: {stopped_text(signal_name(stopped.signum))}")
        return stopped.exit_code
