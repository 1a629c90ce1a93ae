"""``gs://`` archives for :mod:`~hubmagic.core.download`: parallel ranged reads or one stream.

The object's metadata is read once (size, crc32c, md5, generation). When
``HUBMAGIC_CONNECTIONS`` is above 1 and the object has at least
``HUBMAGIC_PARALLEL_THRESHOLD`` bytes, it comes as parallel ranges
(:class:`~hubmagic.core.ranged.RangedDownload`, the same reassembly as HTTP),
each fetched with google-cloud-storage's ``Blob.download_to_file(start=,
end=)``; otherwise as one stream (:func:`~hubmagic.core.gcs.open_archive`).
Either way the bytes are checked against the object's crc32c (its md5 when it
has no crc32c) from that metadata, before anything is published.

Each ranged read:

- asks for the stored bytes (``raw_download``), with ``if_generation_match``
  the generation read first, so a replaced object is noticed rather than
  mixed in: 412 (or 404: gone) is :class:`~hubmagic.core.ranged.RangesUnusable`
  and the download starts over as one stream;
- runs with google-cloud-storage's own retries **off** (``retry=None``): a
  library retry would write the range's bytes again from its start, while
  RangedDownload resumes a range from the bytes already received;
- is sorted into the ranged kinds: 429 / 503 are ``Throttled``, a lost
  connection, a timeout, 408 / 5xx are ``Transient``, anything else (403...)
  is the :func:`~hubmagic.core.gcs.translate` error that ends the download.

The storage client is shared by all connections: its ``requests`` session
pools connections per host and is used from several threads by
google-cloud-storage's own ``transfer_manager`` (thread workers share one
client). A ``Blob`` is made per request, because a download rewrites its
blob's properties from the answer's headers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

from hubmagic.core import config, gcs
from hubmagic.core.checksum import Expected, b64_digest, choose
from hubmagic.core.progress import ProgressReporter
from hubmagic.core.range_kinds import (
    THROTTLE_STATUSES,
    TRANSIENT_STATUSES,
    RangesUnusable,
    Throttled,
    Transient,
    worth_it,
)
from hubmagic.core.ranged import parallel
from hubmagic.core.units import plural

CHANGED_STATUSES = frozenset({404, 412})
"""A generation that no longer matches (412), or an object gone since its metadata (404)."""
_REPORT = 64 * 1024
"""Bytes copied before ``on_bytes`` is called (the library writes in 8 KiB pieces)."""


def open_gcs_archive(
    url: str, reporter: ProgressReporter, download: int, *, single: bool
) -> tuple[Any, Expected | None, bool]:
    """The archive at ``url`` as a read-once stream, its checksum, and whether it is ranged.

    ``download`` is the id in :data:`~hubmagic.core.budget.BUDGET` of this
    download, which already holds one connection (the first worker's).
    """
    blob = gcs.archive_blob(url)
    size = int(blob.size) if blob.size is not None else None
    expected = expected_from_blob(blob)
    if worth_it(size, single=single):
        assert size is not None
        reporter.total = size
        backend = GcsRanges(url, blob.bucket.client, generation=int(blob.generation or 0))
        raw = parallel(backend, total=size, reporter=reporter, download=download, head=None)
        return raw, expected, True
    return gcs.open_archive(url, reporter, blob), expected, False


def expected_from_blob(blob: Any) -> Expected | None:
    """The :class:`~hubmagic.core.checksum.Expected` of the object's metadata, or ``None``."""
    found: dict[str, bytes] = {}
    for name, value in (("crc32c", blob.crc32c), ("md5", blob.md5_hash)):
        digest = b64_digest(value) if value else None
        if digest is not None:
            found[name] = digest
    return choose(found)


class GcsRanges:
    """The ranges of one object generation, read through one shared storage client.

    Args:
        url: the ``gs://`` URL (shown in errors).
        client: a ``google.cloud.storage.Client``.
        generation: the object's generation when its metadata was read (0: unknown,
            not checked).
    """

    def __init__(self, url: str, client: Any, *, generation: int) -> None:
        self.url = url
        self.generation = 0  # RangedDownload's refresh counter; GCS needs no refresh
        self.object_generation = generation
        bucket_name, self._path = gcs.split(url)
        self._bucket = client.bucket(bucket_name)

    def connect(self) -> GcsRangeReader:
        return GcsRangeReader(self)

    def refresh(self, seen: int) -> None:
        """Nothing to renew: the client's credentials refresh themselves."""
        del seen

    def blob(self) -> Any:
        """A fresh ``Blob`` for one request (a download rewrites its blob's properties)."""
        return self._bucket.blob(self._path)


class _Stopped(Exception):
    """The download was closed while a range was arriving."""


class _Into:
    """The file google-cloud-storage writes a range to: straight into the range's buffer."""

    def __init__(
        self,
        into: memoryview,
        on_bytes: Callable[[int], None],
        stop: threading.Event,
        url: str,
    ) -> None:
        self._into = into
        self._on_bytes = on_bytes
        self._stop = stop
        self._url = url
        self.got = 0
        self._unreported = 0

    def write(self, data: bytes) -> int:
        if self._stop.is_set():
            raise _Stopped
        n = len(data)
        if self.got + n > len(self._into):
            raise RangesUnusable(
                f"the storage sent more than the {plural(len(self._into), 'byte')} asked for",
                url=self._url,
            )
        self._into[self.got : self.got + n] = data
        self.got += n
        self._unreported += n
        if self._unreported >= _REPORT or self.got == len(self._into):
            self.flush()
        return n

    def flush(self) -> None:
        """Reports the bytes copied and not yet reported (also after a failure: they are good)."""
        if self._unreported:
            n, self._unreported = self._unreported, 0
            self._on_bytes(n)


class GcsRangeReader:
    """One connection's ranged reads (requests share the client's connection pool)."""

    def __init__(self, ranges: GcsRanges) -> None:
        self._ranges = ranges

    def close(self) -> None:
        """Nothing to close: the connection goes back to the client's pool."""

    def read_range(
        self,
        start: int,
        into: memoryview,
        on_bytes: Callable[[int], None],
        stop: threading.Event,
    ) -> None:
        url = self._ranges.url
        writer = _Into(into, on_bytes, stop, url)
        generation = self._ranges.object_generation or None
        try:
            self._ranges.blob().download_to_file(
                writer,
                start=start,
                end=start + len(into) - 1,
                raw_download=True,
                checksum=None,  # checked over the whole archive, in order
                if_generation_match=generation,
                retry=None,  # RangedDownload resumes from the bytes received
                timeout=config.timeouts(),
            )
        except _Stopped:
            return
        except RangesUnusable:
            raise
        except Exception as exc:
            failure = classify(exc, url, start + writer.got)
            if failure is None:
                raise
            raise failure from None
        finally:
            writer.flush()
        if writer.got < len(into) and not stop.is_set():
            raise Transient(
                f"the storage closed the connection after {plural(writer.got, 'byte')} "
                f"of a range of {len(into)}"
            )


def classify(exc: BaseException, url: str, at: int) -> BaseException | None:
    """What a failed ranged read at byte ``at`` means (``None``: not a storage error)."""
    from google.api_core import exceptions as api_exceptions

    from hubmagic.core.http import is_timeout, short_error, transient_errors

    if isinstance(exc, api_exceptions.GoogleAPICallError):
        code = exc.code
        reason = f"HTTP {code} {_phrase(code)}".rstrip() if code else short_error(exc)
        if code in CHANGED_STATUSES:
            return RangesUnusable("the object changed while it downloaded", url=url)
        if code == 416:
            return RangesUnusable(f"the object is shorter than announced ({reason})", url=url)
        if code in THROTTLE_STATUSES:
            return Throttled(reason, _retry_after(getattr(exc.response, "headers", None)))
        if code in TRANSIENT_STATUSES:
            return Transient(reason)
        return gcs.translate(exc, url, "read")
    import http.client

    import urllib3.exceptions

    lost = (*transient_errors(), urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)
    if isinstance(exc, lost):
        if is_timeout(exc):
            return Transient("waiting for the storage (read timed out)")
        return Transient(f"connection lost at byte {at}: {short_error(exc)}")
    if isinstance(exc, api_exceptions.GoogleAPIError):
        return gcs.translate(exc, url, "read")
    return None


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    from hubmagic.core.http_ranges import retry_after

    return retry_after(headers.get("Retry-After")) if headers is not None else None
