"""The ``hubmagic`` command line.

Each subcommand is a pair of functions: ``_add_<name>(subparsers)`` declares its
arguments and sets the defaults ``func=_run_<name>`` (``(args) -> int``) and
``command="<name>"``; ``_run_<name>`` raises :class:`CommandError` to fail. Add new ones to
``_SUBCOMMANDS``. Exit codes: 0 success, 1 failure (one-line message on
stderr, no traceback), 2 bad usage (argparse).
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from urllib.parse import quote

from hubmagic.errors import HubmagicError

__all__ = ["CommandError", "build_parser", "main"]

PROG = "hubmagic"


class _Terminated(Exception):
    """Raised by the SIGINT/SIGTERM handler to unwind a blocking serve loop."""


class CommandError(Exception):
    """A failure reported as ``hubmagic <command>: error: <message>`` and exit 1."""


def _stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    if not host:
        return False
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos
    )


# -- serve ----------------------------------------------------------------------------


def _add_serve(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a folder of SavedModels over HTTP like tfhub.dev / Kaggle",
        description=(
            "Serve every SavedModel under DIR (DIR/<owner>/<model>/<version>/saved_model.pb, "
            "or prebuilt DIR/<path>.tar.gz archives) with the TF Hub hosting protocol, "
            "so that hub.load('http://HOST:PORT/<path>') and hubmagic can load them."
        ),
    )
    parser.add_argument("dir", metavar="DIR", help="folder holding the models")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8765,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--gcs-prefix",
        metavar="GS_URL",
        default=None,
        help=(
            "gs:// folder mirroring DIR; when given, uncompressed requests "
            "(TFHUB_MODEL_LOAD_FORMAT=UNCOMPRESSED) are answered with GS_URL/<path>"
        ),
    )
    parser.set_defaults(func=_run_serve, command="serve")


def _run_serve(args: argparse.Namespace) -> int:
    from hubmagic.server import HubServer

    root = Path(args.dir)
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise CommandError(f"{args.dir} {what}")
    if not 0 <= args.port <= 65535:
        raise CommandError(f"--port must be between 0 and 65535, not {args.port}")
    if args.gcs_prefix is not None and not args.gcs_prefix.startswith("gs://"):
        raise CommandError(f"--gcs-prefix must start with gs://, not {args.gcs_prefix!r}")

    server = HubServer(
        root, host=args.host, port=args.port, gcs_prefix=args.gcs_prefix, log=_stderr_line
    )
    try:
        server.bind()
    except OSError as error:
        raise CommandError(
            f"cannot listen on {args.host}:{args.port}: {error.strerror or error}"
        ) from error
    # Both signals are handled explicitly: a shell starts background jobs with SIGINT
    # ignored, and `kill -INT` must still stop the server.
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.getsignal(signum) for signum in stop_signals}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise _Terminated

    try:
        for signum in stop_signals:
            signal.signal(signum, on_signal)
        if not _is_loopback(args.host):
            _stderr_line(
                f"warning: listening on {args.host or 'all interfaces'}: every model under "
                f"{server.root} can be downloaded by anyone who can reach this machine."
            )
        models = server.models()
        print(f"Serving {len(models)} models from {server.root} at {server.url}")
        for model in models:
            print(f"  {server.url}/{quote(model)}")
        if not models:
            print(
                "  (no SavedModel found: put them in DIR/<owner>/<model>/<version>/ "
                "with saved_model.pb at the root of each version folder)"
            )
        print("Press Ctrl-C to stop.")
        sys.stdout.flush()
        server.serve_forever()
    except (KeyboardInterrupt, _Terminated):
        pass
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: not installed from Python, cannot restore
                signal.signal(signum, handler)
        server.stop()
    _stderr_line("Stopped.")
    return 0


# -- main -----------------------------------------------------------------------------

_Subparsers = argparse._SubParsersAction  # the type add_subparsers() returns
_SUBCOMMANDS: tuple[Callable[[_Subparsers[argparse.ArgumentParser]], None], ...] = (_add_serve,)


def build_parser() -> argparse.ArgumentParser:
    """Returns the argument parser of ``hubmagic`` with every subcommand."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Load and serve TensorFlow Hub / Kaggle models."
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the ``hubmagic`` command line.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The exit code: 0 success, 1 failure, 2 bad usage.

    Raises:
        SystemExit: On bad usage or ``--help`` (from argparse).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_usage(sys.stderr)
        _stderr_line(f"{PROG}: error: a command is required (see {PROG} --help)")
        return 2
    name = f"{PROG} {args.command}"
    try:
        return func(args)
    except (CommandError, HubmagicError, OSError) as error:
        _stderr_line(f"{name}: error: {error}")
        return 1
    except KeyboardInterrupt:
        _stderr_line(f"{name}: interrupted")
        return 130
