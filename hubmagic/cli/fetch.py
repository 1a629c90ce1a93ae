"""``hubmagic fetch HANDLE...``: fill a cache ahead of time (see :mod:`hubmagic.core.fetch`)."""

from __future__ import annotations

import argparse
import sys

from hubmagic.cli.common import (
    PROG,
    Subparsers,
    add_cache_option,
    print_json,
    stderr_line,
    whole_number,
)
from hubmagic.core.fetch import MAX_DEFAULT_JOBS, fetch
from hubmagic.core.signals import stopping
from hubmagic.core.units import plural
from hubmagic.ui.textprogress import FetchProgress
from hubmagic.ui.wording import fix_line


def add(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
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
    add_cache_option(parser)
    parser.add_argument(
        "--jobs",
        "-j",
        metavar="N",
        type=whole_number(1),
        default=None,
        help=f"downloads at a time (default: the number of handles, at most {MAX_DEFAULT_JOBS})",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of results (handle, path, source, bytes, seconds, error, fix)",
    )
    parser.set_defaults(func=run, command="fetch")


def run(args: argparse.Namespace) -> int:
    handles: list[str] = args.handles
    tty = not args.json and sys.stdout.isatty()
    progress = FetchProgress(sys.stdout, len(handles)) if tty else None
    try:
        # SIGTERM / SIGHUP / Ctrl-C set this event (hubmagic.core.signals): the
        # downloads in the worker threads stop and clean up before main() returns.
        results = fetch(
            handles, cache_dir=args.cache, jobs=args.jobs, progress=progress, cancel=stopping()
        )
    finally:
        if progress is not None:
            progress.finish()
    if args.json:
        print_json([r.to_dict() for r in results])
    elif tty:
        ok = [r for r in results if r.ok]
        if ok:
            print(f"{len(ok)} of {plural(len(results), 'model')} in the cache:")
            for r in ok:
                note = progress.transfer_note(r.handle) if progress is not None else ""
                print(f"  {r.handle} -> {r.path}" + (f" ({note})" if note else ""))
    else:
        for r in results:
            if r.ok:
                print(r.line())
    sys.stdout.flush()
    failed = [r for r in results if not r.ok]
    for r in failed:
        stderr_line(f"{PROG} fetch: error: {r.handle}: {r.error}")
        for line in fix_line(r.fix, "cli"):
            stderr_line(f"  {line}")
    return 1 if failed else 0
