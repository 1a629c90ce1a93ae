"""Parses the text a user gives into a :class:`Handle`: what it is and where to fetch it.

Only parsing happens here: no file or network access beyond asking whether a
local path exists (that is how tensorflow_hub tells folders from handles too).
"""

from __future__ import annotations

import enum
import functools
import os
import re
import urllib.parse
from dataclasses import dataclass, replace

from hubmagic.core import config, gcs
from hubmagic.core.errors import Fix, InvalidHandleError, ModelNotFoundError, NotASavedModelError
from hubmagic.core.names import cache_key

__all__ = [
    "ACCEPTED_FORMS",
    "ARCHIVE_SUFFIXES",
    "Handle",
    "HandleKind",
    "add_format_query",
    "apply_endpoint",
    "cache_key",
    "parse",
]

ACCEPTED_FORMS = (
    "https://tfhub.dev/<publisher>/<model>/<version>",
    "https://www.kaggle.com/models/<owner>/<model>/frameworks/<framework>/variations/"
    "<variation>/versions/<version>",
    "https://www.kaggle.com/api/v1/models/<owner>/<model>/<framework>/<variation>/"
    "<version>/download",
    "https://hub.tensorflow.google.cn/<publisher>/<model>/<version>",
    "any other http(s):// URL of a .tar or .tar.gz SavedModel archive",
    "gs://<bucket>/<path>.tar.gz (.tar, .tgz): an archive in Google Cloud Storage",
    "gs://<bucket>/<path>: a SavedModel folder in Google Cloud Storage",
    "a local folder holding saved_model.pb",
)

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
_TFHUB_HOSTS = ("tfhub.dev", "www.tfhub.dev")
_KAGGLE_HOSTS = ("www.kaggle.com", "kaggle.com")
_CN_HOST = "hub.tensorflow.google.cn"
_CN_ARCHIVE_BASE = "https://gcs.tensorflow.google.cn/tfhub-modules/"
_KAGGLE_PAGE = re.compile(
    r"^/models/(?P<owner>[^/]+)/(?P<model>[^/]+)/frameworks/(?P<framework>[^/]+)"
    r"/variations/(?P<variation>[^/]+)/versions/(?P<version>\d+)/?$"
)
_KAGGLE_API = re.compile(
    r"^/api/v1/models/(?P<owner>[^/]+)/(?P<model>[^/]+)/(?P<framework>[^/]+)"
    r"/(?P<variation>[^/]+)/(?P<version>\d+)/download/?$"
)


class HandleKind(str, enum.Enum):
    """What a handle points at; the value is what listings show."""

    TFHUB = "tfhub.dev"
    TFHUB_CN = "hub.tensorflow.google.cn"
    KAGGLE = "kaggle"
    KAGGLE_API = "kaggle-api"
    HTTP_ARCHIVE = "http-archive"
    GCS_ARCHIVE = "gcs-archive"
    GCS_FOLDER = "gcs-folder"
    LOCAL_FOLDER = "local-folder"


_HUB_KINDS = frozenset({HandleKind.TFHUB, HandleKind.TFHUB_CN, HandleKind.KAGGLE})
_MIRRORED_KINDS = _HUB_KINDS | {HandleKind.KAGGLE_API}


@dataclass(frozen=True)
class Handle:
    """A parsed model handle.

    Attributes:
        raw: the text exactly as given; tensorflow_hub keys its cache on it.
        kind: what it points at.
        cache_key: ``sha1(raw)``, the name of its folder in the cache.
        download_url: where the compressed archive is fetched (endpoint
            applied), for handles that are downloaded; else ``None``.
        uncompressed_url: where to ask for the uncompressed location (the
            303 protocol), for handles that support it; else ``None``.
        path: the folder to use in place, for folder handles; else ``None``.
    """

    raw: str
    kind: HandleKind
    cache_key: str
    download_url: str | None = None
    uncompressed_url: str | None = None
    path: str | None = None

    @property
    def is_folder(self) -> bool:
        return self.kind in (HandleKind.LOCAL_FOLDER, HandleKind.GCS_FOLDER)


def add_format_query(url: str, value: str) -> str:
    """Sets ``tf-hub-format=<value>`` in the URL's query, keeping the rest of it.

    A ``tf-hub-format`` already there is replaced (one query, one format), and
    trailing slashes of the path go: ``.../tiny/1/`` asks for ``.../tiny/1``,
    as the hub serves it. Only the URL asked changes; the cache key stays
    ``sha1`` of the handle as given, tensorflow_hub's rule.
    """
    parts = urllib.parse.urlsplit(url)
    query = [
        (name, v)
        for name, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if name != "tf-hub-format"
    ]
    query.append(("tf-hub-format", value))
    path = parts.path.rstrip("/") or parts.path
    return urllib.parse.urlunsplit(
        parts._replace(path=path, query=urllib.parse.urlencode(query), fragment="")
    )


def apply_endpoint(url: str, endpoint: str | None) -> str:
    """Sends ``url`` to the mirror ``endpoint``: new scheme and host, same path and query.

    ``endpoint`` is a base URL that :func:`hubmagic.core.config.check_endpoint` accepted.
    """
    if not endpoint:
        return url
    base = urllib.parse.urlsplit(endpoint)  # checked once, by config.check_endpoint
    parts = urllib.parse.urlsplit(url)
    path = base.path.rstrip("/") + parts.path
    return urllib.parse.urlunsplit((base.scheme, base.netloc, path, parts.query, ""))


def parse(raw: str, *, endpoint: str | None = None) -> Handle:
    """Parses and classifies a handle.

    Args:
        raw: what the user typed.
        endpoint: mirror for tfhub.dev / Kaggle downloads (``HUBMAGIC_ENDPOINT``).
            Without one, Kaggle handles are fetched from the Kaggle API endpoint
            (``KAGGLE_API_ENDPOINT``, default ``https://www.kaggle.com``: same
            path and query, that scheme and host), where their credentials go
            (:mod:`hubmagic.core.kaggle_auth`). A mirror wins over it, and gets
            no credentials.

    Raises:
        InvalidHandleError: not a form hubmagic accepts (the message lists them).
        InvalidSettingError: a Kaggle handle, no mirror, and a ``KAGGLE_API_ENDPOINT``
            that is not an http(s) base URL.
        ModelNotFoundError: a local path that does not exist.
        NotASavedModelError: a local file, not a folder.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidHandleError(str(raw), "it is empty.", fix=ACCEPTED)
    if raw != raw.strip():
        raise InvalidHandleError(
            raw, "it has leading or trailing spaces, which would give it its own cache entry"
        )
    try:
        raw.encode("utf-8")  # the cache key hashes these bytes
    except UnicodeEncodeError:
        raise InvalidHandleError(
            raw, "it holds characters that are not valid text (undecodable bytes)", fix=ACCEPTED
        ) from None
    if "\x00" in raw:
        raise InvalidHandleError(raw, "it holds a NUL character", fix=ACCEPTED)
    key = cache_key(raw)
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme in ("http", "https"):
        parsed = _parse_http(raw, key, endpoint)
        if endpoint or parsed.kind not in (HandleKind.KAGGLE, HandleKind.KAGGLE_API):
            return parsed
        return _to_kaggle_api(parsed)
    if scheme == "gs":
        return _parse_gs(raw, key)
    if scheme:
        raise InvalidHandleError(raw, f"the {scheme}:// scheme is not supported.", fix=ACCEPTED)
    return _parse_local(raw, key)


ACCEPTED = Fix(
    "Give a tfhub.dev or Kaggle model URL (https://tfhub.dev/<publisher>/<model>/<version>), "
    "an http(s) or gs:// URL of a .tar.gz SavedModel archive, a gs:// folder, or a local "
    "folder holding saved_model.pb."
)
"""The accepted forms in one sentence (the full list is :data:`ACCEPTED_FORMS`)."""


# URL handles parse the same every time (no file system is involved), and a
# cache hit is dominated by this parsing otherwise (benchmarks/bench_download.py).
@functools.lru_cache(maxsize=512)
def _parse_http(raw: str, key: str, endpoint: str | None) -> Handle:
    try:
        parts = urllib.parse.urlsplit(raw)
        host = (parts.hostname or "").lower()
    except ValueError as exc:  # an unbalanced "[", a bracketed host that is no IP, ...
        raise InvalidHandleError(raw, f"the URL cannot be parsed ({exc}).", fix=ACCEPTED) from None
    if not host:
        raise InvalidHandleError(raw, "the URL has no host.", fix=ACCEPTED)
    kind = HandleKind.HTTP_ARCHIVE
    if host in _TFHUB_HOSTS:
        kind = HandleKind.TFHUB
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) < 2 or not segments[-1].isdigit():
            raise InvalidHandleError(
                raw,
                "tfhub.dev handles name a publisher, a model and a version number, "
                "like https://tfhub.dev/google/spice/2",
            )
    elif host in _KAGGLE_HOSTS:
        if _KAGGLE_PAGE.match(parts.path):
            kind = HandleKind.KAGGLE
        elif _KAGGLE_API.match(parts.path):
            kind = HandleKind.KAGGLE_API
        else:
            raise InvalidHandleError(
                raw,
                "Kaggle model URLs must name the framework, variation and version: "
                f"{ACCEPTED_FORMS[1]} or {ACCEPTED_FORMS[2]}",
            )
    elif host == _CN_HOST:
        kind = HandleKind.TFHUB_CN

    if kind is HandleKind.TFHUB_CN:
        download = _CN_ARCHIVE_BASE + parts.path.strip("/") + ".tar.gz"
    else:
        download = add_format_query(raw, "compressed")
    uncompressed = None if kind is HandleKind.KAGGLE_API else add_format_query(raw, "uncompressed")
    if kind in _MIRRORED_KINDS:
        download = apply_endpoint(download, endpoint)
        uncompressed = uncompressed and apply_endpoint(uncompressed, endpoint)
    return Handle(raw, kind, key, download_url=download, uncompressed_url=uncompressed)


def _to_kaggle_api(h: Handle) -> Handle:
    """A Kaggle handle fetched from the Kaggle API endpoint in force (read at each call).

    ``https://kaggle.com/...`` handles go to ``https://www.kaggle.com`` too, the
    one origin credentials are sent to; the cache key stays ``sha1`` of the
    handle as given.
    """
    kaggle = config.kaggle_api_endpoint()
    download = h.download_url and apply_endpoint(h.download_url, kaggle)
    uncompressed = h.uncompressed_url and apply_endpoint(h.uncompressed_url, kaggle)
    if (download, uncompressed) == (h.download_url, h.uncompressed_url):
        return h
    return replace(h, download_url=download, uncompressed_url=uncompressed)


@functools.lru_cache(maxsize=512)
def _parse_gs(raw: str, key: str) -> Handle:
    rest = raw[len("gs://") :]
    bucket, _, path = rest.partition("/")
    if not gcs.valid_bucket(bucket):
        raise InvalidHandleError(
            raw,
            f"{bucket!r} is not a valid bucket name ({gcs.BUCKET_RULE}): "
            "write gs://<bucket>/<path>",
        )
    if any(part in (".", "..") for part in path.split("/")):
        raise InvalidHandleError(raw, "gs:// paths cannot contain '.' or '..' segments")
    if path.endswith(ARCHIVE_SUFFIXES):
        return Handle(raw, HandleKind.GCS_ARCHIVE, key, download_url=raw)
    return Handle(raw, HandleKind.GCS_FOLDER, key, path=raw.rstrip("/"))


def _parse_local(raw: str, key: str) -> Handle:
    path = os.path.expanduser(raw)
    if os.path.isdir(path):
        return Handle(raw, HandleKind.LOCAL_FOLDER, key, path=path)
    if os.path.exists(path):
        hint = ""
        if path.endswith(ARCHIVE_SUFFIXES):
            hint = (
                f" To use a local archive, extract it into a folder first "
                f"(mkdir model && tar -xf {raw} -C model) and load the folder."
            )
        raise NotASavedModelError(f"{raw} is a file, not a SavedModel folder.{hint}")
    if re.match(r"^[\w.-]+(/[\w.-]+)+/\d+$", raw):
        raise InvalidHandleError(
            raw, f"it is not a URL nor an existing folder. Did you mean https://tfhub.dev/{raw} ?"
        )
    if raw.startswith(("/", ".", "~")) or os.sep in raw:
        raise ModelNotFoundError(
            f"No such folder: {raw}.", fix=Fix("Check the path. " + ACCEPTED.text)
        )
    raise InvalidHandleError(raw, "it is neither a URL nor an existing folder.", fix=ACCEPTED)
