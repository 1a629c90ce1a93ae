"""The background work of filling a ``gs://`` cache: upload pipeline, parallel jobs.

Used by :class:`~hubmagic.core.gcs_store.GcsStore` (see its module doc for how
files are uploaded while later ones are extracted). The holder's heartbeat,
which both stores use, is :class:`hubmagic.core.lock.Heartbeat`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from hubmagic.core.errors import GcsError

WORKERS = 8
"""Parallel uploads, copies and deletions (the client's connection pool holds 10)."""


class Pipeline:
    """Uploads files of one download on a thread pool while later files are extracted."""

    def __init__(
        self, upload: Callable[[str], None], fail: Callable[[BaseException], GcsError]
    ) -> None:
        self._upload = upload
        self._fail = fail
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="hubmagic-upload")
        self._futures: dict[str, Future[None]] = {}
        self._previous: str | None = None

    def next_file(self, rel: str, size: int) -> None:
        # A failed upload stops the download now rather than after it; as a
        # GcsError, which the extraction passes on as it is.
        for future in self._futures.values():
            error = future.exception() if future.done() else None
            if error is not None:
                raise self._fail(error) from error
        if rel in self._futures:
            # The archive holds this name twice: the later copy must land last.
            with contextlib.suppress(Exception):
                self._futures[rel].result()
        if self._previous is not None:
            self._futures[self._previous] = self._pool.submit(self._upload, self._previous)
        self._previous = rel

    def uploading(self) -> dict[str, Future[None]]:
        """The uploads started so far (the last file is left to the caller)."""
        return dict(self._futures)

    def close(self) -> None:
        """Waits for running uploads and drops queued ones."""
        self._pool.shutdown(wait=True, cancel_futures=True)


def run_parallel(
    jobs: Iterable[Callable[[], object]], on_done: Callable[[], None] = lambda: None
) -> None:
    """Runs ``jobs`` on a thread pool; the first failure cancels the rest and is raised."""
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="hubmagic-gcs") as pool:
        pending: set[Future[object]] = {pool.submit(job) for job in jobs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                error = future.exception()
                if error is not None:
                    for other in pending:
                        other.cancel()
                    raise error
                on_done()
