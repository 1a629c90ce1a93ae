"""A handle's archive into a folder: one stream or parallel ranges, verified, extracted.

The first request decides. When its answer (after the redirects) says
``Accept-Ranges: bytes`` with a ``Content-Length`` of at least
``HUBMAGIC_PARALLEL_THRESHOLD`` and ``HUBMAGIC_CONNECTIONS`` is above 1, the
archive comes as parallel ranges (:mod:`~hubmagic.core.ranged`), the first of
them from that very answer; otherwise that answer is read as one stream, as
tensorflow_hub does. Either way the bytes are checked against the checksum the
storage announced (:mod:`~hubmagic.core.checksum`) and extracted as they arrive.

A download is tried twice at most, the second time as one stream from the
start, after the folder is emptied, when the first

- could not use ranges (Range ignored, the file changed, a Content-Range that
  does not fit, fewer bytes than announced);
- did not match its checksum;
- resumed and then did not extract (the server sent different bytes on resume).

A second failure is the error. Connections come from the process's budget
(:mod:`~hubmagic.core.budget`), shared by every download running at once.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any, cast

from hubmagic.core import config
from hubmagic.core.budget import BUDGET
from hubmagic.core.checksum import ChecksumMismatchError, Expected, VerifiedSource, Verifier
from hubmagic.core.checksum import expected_from_headers as _expected
from hubmagic.core.errors import ArchiveError, HubmagicError, UnsafeArchiveError
from hubmagic.core.extract import extract_tar
from hubmagic.core.handle import Handle, HandleKind
from hubmagic.core.progress import Phase, ProgressReporter
from hubmagic.core.readahead import Forwarded, ReadAhead

_ids = itertools.count(1)
_CHUNK = 1024 * 1024


class _Again(Exception):
    """The attempt failed in a way one more, single-stream attempt may fix."""

    def __init__(self, message: str, final: HubmagicError) -> None:
        super().__init__(message)
        self.message = message
        self.final = final


def download_archive(
    h: Handle,
    dest: str,
    reporter: ProgressReporter,
    on_file: Callable[[str, int], None] | None = None,
) -> int:
    """Streams the handle's archive into the empty folder ``dest``; returns bytes received.

    ``on_file`` is called with (relative path, size) before each file is written.
    """
    assert h.download_url is not None
    earlier = 0  # bytes received by an attempt given up on
    single = False
    while True:
        try:
            _attempt(h, dest, reporter, on_file, single=single)
        except _Again as again:
            if single:
                raise again.final from None
            reporter.emit(Phase.RETRYING, message=again.message)
            _empty(dest)
            earlier += reporter.bytes_done
            reporter.bytes_done = 0
            single = True
            continue
        return earlier + reporter.bytes_done


def _attempt(
    h: Handle,
    dest: str,
    reporter: ProgressReporter,
    on_file: Callable[[str, int], None] | None,
    *,
    single: bool,
) -> None:
    assert h.download_url is not None
    from hubmagic.core import http

    download = next(_ids)
    BUDGET.join(download)
    try:
        BUDGET.take(download)
        source, resumed = _open(h, reporter, download, single=single)
        reporter.emit(Phase.STARTED, message=f"downloading {h.download_url}")
        try:
            with contextlib.closing(source), _quick_thread_switches():
                extract_tar(
                    cast(IO[bytes], source),
                    dest,
                    max_bytes=config.max_extract_bytes(),
                    on_file=on_file,
                )
                _drain(source)
        except Forwarded as exc:
            raise exc.original from None
        except ChecksumMismatchError as exc:
            raise _Again(
                "the archive did not match its checksum; downloading it again", exc
            ) from None
        except ArchiveError as exc:
            if isinstance(exc, UnsafeArchiveError) or not resumed():
                raise
            raise _Again(
                http.RESUMED_DIFFERENTLY, http.resumed_differently_error(h.download_url)
            ) from None
        except HubmagicError as exc:
            from hubmagic.core.ranged import RangesUnusable

            if not isinstance(exc, RangesUnusable):
                raise
            raise _Again(f"{exc.reason}; downloading again as one stream", exc) from None
    finally:
        BUDGET.leave(download)
        reporter.connections = 0


def _open(
    h: Handle, reporter: ProgressReporter, download: int, *, single: bool
) -> tuple[Any, Callable[[], int]]:
    """The archive as a read-once verified stream, and how to ask how often it resumed."""
    assert h.download_url is not None
    if h.kind is HandleKind.GCS_ARCHIVE:
        from hubmagic.core.gcs_ranges import open_gcs_archive

        raw, expected, ranged = open_gcs_archive(h.download_url, reporter, download, single=single)
    else:
        raw, expected, ranged = _open_http(h.download_url, reporter, download, single=single)
    counted = raw
    if expected is not None:
        raw = VerifiedSource(raw, Verifier(expected, h.download_url))
    # A single stream is read ahead in a thread; ranges already arrive in threads.
    return (raw if ranged else ReadAhead(raw)), lambda: int(getattr(counted, "resumed", 0))


def _open_http(
    url: str, reporter: ProgressReporter, download: int, *, single: bool
) -> tuple[Any, Expected | None, bool]:
    from hubmagic.core import http
    from hubmagic.core.range_kinds import worth_it

    stream = http.HttpArchiveStream(url, reporter=reporter).open()
    expected = _expected(stream.headers)
    if not (stream.ranges and worth_it(stream.total, single=single)):
        return stream, expected, False
    assert stream.total is not None
    from hubmagic.core.http_ranges import HttpRanges
    from hubmagic.core.ranged import parallel

    validator = stream.headers.get("ETag") or stream.headers.get("Last-Modified")
    backend = HttpRanges(url, stream.final_url, total=stream.total, validator=validator)
    raw = parallel(backend, total=stream.total, reporter=reporter, download=download, head=stream)
    return raw, expected, True


def _drain(source: Any) -> None:
    """Reads to the end (normally nothing is left): the checksum is checked there."""
    buffer = bytearray(_CHUNK)
    while source.readinto(buffer):
        pass


def _empty(dest: str) -> None:
    """Removes what an attempt extracted, keeping the lock holder's own files."""
    for name in os.listdir(dest):
        if name.startswith(".hubmagic-"):
            continue  # the lock holder's own files (its heartbeat), not the archive's
        path = os.path.join(dest, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0


@contextlib.contextmanager
def _quick_thread_switches() -> Iterator[None]:
    """Lets the reader, decompressor and writer threads hand the GIL over faster.

    The decompressor releases the GIL for each block and then waited up to the
    default 5 ms switch interval to get it back from the tar/writer thread; 0.5 ms
    made the 300 MB benchmark steadier and about 5 % faster. The interval is
    process-wide: the first download to start saves it and the last to end
    restores it (counted under a lock), so overlapping downloads in threads
    leave it as it was.
    """
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, 0.0005))
        _switch_users += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)
