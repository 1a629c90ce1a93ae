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
from typing import TYPE_CHECKING, TextIO
from urllib.parse import quote

from hubmagic.core.errors import HubmagicError
from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.core.units import format_bytes, format_duration

if TYPE_CHECKING:
    from hubmagic.core.cache import CacheEntry, DeletePlan

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
    from hubmagic.core.config import COMPRESSED
    from hubmagic.core.resolver import resolve_model

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


# -- shared by info, setup and cache ----------------------------------------------------


def _add_json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON, for scripts")


def _add_cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache",
        metavar="DIR",
        default=None,
        help="cache folder or gs://bucket/prefix (default: TFHUB_CACHE_DIR, else tensorflow_hub's)",
    )


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2))


# -- info -----------------------------------------------------------------------------


def _add_info(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "info",
        help="runtime, evidence, settings and versions (what %%hub_info shows)",
        description=(
            "Print what was detected about this machine (platform, frontend, accelerator, "
            "packages) and why, the settings in force, versions and a cache summary: paste it "
            "into a bug report. TensorFlow is not imported."
        ),
    )
    _add_json(parser, "runtime, evidence, settings, versions and cache summary")
    parser.set_defaults(func=_run_info, command="info")


def _info_dict() -> dict[str, object]:
    import os
    import platform

    from hubmagic.core import config, session
    from hubmagic.core.cache import scan_cache
    from hubmagic.plan.decide import models_from
    from hubmagic.plan.runtime import PACKAGE_NAMES, detect_runtime
    from hubmagic.ui.info import _version

    runtime = detect_runtime()
    scan = scan_cache()
    cache_dir = config.cache_dir()
    load_format = config.load_format()
    return {
        "runtime": {
            "platform": runtime.platform,
            "frontend": runtime.frontend,
            "accelerator": runtime.accelerator,
            "tpu_address": runtime.tpu_address,
            "python": runtime.python,
            "packages": {
                name: (info.version if (info := runtime.package(name)) else None)
                for name in PACKAGE_NAMES
            },
            "variables": dict(runtime.settings.items()),
        },
        "evidence": [
            {"topic": e.topic, "conclusion": e.conclusion, "facts": list(e.facts)}
            for e in runtime.evidence
        ],
        "settings": {
            "cache_dir": cache_dir,
            "cache_dir_is_default": not os.environ.get(config.TFHUB_CACHE_DIR),
            "load_format": load_format,
            "models_from": models_from(cache_dir, load_format),
            "io_device": session.state.io_device,
            "endpoint": config.endpoint(),
            "offline": config.offline(),
        },
        "versions": {
            name: _version(name) for name in ("hubmagic", "ipython", "ipywidgets", "requests")
        },
        "python": sys.version.split()[0],
        "os": platform.platform(),
        "cache": {
            "cache_dir": scan.cache_dir,
            "entries": len(scan.entries),
            "size": scan.size,
            "warnings": list(scan.warnings),
        },
    }


def _run_info(args: argparse.Namespace) -> int:
    if args.json:
        _print_json(_info_dict())
    else:
        from hubmagic.ui.info import info_text

        print(info_text())
    return 0


# -- setup ----------------------------------------------------------------------------


def _add_setup(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from hubmagic.plan.decide import MODES

    parser = subparsers.add_parser(
        "setup",
        help="plan where models are cached and how they load (what %%hub_setup decides)",
        description=(
            "Detect the runtime and plan the cache folder, load format, io device and "
            "endpoint, saying why, like %hub_setup. A command cannot change the environment "
            "of the shell that runs it, so nothing is applied: the plan is printed with the "
            'export lines that apply it; eval "$(hubmagic setup --print-env)" applies it '
            "to the current shell. Exit code 1 when the plan has problems."
        ),
    )
    parser.add_argument(
        "mode",
        nargs="?",
        default="auto",
        choices=MODES,
        help="auto (default: detect), or force a profile: local, cpu, gpu or tpu",
    )
    _add_cache_option(parser)
    parser.add_argument(
        "--uncompressed",
        action="store_true",
        help="read models straight from GCS (TFHUB_MODEL_LOAD_FORMAT=UNCOMPRESSED), "
        "after asking the hub for one model in that format",
    )
    parser.add_argument(
        "--probe",
        metavar="HANDLE",
        default=None,
        help="with --uncompressed: the model to ask the hub about",
    )
    parser.add_argument(
        "--io-device",
        metavar="DEV",
        default=None,
        help="TensorFlow LoadOptions io device, e.g. /job:localhost",
    )
    parser.add_argument(
        "--endpoint", metavar="URL", default=None, help="mirror for tfhub.dev / Kaggle"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="only the plan, without the export lines"
    )
    parser.add_argument(
        "--print-env",
        action="store_true",
        help="print only the shell export lines (for eval); the plan goes to stderr",
    )
    _add_json(parser, "the plan")
    parser.set_defaults(func=_run_setup, command="setup", parser=parser)


def _export_lines(env: tuple[tuple[str, str], ...]) -> list[str]:
    import shlex

    return [f"export {name}={shlex.quote(value)}" for name, value in env]


def _setup_command(args: argparse.Namespace) -> str:
    import shlex

    words = [PROG, "setup"] + ([args.mode] if args.mode != "auto" else [])
    for flag, value in (
        ("--cache", args.cache),
        ("--probe", args.probe),
        ("--io-device", args.io_device),
        ("--endpoint", args.endpoint),
    ):
        if value is not None:
            words += [flag, value]
    if args.uncompressed:
        words.append("--uncompressed")
    return " ".join(shlex.quote(w) for w in words)


_IO_DEVICE_NOTE = (
    "the io device {device} has no environment variable: it applies to hubmagic.load "
    "after hubmagic.setup() or %hub_setup in Python, not to a shell"
)


def _run_setup(args: argparse.Namespace) -> int:
    from hubmagic.plan.decide import setup

    usage: argparse.ArgumentParser = args.parser
    if args.probe is not None and not args.uncompressed:
        usage.error("--probe goes with --uncompressed")
    if args.print_env and (args.dry_run or args.json):
        usage.error("--print-env goes with neither --dry-run nor --json")
    plan = setup(
        args.mode,
        cache=args.cache,
        uncompressed=args.uncompressed,
        io_device=args.io_device,
        endpoint=args.endpoint,
        dry_run=True,
        probe_handle=args.probe,
    )
    exports = _export_lines(plan.env)
    note = _IO_DEVICE_NOTE.format(device=plan.io_device) if plan.io_device else None
    if args.json:
        _print_json(
            {
                "mode": plan.mode,
                "cache_dir": plan.cache_dir,
                "load_format": plan.load_format,
                "io_device": plan.io_device,
                "endpoint": plan.endpoint,
                "models_from": plan.models_from,
                "env": dict(plan.env),
                "exports": exports,
                "reasons": list(plan.reasons),
                "warnings": list(plan.warnings),
                "problems": [asdict(p) for p in plan.problems],
                "runtime": plan.runtime.summary,
                "ok": plan.ok,
                "applied": False,
            }
        )
    elif args.print_env:
        sys.stderr.write(plan.describe() + "\n")
        if plan.ok:
            print("\n".join(exports))
            if note:
                print(f"# {note}")
    else:
        print(plan.describe())
        if args.dry_run:
            print("(dry run: nothing was changed)")
        elif plan.ok:
            print()
            print("A command cannot change the shell that runs it; to apply the plan, run")
            print(f'  eval "$({_setup_command(args)} --print-env)"')
            print("or paste:")
            print("\n".join(f"  {line}" for line in exports))
            if note:
                print(f"Note: {note}.")
    sys.stdout.flush()
    if not plan.ok:
        count = len(plan.problems)
        raise CommandError(
            f"the plan has {count} problem{'s' if count != 1 else ''} (see 'Problems:'); "
            "nothing to apply until they are fixed"
        )
    return 0


# -- cache ----------------------------------------------------------------------------


def _size_arg(text: str) -> int:
    from hubmagic.core.config import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_cache(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cache",
        help="list, verify and clean the model cache (what %%hub_cache does)",
        description=(
            "List, verify and clean the model cache. rm, repair, prune and clear print what "
            "they would delete and how much it frees, and delete only with --yes (each "
            "model under its lock: what another process is downloading is not touched)."
        ),
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", dest="action")
    actions.required = True

    def action(name: str, help_text: str, *, destructive: bool = False) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        _add_cache_option(sub)
        _add_json(sub, "the plan (and the result with --yes)" if destructive else "the report")
        if destructive:
            sub.add_argument(
                "--yes", action="store_true", help="really delete (without it: only the plan)"
            )
        sub.set_defaults(func=_run_cache, command=f"cache {name}")
        return sub

    action("ls", "list every entry: status, size, last used, handle")
    action("verify", "check every entry; exit code 1 when one needs attention")
    rm = action(
        "rm", "remove the entries of the given handles, cache keys or paths", destructive=True
    )
    rm.add_argument("handles", metavar="HANDLE", nargs="+", help="handles, cache keys or paths")
    action("repair", "remove partial folders, orphan tmp folders and stale locks", destructive=True)
    prune = action(
        "prune", "remove least recently used models until the cache fits", destructive=True
    )
    prune.add_argument(
        "--max-size",
        metavar="SIZE",
        type=_size_arg,
        required=True,
        help="the size to keep the cache under, e.g. 500M or 20G",
    )
    action("clear", "remove every entry (those being downloaded are skipped)", destructive=True)


def _entry_dict(entry: CacheEntry) -> dict[str, object]:
    return {
        "key": entry.key,
        "handle": entry.handle,
        "path": entry.path,
        "status": entry.status.value,
        "problem": entry.problem,
        "size": entry.size,
        "model_size": entry.model_size,
        "last_used": entry.last_used,
        "lock_holder": entry.lock_holder.label if entry.lock_holder else None,
        "leftovers": list(entry.leftovers),
    }


def _plan_dict(plan: DeletePlan) -> dict[str, object]:
    return {
        "action": plan.action,
        "cache_dir": plan.cache_dir,
        "items": [
            {
                "key": i.entry.key,
                "handle": i.entry.handle,
                "names": list(i.names),
                "size": i.size,
            }
            for i in plan.items
        ],
        "expected_freed_size": plan.expected_freed_size,
        "skipped": [{"label": label, "reason": why} for label, why in plan.skipped],
    }


def _run_cache(args: argparse.Namespace) -> int:
    from hubmagic.core import cache as cache_api

    if args.action in ("ls", "verify"):
        info = cache_api.scan_cache(args.cache)
        if args.action == "ls":
            if args.json:
                _print_json(
                    {
                        "cache_dir": info.cache_dir,
                        "entries": [_entry_dict(e) for e in info.entries],
                        "count": len(info.entries),
                        "size": info.size,
                        "warnings": list(info.warnings),
                    }
                )
            else:
                print(info.export_as_table())
            return 0
        bad = [
            e for e in info.entries if e.problem and e.status is not cache_api.Status.DOWNLOADING
        ]
        if args.json:
            _print_json(
                {
                    "cache_dir": info.cache_dir,
                    "ok": not bad,
                    "count": len(info.entries),
                    "problems": [_entry_dict(e) for e in bad],
                    "warnings": list(info.warnings),
                }
            )
        elif not bad:
            print(f"All {len(info.entries)} entries in {info.cache_dir} are complete.")
        else:
            print(f"{len(bad)} of {len(info.entries)} entries need attention:")
            for e in bad:
                print(f"  {e.status.value}: {e.label}: {e.problem}")
            print(f"Fix them with: {PROG} cache repair --yes")
        return 1 if bad else 0

    plans: dict[str, Callable[[], DeletePlan]] = {
        "rm": lambda: cache_api.plan_delete(args.handles, args.cache),
        "repair": lambda: cache_api.plan_repair(args.cache),
        "clear": lambda: cache_api.plan_clear(args.cache),
        "prune": lambda: cache_api.plan_prune(args.max_size, args.cache),
    }
    plan = plans[args.action]()
    result = plan.execute() if args.yes and plan.items else None
    if args.json:
        report = _plan_dict(plan)
        report["executed"] = result is not None
        report["result"] = None
        if result is not None:
            report["result"] = {
                "removed": list(result.removed),
                "freed_size": result.freed_size,
                "skipped": [{"label": label, "reason": why} for label, why in result.skipped],
            }
        _print_json(report)
    else:
        print(plan.describe())
        if result is not None:
            print(result.describe())
        elif plan.items:
            print("Nothing was deleted: run again with --yes to do it.")
    sys.stdout.flush()
    # Entries planned but not removed (a download took their lock meanwhile), and
    # rm --yes targets that are being downloaded, are failures: what was asked did not happen.
    not_done = list(result.skipped[len(plan.skipped) :]) if result is not None else []
    if args.action == "rm" and args.yes:
        busy = [
            (i.entry.label, "being downloaded; only its leftovers were planned")
            for i in plan.items
            if i.entry.status is cache_api.Status.DOWNLOADING
        ]
        not_done = [*plan.skipped, *busy, *not_done]
    if not_done:
        raise CommandError(
            "not removed: " + "; ".join(f"{label} ({why})" for label, why in not_done)
        )
    return 0


# -- main -----------------------------------------------------------------------------

_Subparsers = argparse._SubParsersAction  # the type add_subparsers() returns
_SUBCOMMANDS: tuple[Callable[[_Subparsers[argparse.ArgumentParser]], None], ...] = (
    _add_serve,
    _add_fetch,
    _add_info,
    _add_setup,
    _add_cache,
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
