"""``fetch``: fill a cache with several models at once, ahead of time, without TensorFlow.

``hubmagic fetch`` renders its results; warming a ``gs://`` cache for a pod
of TPU workers is its main use.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hubmagic.core.errors import Fix, HubmagicError
from hubmagic.core.progress import ProgressEvent
from hubmagic.core.redact import redact

MAX_DEFAULT_JOBS = 4
"""Downloads at a time when not told: the number of handles, at most this."""


@dataclass(frozen=True)
class FetchResult:
    """What ``hubmagic fetch`` did for one handle.

    Attributes:
        handle: as given, redacted (:func:`hubmagic.core.redact.redact`).
        path: the SavedModel folder in the cache (``None`` on failure).
        source: ``cache``, ``download`` or ``shared`` (``None`` on failure).
        bytes: bytes downloaded (0 when it was already cached).
        seconds: time spent on it.
        error: the failure message (redacted), ``None`` on success.
        fix: what to do about the failure, when hubmagic knows.
    """

    handle: str
    path: str | None
    source: str | None
    bytes: int
    seconds: float
    error: str | None = None
    fix: Fix | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, object]:
        return {
            "handle": self.handle,
            "path": self.path,
            "source": self.source,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "error": self.error,
            "fix": self.fix.to_dict() if self.fix is not None else None,
        }

    def line(self) -> str:
        return f"{self.handle}\t{self.path}\t{self.source}\t{self.bytes}"


class FetchCancelled(HubmagicError):
    """Raised from the progress callback to stop the downloads after Ctrl-C."""


def fetch(
    handles: Sequence[str],
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
            raise FetchCancelled("cancelled")
        if progress is not None:
            progress(event)

    def one(handle: str) -> FetchResult:
        start = time.monotonic()
        shown = redact(handle)
        try:
            if stop.is_set():
                raise FetchCancelled("cancelled")
            resolved = resolve_model(
                handle, cache_dir=cache_dir, load_format=COMPRESSED, progress=on_event
            )
        except HubmagicError as exc:  # every failure becomes a result; the others go on
            seconds = time.monotonic() - start
            return FetchResult(shown, None, None, 0, seconds, exc.message, exc.fix)
        except Exception as exc:
            message = redact(f"{type(exc).__name__}: {exc}")
            return FetchResult(shown, None, None, 0, time.monotonic() - start, message)
        return FetchResult(
            shown,
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
