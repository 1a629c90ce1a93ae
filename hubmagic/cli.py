"""The ``hubmagic`` command line.

Each subcommand is a pair of functions: ``_add_<name>(subparsers)`` declares its
arguments and sets the defaults ``func=_run_<name>`` (``(args) -> int``) and
``command="<name>"``; ``_run_<name>`` raises :class:`CommandError` to fail. Add new ones to
``_SUBCOMMANDS``. Exit codes: 0 success, 1 failure (one-line message on
stderr, no traceback), 2 bad usage (argparse).
"""

from __future__ import annotations

import argparse
import collections
import ipaddress
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO
from urllib.parse import quote

from hubmagic.errors import HubmagicError
from hubmagic.progress import Phase, ProgressEvent
from hubmagic.units import format_bytes, format_duration

__all__ = ["CommandError", "build_parser", "main"]

PROG = "hubmagic"


class _Terminated(BaseException):
    """Raised by the SIGINT/SIGTERM handler to unwind a blocking serve loop.

    A BaseException, like KeyboardInterrupt: socketserver catches ``Exception``
    around starting a request's thread, and a signal landing there was swallowed
    (logged as an internal error) and the server kept running.
    """


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


# -- fetch ----------------------------------------------------------------------------

MAX_DEFAULT_JOBS = 4


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _add_fetch(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "fetch",
        help="download models into a cache ahead of time (no TensorFlow needed)",
        description=(
            "Download each HANDLE into the cache (compressed format, verified, with "
            "tensorflow_hub's layout and locks), several at a time, so that later loads, "
            "on this machine or on workers sharing the cache, are cache hits. TensorFlow is "
            "not needed. Prints one line per handle: HANDLE<TAB>PATH<TAB>SOURCE<TAB>BYTES "
            "(source: cache, download or shared; bytes downloaded). Exit code 1 when any "
            "handle failed (each failure on stderr; the others are still fetched)."
        ),
    )
    parser.add_argument("handles", metavar="HANDLE", nargs="+", help="model handles to fetch")
    parser.add_argument(
        "--cache",
        metavar="DIR",
        default=None,
        help=(
            "cache folder or gs://bucket/prefix (default: TFHUB_CACHE_DIR, else "
            "tensorflow_hub's <tmp>/tfhub_modules)"
        ),
    )
    parser.add_argument(
        "--jobs",
        "-j",
        metavar="N",
        type=_positive_int,
        default=None,
        help=f"downloads at a time (default: the number of handles, at most {MAX_DEFAULT_JOBS})",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of results (handle, path, source, bytes, seconds, error)",
    )
    parser.set_defaults(func=_run_fetch, command="fetch")


@dataclass(frozen=True)
class FetchResult:
    """What ``hubmagic fetch`` did for one handle.

    Attributes:
        handle: as given.
        path: the SavedModel folder in the cache (``None`` on failure).
        source: ``cache``, ``download`` or ``shared`` (``None`` on failure).
        bytes: bytes downloaded (0 when it was already cached).
        seconds: time spent on it.
        error: the failure message, ``None`` on success.
    """

    handle: str
    path: str | None
    source: str | None
    bytes: int
    seconds: float
    error: str | None = None

    def line(self) -> str:
        return f"{self.handle}\t{self.path}\t{self.source}\t{self.bytes}"


class _Cancelled(Exception):
    """Raised from the progress callback to stop a download after Ctrl-C."""


class FetchProgress:
    """Terminal progress for several downloads at once, from several threads.

    Each handle gets whole lines when its phase changes (connecting,
    downloading, extracting, waiting for a lock, retrying, done, failed);
    below them one status line, redrawn in place at most ``interval`` apart:
    ``n of m done, k running, X downloaded, Y/s``.

    Args:
        stream: a terminal.
        total: the number of handles.
        interval: seconds between two redraws of the status line.
        clock: the time source (tests).
    """

    def __init__(
        self,
        stream: TextIO,
        total: int,
        *,
        interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._total = total
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._phase: dict[str, Phase] = {}
        self._bytes: dict[str, int] = {}
        self._done = 0
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self._status = ""
        self._drawn = -1e9

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            now = self._clock()
            self._bytes[event.handle] = event.bytes_done
            previous = self._phase.get(event.handle)
            self._phase[event.handle] = event.phase
            line = None
            if event.phase is not previous:
                line = self._line(event)
            if event.phase in (Phase.DONE, Phase.FAILED):
                self._done += 1
            self._sample(now)
            if line is not None or now - self._drawn >= self._interval:
                self._draw(now, line)

    def finish(self) -> None:
        """Clears the status line."""
        with self._lock:
            self._clear()
            self._stream.flush()

    def _line(self, event: ProgressEvent) -> str | None:
        name = event.handle
        if event.phase is Phase.DONE:
            if event.from_cache:
                return f"{name}: already in the cache"
            return (
                f"{name}: done, {format_bytes(event.bytes_done)} in "
                f"{format_duration(event.elapsed)}"
            )
        if event.phase is Phase.FAILED:
            return f"{name}: failed (the error is printed at the end)"
        if event.phase is Phase.STARTED:
            size = f" ({format_bytes(event.total)})" if event.total else ""
            return f"{name}: downloading{size}"
        if event.phase is Phase.DOWNLOADING:
            return None  # counted in the status line
        return f"{name}: {event.message or event.phase.value}"

    def _sample(self, now: float) -> None:
        self._samples.append((now, sum(self._bytes.values())))
        while len(self._samples) > 2 and now - self._samples[0][0] > 3.0:
            self._samples.popleft()

    def _status_text(self) -> str:
        running = sum(1 for p in self._phase.values() if p not in (Phase.DONE, Phase.FAILED))
        total_bytes = sum(self._bytes.values())
        parts = [f"{self._done} of {self._total} done"]
        if running:
            parts.append(f"{running} running")
        parts.append(f"{format_bytes(total_bytes)} downloaded")
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        if t1 - t0 > 0.2:
            parts.append(f"{format_bytes(max(0, b1 - b0) / (t1 - t0))}/s")
        return ", ".join(parts)

    def _clear(self) -> None:
        if self._status:
            self._stream.write("\r" + " " * len(self._status) + "\r")
            self._status = ""

    def _draw(self, now: float, line: str | None) -> None:
        self._clear()
        if line is not None:
            self._stream.write(line + "\n")
        self._status = self._status_text()
        self._stream.write(self._status)
        self._stream.flush()
        self._drawn = now


def fetch(
    handles: list[str],
    *,
    cache_dir: str | None = None,
    jobs: int | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[FetchResult]:
    """Resolves every handle into the cache in a thread pool; returns results in order.

    Failures are recorded in their result (``error``), never raised, so one bad
    handle does not stop the others. Loads use the compressed format whatever
    ``TFHUB_MODEL_LOAD_FORMAT`` says: the point is to fill the cache.
    """
    from hubmagic.config import COMPRESSED
    from hubmagic.resolver import resolve_model

    stop = cancel or threading.Event()

    def on_event(event: ProgressEvent) -> None:
        if stop.is_set():
            raise _Cancelled("cancelled")
        if progress is not None:
            progress(event)

    def one(handle: str) -> FetchResult:
        start = time.monotonic()
        try:
            if stop.is_set():
                raise _Cancelled("cancelled")
            resolved = resolve_model(
                handle, cache_dir=cache_dir, load_format=COMPRESSED, progress=on_event
            )
        except Exception as exc:  # every failure becomes a result; the others go on
            message = str(exc) if isinstance(exc, HubmagicError) else f"{type(exc).__name__}: {exc}"
            return FetchResult(handle, None, None, 0, time.monotonic() - start, message)
        return FetchResult(
            handle,
            resolved.path,
            resolved.source,
            resolved.downloaded_bytes,
            time.monotonic() - start,
        )

    workers = jobs or min(MAX_DEFAULT_JOBS, len(handles))
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="hubmagic-fetch")
    try:
        futures = [pool.submit(one, handle) for handle in handles]
        return [future.result() for future in futures]
    except BaseException:
        # Ctrl-C: running downloads stop at their next progress event and clean up.
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)


def _run_fetch(args: argparse.Namespace) -> int:
    handles: list[str] = args.handles
    tty = not args.json and sys.stdout.isatty()
    progress = FetchProgress(sys.stdout, len(handles)) if tty else None
    try:
        results = fetch(handles, cache_dir=args.cache, jobs=args.jobs, progress=progress)
    finally:
        if progress is not None:
            progress.finish()
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    elif tty:
        ok = [r for r in results if r.error is None]
        if ok:
            print(f"{len(ok)} of {len(results)} models in the cache:")
            for r in ok:
                print(f"  {r.handle} -> {r.path}")
    else:
        for r in results:
            if r.error is None:
                print(r.line())
    sys.stdout.flush()
    failed = [r for r in results if r.error is not None]
    for r in failed:
        _stderr_line(f"{PROG} fetch: error: {r.handle}: {r.error}")
    return 1 if failed else 0


# -- main -----------------------------------------------------------------------------

_Subparsers = argparse._SubParsersAction  # the type add_subparsers() returns
_SUBCOMMANDS: tuple[Callable[[_Subparsers[argparse.ArgumentParser]], None], ...] = (
    _add_serve,
    _add_fetch,
)


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
