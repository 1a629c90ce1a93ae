"""``resolve``: from a handle to a SavedModel folder, through tensorflow_hub's cache.

The protocol is tensorflow_hub's ``atomic_download`` (``docs/compatibility.md``,
"Lock protocol"), so both libraries can fill and read one cache at the same
time, with three differences users asked for:

- a cache hit is *verified* (``savedmodel.find_problem``), and a damaged
  folder is downloaded again with a warning instead of failing forever;
- a lock held by a dead process on this host is taken over at once;
- every step is reported to a progress callback.

A local cache folder and a ``gs://`` cache go through the same code: the
store (``store.open_store``) hides the difference; for ``gs://`` the download
is extracted into a local staging folder and ``publish`` uploads it (see
``gcs_store``).
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import dataclass

from hubmagic.core import config, gcs, signals
from hubmagic.core import handle as handles
from hubmagic.core.download import download_archive
from hubmagic.core.errors import (
    CacheError,
    Fix,
    HubmagicError,
    NotASavedModelError,
    OfflineError,
)
from hubmagic.core.handle import Handle, HandleKind
from hubmagic.core.local_store import LocalStore
from hubmagic.core.lock import CacheLock
from hubmagic.core.names import descriptor_text
from hubmagic.core.progress import Phase, ProgressCallback, ProgressReporter
from hubmagic.core.redact import redact
from hubmagic.core.savedmodel import find_problem
from hubmagic.core.store import Store
from hubmagic.core.stores import open_store


class CacheRepairWarning(UserWarning):
    """A damaged cache entry was found and is being replaced."""


@dataclass(frozen=True)
class Resolved:
    """The outcome of one resolve.

    Attributes:
        handle: as given.
        path: the SavedModel folder (local path or ``gs://`` URL).
        kind: what the handle was.
        source: "cache" (hit), "download" (fetched now), "shared" (another
            process downloaded it while we waited), "folder" (used in place) or
            "uncompressed" (read from GCS, not cached).
        downloaded_bytes: bytes received over the network by this call.
        seconds: wall time of the call.
        waited_seconds: time spent waiting for another process's lock.
        repaired: what was wrong with the cache entry before, if it was damaged.
    """

    handle: str
    path: str
    kind: HandleKind
    source: str
    downloaded_bytes: int = 0
    seconds: float = 0.0
    waited_seconds: float = 0.0
    repaired: str | None = None

    @property
    def from_cache(self) -> bool:
        return self.source in ("cache", "shared", "folder")


def resolve(
    handle: str,
    *,
    cache_dir: str | None = None,
    load_format: str | None = None,
    progress: ProgressCallback | None = None,
    offline: bool | None = None,
) -> str:
    """Returns a local or ``gs://`` path to the SavedModel folder of ``handle``.

    Args:
        handle: a tfhub.dev / Kaggle / http(s) / gs:// handle or a folder.
        cache_dir: the cache folder; default ``TFHUB_CACHE_DIR`` as
            tensorflow_hub reads it (``<tmp>/tfhub_modules`` when unset).
        load_format: ``COMPRESSED`` / ``UNCOMPRESSED`` / ``AUTO``; default
            ``TFHUB_MODEL_LOAD_FORMAT``.
        progress: called with :class:`~hubmagic.progress.ProgressEvent` records.
        offline: never use the network; default ``HUBMAGIC_OFFLINE``.

    Raises:
        HubmagicError: a subclass saying what went wrong and what to do next.
    """
    return resolve_model(
        handle, cache_dir=cache_dir, load_format=load_format, progress=progress, offline=offline
    ).path


def resolve_model(
    handle: str,
    *,
    cache_dir: str | None = None,
    load_format: str | None = None,
    progress: ProgressCallback | None = None,
    offline: bool | None = None,
) -> Resolved:
    """Like :func:`resolve`, returning a :class:`Resolved` record of what happened."""
    reporter = ProgressReporter(handle, progress)
    try:
        result = _resolve(handle, cache_dir, load_format, offline, reporter)
    except BaseException as exc:
        message = str(exc) if isinstance(exc, HubmagicError) else f"{type(exc).__name__}: {exc}"
        # The original error is the one to raise, whatever the callback does.
        with contextlib.suppress(Exception):
            reporter.emit(Phase.FAILED, message=message)
        raise
    reporter.emit(Phase.DONE, path=result.path, from_cache=result.from_cache)
    return result


def _resolve(
    raw: str,
    cache_dir: str | None,
    load_format: str | None,
    offline: bool | None,
    reporter: ProgressReporter,
) -> Resolved:
    fmt = (
        config.normalize_load_format(load_format)
        if load_format is not None
        else config.load_format()
    )
    is_offline = config.offline() if offline is None else offline
    h = handles.parse(raw, endpoint=config.endpoint())
    start = time.monotonic()

    if h.is_folder:
        assert h.path is not None
        _check_folder(h)
        return Resolved(raw, h.path, h.kind, "folder", seconds=time.monotonic() - start)

    if fmt == config.UNCOMPRESSED and h.uncompressed_url is not None:
        if is_offline:
            raise OfflineError(
                f"{raw} is read from GCS in uncompressed mode (TFHUB_MODEL_LOAD_FORMAT="
                "UNCOMPRESSED), which needs the network, and offline mode is on. Unset "
                "HUBMAGIC_OFFLINE, or use the compressed format with a filled cache."
            )
        from hubmagic.core.http import ask_uncompressed

        path = ask_uncompressed(h.uncompressed_url)
        return Resolved(raw, path, h.kind, "uncompressed", seconds=time.monotonic() - start)

    store = open_store(cache_dir if cache_dir is not None else config.cache_dir())
    reporter.cache_dir = store.root
    return _cached_download(h, store, reporter, is_offline, start)


def _check_folder(h: Handle) -> None:
    assert h.path is not None
    if h.kind is HandleKind.GCS_FOLDER:
        files = gcs.folder_files(h.path)
    else:
        files = LocalStore(h.path).folder_files("") or {}
    problem = find_problem(files)
    if problem:
        raise NotASavedModelError(
            f"{h.raw} {problem}, so it is not a SavedModel folder. Point at the folder that "
            "holds saved_model.pb."
        )


def _entry_problem(store: Store, key: str) -> str | None:
    files = store.model_files(key)
    if files is None:
        return "missing"
    return find_problem(files)


def _cached_download(
    h: Handle, store: Store, reporter: ProgressReporter, offline: bool, start: float
) -> Resolved:
    key = h.cache_key
    folder = store.path(key)

    def result(
        source: str, waited: float = 0.0, downloaded: int = 0, repaired: str | None = None
    ) -> Resolved:
        seconds = time.monotonic() - start
        return Resolved(h.raw, folder, h.kind, source, downloaded, seconds, waited, repaired)

    problem = _entry_problem(store, key)
    if problem is None:
        store.touch(key)
        return result("cache")
    if offline:
        state = "is not in" if problem == "missing" else f"is damaged in ({problem})"
        raise OfflineError(
            f"{h.raw} {state} the cache {store.root}, and offline mode is on "
            "(HUBMAGIC_OFFLINE or offline=True).",
            fix=Fix(
                "Download it once with the network on, or point TFHUB_CACHE_DIR at the "
                "cache that has it."
            ),
        )

    store.ensure_root()
    # SIGTERM / SIGHUP clean up as Ctrl-C does (see hubmagic.core.signals), from here
    # on: a cache hit has nothing to clean up, and installing the handlers costs
    # more than the hit itself.
    with signals.stop_on_signals(), CacheLock(store, key, reporter) as lock:
        # Another process may finish the download while we wait, or just before.
        if not lock.acquire(done=lambda: _entry_problem(store, key) is None):
            store.touch(key)
            return result("shared", lock.waited)
        problem = _entry_problem(store, key)
        if problem is None:
            store.touch(key)
            return result("shared", lock.waited)
        # Holding the lock, any other tmp folder of this model is an interrupted
        # download (tensorflow_hub writes one only while it holds the lock).
        for orphan in store.tmp_names(key):
            store.remove_tree(orphan)
        repaired = None
        if problem != "missing":
            repaired = problem
            warnings.warn(
                CacheRepairWarning(
                    f"The cached copy of {redact(h.raw)} in {folder} {problem} (a partial or "
                    "damaged download); downloading it again."
                ),
                stacklevel=4,
            )
            store.remove_tree(key)
        received = _fill(h, store, lock, reporter)
        store.write_text(store.descriptor_name(key), descriptor_text(h.raw))
        return result("download", lock.waited, received, repaired)


def _fill(h: Handle, store: Store, lock: CacheLock, reporter: ProgressReporter) -> int:
    """Downloads into the lock's tmp folder, checks it, publishes it; returns bytes received."""
    # A local folder for both stores: a gs:// store uploads it in publish().
    tmp_path = lock.make_folder()
    received = download_archive(h, tmp_path, reporter, store.file_hook(lock.tmp))
    problem = find_problem(LocalStore(tmp_path).folder_files("") or {})
    if problem:
        raise NotASavedModelError(
            f"The archive of {h.raw} (from {h.download_url}) {problem}, so it is not a "
            "SavedModel archive.",
            fix=Fix(
                "Check that the handle points at a model; archives must hold saved_model.pb "
                "at their root."
            ),
        )
    reporter.emit(Phase.EXTRACTING, message="moving the model into the cache")
    published = store.publish(
        lock.tmp, h.cache_key, lambda message: reporter.emit(Phase.EXTRACTING, message=message)
    )
    if not published and _entry_problem(store, h.cache_key) is not None:
        # Only a process that ignored our lock can have beaten us here.
        raise CacheError(
            f"Another process wrote a damaged {store.path(h.cache_key)} while we held its lock.",
            path=store.path(h.cache_key),
            fix=Fix("Remove the damaged entry ({repair}) and try again."),
        )
    return received
