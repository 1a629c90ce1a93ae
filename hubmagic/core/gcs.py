"""hubmagic's own Google Cloud Storage I/O, through google-cloud-storage.

Not through TensorFlow: it is absent on Colab TPU images and its ``gs://``
file system cannot be pointed at an emulator. ``google.cloud.storage`` is
imported here only, on first use. ``STORAGE_EMULATOR_HOST`` is honoured by
the client library itself (with anonymous credentials).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hubmagic.core import config
from hubmagic.core.errors import GcsError, MissingDependencyError, ModelNotFoundError
from hubmagic.core.progress import ProgressReporter

_CHUNK = 8 * 1024 * 1024


# https://cloud.google.com/storage/docs/buckets#naming: 3-63 characters (up to
# 222 when dotted, each dot-separated part at most 63), lower-case letters,
# digits, '-', '_' and '.', starting and ending with a letter or digit.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
BUCKET_RULE = (
    "3-63 lower-case letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
)


def valid_bucket(name: str) -> bool:
    """Whether GCS accepts ``name`` as a bucket name (the one rule handles and caches share)."""
    if not _BUCKET.match(name) or ".." in name:
        return False
    return len(name) <= 63 or ("." in name and all(len(p) <= 63 for p in name.split(".")))


def split(url: str) -> tuple[str, str]:
    """``gs://bucket/a/b`` -> ``("bucket", "a/b")``."""
    if not url.startswith("gs://"):
        raise GcsError(f"{url!r} is not a gs:// URL.", url=url)
    bucket, _, path = url[len("gs://") :].partition("/")
    return bucket, path.strip("/")


def _auth_hint() -> str:
    if config.in_colab():
        return "In Colab run: from google.colab import auth; auth.authenticate_user()"
    return (
        "Run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS "
        "to a service account key file."
    )


def client() -> Any:
    """A storage client with default credentials (anonymous against an emulator)."""
    try:
        from google.cloud import storage
    except ImportError as exc:
        raise MissingDependencyError(
            "google-cloud-storage", "pip install google-cloud-storage", "Using gs:// locations"
        ) from exc
    if config.storage_emulator_host():
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project="hubmagic", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    try:
        return storage.Client()
    except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and kin
        raise GcsError(
            f"No Google Cloud credentials found to read gs:// locations ({exc}). " + _auth_hint(),
            url="gs://",
        ) from exc


def translate(exc: BaseException, url: str, doing: str) -> GcsError | ModelNotFoundError:
    """A google.api_core error as a hubmagic error that says what to do."""
    code = getattr(exc, "code", None)
    if code == 404:
        bucket, _ = split(url)
        return GcsError(
            f"Could not {doing} {url}: the bucket gs://{bucket} does not exist (HTTP 404). "
            "Check its name.",
            url=url,
        )
    if code in (401, 403):
        return GcsError(
            f"Could not {doing} {url}: permission denied (HTTP {code}). The account in use "
            "needs roles/storage.objectViewer on the bucket to read (objectAdmin to fill a "
            "cache); a remote TPU worker reads with its own service account, which needs read "
            "access too. " + _auth_hint(),
            url=url,
        )
    return GcsError(f"Could not {doing} {url}: {exc}", url=url)


RETRY_SECONDS = 5.0
"""Total time a call retries transient errors (connection refused, 429, 5xx).

google-cloud-storage's default is 120 s, which looks like a hang in a
notebook (tensorflow/hub#261, #50); a few seconds cover a blip.
"""


def call_options() -> dict[str, Any]:
    """``timeout=`` and ``retry=`` for every google-cloud-storage call hubmagic makes."""
    return {"timeout": config.timeouts(), "retry": retry()}


def retry() -> Any:
    """The retry policy of every call hubmagic makes: short, then a clear error."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(RETRY_SECONDS).with_delay(initial=0.2, maximum=1.0)


def _api_errors() -> tuple[type[BaseException], ...]:
    from google.api_core import exceptions as api_exceptions

    return (api_exceptions.GoogleAPIError, OSError)


def iter_objects(url: str) -> Iterator[tuple[str, int]]:
    """Yields (path relative to ``url``, size) of every object below it; one request a page."""
    bucket, prefix = split(url)
    prefix = f"{prefix}/" if prefix else ""
    try:
        for blob in client().list_blobs(bucket, prefix=prefix, **call_options()):
            rel = blob.name[len(prefix) :]
            if rel and not rel.endswith("/"):
                yield rel, int(blob.size or 0)
    except _api_errors() as exc:
        raise translate(exc, url, "list") from exc


def folder_files(url: str) -> dict[str, int]:
    """Files of the gs:// folder with sizes (empty when there are none)."""
    return dict(iter_objects(url))


class _CountingReader(io.RawIOBase):
    def __init__(self, inner: Any, reporter: ProgressReporter, url: str) -> None:
        super().__init__()
        self._inner = inner
        self._reporter = reporter
        self._url = url

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._inner.read(len(buffer))
        except _api_errors() as exc:
            raise translate(exc, self._url, "read") from exc
        n = len(data)
        buffer[:n] = data
        if n:
            self._reporter.advance(n)
        return n

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def archive_blob(url: str) -> Any:
    """The archive object's metadata (size, crc32c, md5_hash, generation), in one request.

    Raises:
        ModelNotFoundError: no object at ``url``.
        GcsError: the request failed (missing bucket, access denied...).
    """
    bucket_name, path = split(url)
    try:
        blob = client().bucket(bucket_name).get_blob(path, **call_options())
    except _api_errors() as exc:
        raise translate(exc, url, "read") from exc
    if blob is None:
        raise ModelNotFoundError(f"No archive at {url}. Check the path (gsutil ls {url}).")
    return blob


def open_archive(url: str, reporter: ProgressReporter, blob: Any = None) -> io.RawIOBase:
    """Opens a gs:// archive for one front-to-back read, reporting bytes as they come.

    ``blob`` is the object's metadata from :func:`archive_blob` (fetched when
    ``None``). The bytes are read as stored (``raw_download``): the object's
    crc32c / md5 are those of the stored bytes, and ``tarfile`` undoes a gzip
    ``Content-Encoding`` itself.
    """
    if blob is None:
        blob = archive_blob(url)
    reporter.total = int(blob.size) if blob.size is not None else None
    reader = blob.open("rb", chunk_size=_CHUNK, raw_download=True, **call_options())
    return _CountingReader(reader, reporter, url)


@dataclass(frozen=True)
class BucketCheck:
    """Whether a ``gs://`` cache can be used: listed, written, read and deleted.

    Attributes:
        url: the cache location checked.
        error: what failed, with what to do (``None`` when all worked).
        seconds: how long the check took.
    """

    url: str
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


# Each step of the probe and the IAM permission it needs.
_STEPS = (
    ("list", "storage.objects.list"),
    ("write", "storage.objects.create"),
    ("read", "storage.objects.get"),
    ("delete", "storage.objects.delete"),
)


def check_bucket(url: str) -> BucketCheck:
    """Lists the cache prefix, then writes, reads back and deletes a small probe object.

    Every call has the short timeouts and retry of :func:`retry`, so a missing
    bucket or a dead endpoint answers in seconds instead of hanging (tensorflow/hub
    #261, #50). The probe object is named ``<prefix>/.hubmagic-probe-<uid>`` and
    is deleted again.
    """
    import time
    import uuid

    started = time.monotonic()
    bucket_name, prefix = split(url)
    name = f"{prefix}/.hubmagic-probe-{uuid.uuid4().hex}".lstrip("/")
    payload = b"hubmagic bucket probe"
    step = "list"
    try:
        storage = client()
        list(
            storage.list_blobs(
                bucket_name,
                prefix=f"{prefix}/" if prefix else "",
                max_results=1,
                **call_options(),
            )
        )
        blob = storage.bucket(bucket_name).blob(name)
        step = "write"
        blob.upload_from_string(payload, if_generation_match=0, **call_options())
        step = "read"
        if blob.download_as_bytes(**call_options()) != payload:
            raise OSError("the probe object read back differs from what was written")
        step = "delete"
        blob.delete(**call_options())
    except GcsError as exc:  # no credentials
        return BucketCheck(url, str(exc), time.monotonic() - started)
    except _api_errors() as exc:
        permission = dict(_STEPS)[step]
        detail = str(translate(exc, url, f"{step} objects in"))
        if getattr(exc, "code", None) in (401, 403):
            detail += f" (the {step} step needs {permission})"
        elif getattr(exc, "code", None) is None:
            detail += " Check the network, or STORAGE_EMULATOR_HOST if you use an emulator."
        return BucketCheck(url, detail, time.monotonic() - started)
    return BucketCheck(url, None, time.monotonic() - started)
