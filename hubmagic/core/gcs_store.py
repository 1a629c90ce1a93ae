"""A cache root in a ``gs://`` bucket, in tensorflow_hub's exact layout.

:class:`GcsStore` has the methods of :class:`~hubmagic.store.LocalStore` that
the resolver and the cache scan use (see :class:`~hubmagic.store.Store`), so a
``gs://`` cache goes through the same lock protocol, hit check and repair code.
All I/O is google-cloud-storage + google-auth (never TensorFlow); every call
gets a timeout and a short retry, so a missing bucket or a dead endpoint is an
error within seconds rather than the minutes of the libraries' defaults.

How GCS differs from a file system, and what this store does about it:

- **Exclusive create**: the lock object is written with ``if_generation_match=0``,
  which the server accepts for exactly one writer. Taking a stale lock over
  or removing our own is conditional on the generation read
  (``if_generation_match=gen``), so two workers cannot both take it.
- **No rename**: a download is extracted into a *local* staging folder; each
  file is uploaded to ``<key>.<uid>.tmp/`` (in parallel, while the next files
  are extracted), then everything is copied server-side to ``<key>/``
  (in parallel, ``saved_model.pb`` last) and the tmp objects deleted. hubmagic's
  hit check needs ``saved_model.pb`` plus every variables shard, so it only
  passes once the copy is whole. tensorflow_hub's own check ("the folder
  exists and is not empty") can see a partial entry during the copy window,
  which is short (server-side copies, run in parallel) but not zero: GCS has
  no atomic rename. A failure mid-way deletes what was copied (best effort);
  whatever survives is rejected by the next hit check and repaired under the lock.
- **Progress while the download is local**: a waiting worker on another host
  judges a holder by its lock content and the size of ``<key>.<uid>.tmp/``
  (tensorflow_hub's inactivity rule), but extraction happens on the holder's
  disk, and one big file is uploaded only once it is whole. So from
  ``make_folder`` until the copy is done, the holder's
  :class:`~hubmagic.core.lock.Heartbeat` rewrites a small object
  ``<key>.<uid>.tmp/.hubmagic-heartbeat`` (one byte longer each beat, every
  ``HUBMAGIC_HEARTBEAT_INTERVAL``): tensorflow_hub sees the tmp size change and
  keeps waiting, and a hubmagic waiter takes the lock of a holder whose
  heartbeat went silent over in 45 s, not 10 minutes (rules and guarantee:
  :mod:`hubmagic.core.lock`). It is never copied into the entry and goes with
  the tmp objects; the lock is checked once more before the first copy into
  ``<key>/`` and before each copy, so a holder that lost its lock copies nothing.
- **Last used**: :meth:`GcsStore.touch` does nothing (a write per cache hit
  costs a round trip and needs write access); "last used" is the newest
  ``updated`` time of the entry's objects, i.e. when it was written.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from typing import Any

from hubmagic.core import config, gcs, staging
from hubmagic.core.errors import CacheError, Fix, GcsError
from hubmagic.core.gcs_workers import Pipeline, run_parallel
from hubmagic.core.local_store import LocalStore
from hubmagic.core.names import TMP_SUFFIX, CacheNames
from hubmagic.core.savedmodel import GRAPH_FILES
from hubmagic.core.store import Item, TmpGuard
from hubmagic.core.units import plural

UPLOAD_CHUNK = 16 * 1024 * 1024
"""Chunk of resumable uploads; files above it are uploaded in resumable chunks."""

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _client() -> Any:
    """One client per endpoint and process: credentials are looked up once."""
    endpoint = config.storage_emulator_host()
    with _clients_lock:
        found = _clients.get(endpoint)
        if found is None:
            found = _clients[endpoint] = gcs.client()
        return found


def _exceptions() -> Any:
    from google.api_core import exceptions

    return exceptions


def check_bucket_name(url: str) -> str:
    """The bucket of ``url``, or raises :class:`GcsError` if GCS would refuse its name."""
    bucket, _ = gcs.split(url)
    if not gcs.valid_bucket(bucket):
        raise GcsError(
            f"{url}: {bucket!r} is not a valid bucket name ({gcs.BUCKET_RULE}).",
            url=url,
            fix=Fix("Check the TFHUB_CACHE_DIR / cache_dir spelling."),
        )
    return bucket


class GcsStore(CacheNames):
    """A cache root ``gs://bucket/prefix`` (the prefix may be empty).

    Args:
        root: the ``gs://`` URL of the cache.
        staging_dir: where downloads are extracted before the upload; default
            ``tempfile.gettempdir()``.
    """

    def __init__(self, root: str, staging_dir: str | None = None) -> None:
        self.bucket_name = check_bucket_name(root)
        _, prefix = gcs.split(root)
        self.prefix = prefix
        self.root = f"gs://{self.bucket_name}/{prefix}" if prefix else f"gs://{self.bucket_name}"
        self._staging_dir = staging_dir
        self._staged: dict[str, str] = {}  # tmp name -> its local staging folder
        self._guards: dict[str, TmpGuard] = {}  # tmp name -> its holder's heartbeat
        self._pipes: dict[str, Pipeline] = {}  # tmp name -> its uploads so far

    def __repr__(self) -> str:
        return f"GcsStore({self.root!r})"

    # -- helpers ------------------------------------------------------------
    @property
    def _bucket(self) -> Any:
        return _client().bucket(self.bucket_name)

    def _object(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _error(self, exc: BaseException, name: str, doing: str) -> GcsError:
        if isinstance(exc, GcsError):  # already says what to do (e.g. no credentials)
            return GcsError(str(exc), url=exc.url)
        url = self.path(name) if name else self.root
        if isinstance(exc, (_exceptions().RetryError, OSError)):
            return GcsError(
                f"Could not {doing} {url}: the storage endpoint did not answer ({exc}). "
                "Check the network (or STORAGE_EMULATOR_HOST) and try again.",
                url=url,
            )
        error = gcs.translate(exc, url, doing)
        return error if isinstance(error, GcsError) else GcsError(str(error), url=url)

    def _errors(self) -> tuple[type[BaseException], ...]:
        return (_exceptions().GoogleAPIError, OSError)

    def _list(self, name: str) -> Iterable[Any]:
        """Every object below folder ``name`` ("" for the root), page by page."""
        prefix = self._object(name) + "/" if name else (self.prefix + "/" if self.prefix else "")
        blobs: Iterable[Any] = _client().list_blobs(
            self.bucket_name, prefix=prefix, **gcs.call_options()
        )
        return blobs

    def _listing(self, name: str, doing: str = "list") -> dict[str, Any]:
        """``{path below name: blob}``; folder marker objects (``x/``) are left out."""
        start = len(self._object(name)) + 1 if name else len(self._object(""))
        try:
            return {
                blob.name[start:]: blob
                for blob in self._list(name)
                if blob.name[start:] and not blob.name.endswith("/")
            }
        except self._errors() as exc:
            raise self._error(exc, name, doing) from exc

    # -- names --------------------------------------------------------------
    def path(self, name: str) -> str:
        return f"{self.root}/{name}" if name else self.root

    # -- reading ------------------------------------------------------------
    def folder_files(self, name: str) -> dict[str, int] | None:
        """Files below ``name`` with sizes (one paged listing), ``None`` when there are none."""
        files = {rel: int(blob.size or 0) for rel, blob in self._listing(name).items()}
        return files or None

    def model_files(self, name: str) -> dict[str, int] | None:
        """What the hit check needs: one listing of ``name/`` (a page for most models)."""
        return self.folder_files(name)

    def tmp_names(self, key: str) -> list[str]:
        """Names of every ``<key>.<uid>.tmp`` prefix (ours and others')."""
        prefix = self._object(key) + "."
        try:
            blobs = _client().list_blobs(self.bucket_name, prefix=prefix, **gcs.call_options())
            names = {blob.name[len(self._object("")) :].split("/", 1)[0] for blob in blobs}
        except self._errors() as exc:
            raise self._error(exc, key, "list") from exc
        return sorted(n.lstrip("/") for n in names if n.endswith(TMP_SUFFIX))

    def read_text(self, name: str) -> str | None:
        """The content of object ``name``, or ``None`` when it does not exist."""
        try:
            data: bytes = self._bucket.blob(self._object(name)).download_as_bytes(
                **gcs.call_options()
            )
        except _exceptions().NotFound:
            return None
        except self._errors() as exc:
            raise self._error(exc, name, "read") from exc
        return data.decode("utf-8", errors="replace")

    def tree_size(self, name: str) -> int:
        """Bytes of object ``name`` and of everything below ``name/``."""
        files = self.folder_files(name)
        size = sum(files.values()) if files else 0
        try:
            blob = self._bucket.get_blob(self._object(name), **gcs.call_options())
        except self._errors() as exc:
            raise self._error(exc, name, "read") from exc
        return size + (int(blob.size or 0) if blob is not None else 0)

    def inventory(self) -> tuple[list[Item], list[str]]:
        """Everything under the root from ONE paged listing, grouped by first path segment.

        Sizes and ``updated`` times come from the listing itself: no request
        per object, so thousands of objects take about a second.
        """
        base = len(self._object("")) if self.prefix else 0
        files: dict[str, dict[str, int]] = {}
        newest: dict[str, float] = {}
        singles: dict[str, Item] = {}
        try:
            for blob in self._list(""):
                rel = blob.name[base:]
                if not rel:
                    continue  # a marker object for the root itself
                updated = blob.updated.timestamp() if blob.updated is not None else 0.0
                head, sep, rest = rel.partition("/")
                if sep:
                    folder = files.setdefault(head, {})
                    if rest and not rest.endswith("/"):
                        folder[rest] = int(blob.size or 0)
                    newest[head] = max(newest.get(head, 0.0), updated)
                else:
                    size = int(blob.size or 0)
                    singles[head] = Item(head, False, size, updated, updated)
        except self._errors() as exc:
            raise self._error(exc, "", "list the cache") from exc
        items = [
            Item(name, True, sum(fs.values()), newest[name], newest[name], fs)
            for name, fs in files.items()
        ]
        # A name that is both an object and a prefix: the folder matters more.
        items += [item for name, item in singles.items() if name not in files]
        return sorted(items, key=lambda i: i.name), []

    # -- writing ------------------------------------------------------------
    def ensure_root(self) -> None:
        """Does nothing: a prefix needs no creating.

        The hit check's listing, which runs first, already fails with a clear
        error on a missing bucket or no access; a ``buckets.get`` here would
        need a permission that ``roles/storage.objectAdmin`` (enough to fill a
        cache) does not grant.
        """

    def create_exclusive(self, name: str, content: str) -> bool:
        """Creates object ``name`` unless it exists (``if_generation_match=0``); True if we did."""
        blob = self._bucket.blob(self._object(name))
        try:
            blob.upload_from_string(content, if_generation_match=0, **gcs.call_options())
            return True
        except _exceptions().PreconditionFailed:
            # A retried create whose first attempt did land reads back as ours.
            return self.read_text(name) == content
        except self._errors() as exc:
            raise self._error(exc, name, "create") from exc

    def write_text(self, name: str, content: str) -> None:
        """Writes object ``name`` (an object write is atomic: readers see old or new)."""
        try:
            self._bucket.blob(self._object(name)).upload_from_string(content, **gcs.call_options())
        except self._errors() as exc:
            raise self._error(exc, name, "write") from exc

    def remove_file(self, name: str) -> bool:
        """Deletes object ``name``; False if it was already gone."""
        try:
            self._bucket.delete_blob(self._object(name), **gcs.call_options())
            return True
        except _exceptions().NotFound:
            return False
        except self._errors() as exc:
            raise self._error(exc, name, "remove") from exc

    def remove_tree(self, name: str) -> bool:
        """Deletes object ``name``, every object below ``name/`` and our local staging of it."""
        # The local folder first: whatever interrupts what follows (a second
        # SIGTERM, an unreachable endpoint), it does not stay on the disk.
        staged = self._staged.pop(name, None)
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)
        guard = self._guards.pop(name, None)
        if guard is not None:
            guard.stop()  # no beat may recreate an object below name/
        pipe = self._pipes.pop(name, None)
        if pipe is not None:
            pipe.close()  # no upload may land after the deletions below
        try:
            # Folder markers (``x/``, written by TensorFlow's makedirs) go too.
            names = [blob.name for blob in self._list(name)]
        except self._errors() as exc:
            raise self._error(exc, name, "remove") from exc
        removed = self._delete([*names, self._object(name)])
        return removed > 0

    def _delete(self, names: list[str]) -> int:
        """Deletes objects in parallel, ignoring those already gone; returns how many went."""
        bucket = self._bucket
        gone = [0]
        count_lock = threading.Lock()

        def delete(object_name: str) -> None:
            with contextlib.suppress(_exceptions().NotFound):
                bucket.delete_blob(object_name, **gcs.call_options())
                with count_lock:
                    gone[0] += 1

        try:
            run_parallel([functools.partial(delete, n) for n in names])
        except self._errors() as exc:
            raise self._error(exc, "", "remove objects from") from exc
        return gone[0]

    def take_file(self, name: str, expected: str) -> bool:
        """Deletes object ``name`` only if it still holds ``expected``; True if deleted.

        The delete is conditional on the generation whose content we read, so
        of several workers breaking one stale lock exactly one succeeds, and a
        fresh lock written in between is never deleted.
        """
        exceptions = _exceptions()
        try:
            blob = self._bucket.get_blob(self._object(name), **gcs.call_options())
            if blob is None:
                return False
            generation = blob.generation
            content = blob.download_as_bytes(
                if_generation_match=generation, **gcs.call_options()
            ).decode("utf-8", errors="replace")
            if content != expected:
                return False
            blob.delete(if_generation_match=generation, **gcs.call_options())
            return True
        except (exceptions.NotFound, exceptions.PreconditionFailed):
            return False
        except self._errors() as exc:
            raise self._error(exc, name, "remove") from exc

    def make_folder(self, name: str) -> str:
        """A fresh LOCAL staging folder for download ``name`` (uploaded by :meth:`publish`).

        Named after its owner (:mod:`hubmagic.core.staging`); those of this
        model left by dead processes on this machine are removed first. It is
        removed with ``remove_tree(name)``, which the lock's release calls on
        every way out.
        """
        staging.remove_dead(self._staging_dir, name.split(".", 1)[0])
        staged = staging.make(name, self._staging_dir)
        self._staged[name] = staged
        return staged

    def guard(self, tmp: str, guard: TmpGuard) -> None:
        """The heartbeat of download ``tmp`` (started by the lock once the folder is made).

        It keeps beating through the uploads and copies of :meth:`publish`
        (one big file, or a slow copy, shows no other progress), is checked
        before the copies, and is stopped before the tmp objects are deleted.
        """
        self._guards[tmp] = guard

    def _upload(self, tmp: str, rel: str) -> None:
        blob = self._bucket.blob(f"{self._object(tmp)}/{rel}", chunk_size=UPLOAD_CHUNK)
        blob.upload_from_filename(
            os.path.join(self._staged[tmp], *rel.split("/")),
            **gcs.call_options(),
        )

    def file_hook(self, tmp: str) -> Callable[[str, int], None]:
        """Uploads each extracted file while the next one is extracted.

        The extraction calls the hook before writing a file, so the file named
        in the previous call is then complete on disk: it is queued for upload.
        An upload that failed stops the extraction at the next file.
        """
        pipe = self._pipes[tmp] = Pipeline(
            functools.partial(self._upload, tmp),
            lambda exc: self._error(exc, tmp, "upload the model to"),
        )
        return pipe.next_file

    def publish(self, tmp: str, name: str, report: Callable[[str], None] | None = None) -> bool:
        """Uploads staging folder ``tmp`` to ``<tmp>/`` and copies it onto ``<name>/``.

        Uploads run in parallel (resumable above :data:`UPLOAD_CHUNK`); then
        every object is copied server-side, ``saved_model.pb`` last, so that
        hubmagic's hit check passes only on a whole entry; then the tmp objects
        and the local staging folder are deleted. On failure, what was copied
        to ``<name>/`` is deleted (best effort) and the error raised.

        Returns:
            False (and copies nothing) if ``<name>/`` holds objects once the
            upload is done.
        """
        staged = self._staged[tmp]
        local = LocalStore(staged).folder_files("") or {}
        guard = self._guards.get(tmp)
        total = sum(local.values())
        say = report or (lambda message: None)
        bucket = self._bucket
        pipe = self._pipes.pop(tmp, None)
        early = pipe.uploading() if pipe is not None else {}
        done = [0]

        def uploaded() -> None:
            done[0] += 1
            say(f"uploaded {done[0]} of {plural(len(local), 'file')} to {self.path(tmp)}")

        say(f"uploading {plural(len(local), 'file')} ({total} bytes) to {self.path(tmp)}")
        try:
            if pipe is not None:
                # Those started during the extraction first, then the rest.
                for rel in sorted(early):
                    early[rel].result()
                    uploaded()
                pipe.close()
            rest_files = [rel for rel in local if rel not in early]
            upload = functools.partial(self._upload, tmp)
            run_parallel([functools.partial(upload, rel) for rel in rest_files], uploaded)
        except self._errors() as exc:
            raise self._error(exc, tmp, "upload the model to") from exc
        if self.folder_files(name):
            return False  # only a writer that ignored our lock gets here
        if guard is not None:
            guard.check()  # fencing: a holder that lost its lock copies nothing

        say(f"copying {plural(len(local), 'file')} to {self.path(name)}")
        graphs = [rel for rel in local if rel in GRAPH_FILES]
        rest = [rel for rel in local if rel not in GRAPH_FILES]
        copied: list[str] = []
        copied_lock = threading.Lock()

        def copy(rel: str) -> None:
            if guard is not None and guard.lost:
                guard.check()  # raises: a beat found the lock taken over
            source = bucket.blob(f"{self._object(tmp)}/{rel}")
            target = bucket.blob(f"{self._object(name)}/{rel}")
            with copied_lock:
                copied.append(target.name)
            token, _, _ = target.rewrite(source, **gcs.call_options())
            while token is not None:  # a large object may take several calls
                token, _, _ = target.rewrite(source, token=token, **gcs.call_options())

        try:
            run_parallel([functools.partial(copy, rel) for rel in rest])
            run_parallel([functools.partial(copy, rel) for rel in graphs])
        except BaseException as exc:
            # An error, Ctrl-C or SIGTERM: no partial entry is left behind.
            with contextlib.suppress(GcsError):
                self._delete(copied)
            if isinstance(exc, self._errors()) and not isinstance(exc, CacheError):
                # (A CacheError is the lock check: it says what happened itself.)
                raise self._error(exc, name, "copy the model into") from exc
            raise
        self.remove_tree(tmp)
        return True

    def touch(self, name: str) -> None:
        """Writes nothing on GCS: see the module doc ("last used" is the write time).

        Removes this model's local staging folders left by dead processes on
        this machine (a worker killed mid-download finds the model a cache hit
        once it is back, when another worker finished it meanwhile).
        """
        staging.remove_dead(self._staging_dir, name)
