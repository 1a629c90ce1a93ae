"""``hubmagic serve DIR``: a local stand-in for tfhub.dev / Kaggle (see :mod:`hubmagic.server`)."""

from __future__ import annotations

import argparse
import ipaddress
import math
import signal
import socket
import sys
from pathlib import Path
from types import FrameType
from urllib.parse import quote

from hubmagic.cli.common import CommandError, Subparsers, stderr_line, whole_number
from hubmagic.core.units import plural


class _Terminated(BaseException):
    """Raised by the SIGINT/SIGTERM handler to unwind a blocking serve loop.

    A BaseException, like KeyboardInterrupt: socketserver catches ``Exception``
    around starting a request's thread, and a signal landing there was swallowed
    (logged as an internal error) and the server kept running.
    """


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


def _seconds(text: str) -> float:
    """argparse type of --idle-timeout: a number of seconds above 0."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text}")
    return seconds


def add(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
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
        type=whole_number(0, 65535, what="a port number"),
        default=8765,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    parser.add_argument(
        "--max-connections",
        metavar="N",
        type=whole_number(1),
        default=64,
        help=(
            "connections answered at a time; past them a client gets 503 with "
            "Retry-After (default: %(default)s)"
        ),
    )
    parser.add_argument(
        "--idle-timeout",
        metavar="SECONDS",
        type=_seconds,
        default=60.0,
        help=(
            "close a connection whose request does not arrive, or whose client "
            "reads nothing, for this long (default: %(default)g)"
        ),
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
    parser.set_defaults(func=run, command="serve")


def run(args: argparse.Namespace) -> int:
    from hubmagic.server import HubServer

    root = Path(args.dir)
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise CommandError(f"{args.dir} {what}")
    if args.gcs_prefix is not None and not args.gcs_prefix.startswith("gs://"):
        raise CommandError(f"--gcs-prefix must start with gs://, not {args.gcs_prefix!r}")

    server = HubServer(
        root,
        host=args.host,
        port=args.port,
        gcs_prefix=args.gcs_prefix,
        log=stderr_line,
        max_connections=args.max_connections,
        idle_timeout=args.idle_timeout,
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
            stderr_line(
                f"warning: listening on {args.host or 'all interfaces'}: every model under "
                f"{server.root} can be downloaded by anyone who can reach this machine."
            )
        models = server.models()
        print(f"Serving {plural(len(models), 'model')} from {server.root} at {server.url}")
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
    stderr_line("Stopped.")
    return 0
