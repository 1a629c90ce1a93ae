"""Every environment variable and default hubmagic reads, in one place.

Values are read by functions at call time, never at import, so that a notebook
can change ``os.environ`` between two calls (as tensorflow_hub allows) and tests
can simply set the environment.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import urllib.parse
from collections.abc import Mapping, MutableMapping

from hubmagic.core.errors import Fix, InvalidSettingError, UnsupportedCacheError

# tensorflow_hub's own variables: same names, same meaning.
TFHUB_CACHE_DIR = "TFHUB_CACHE_DIR"
TFHUB_MODEL_LOAD_FORMAT = "TFHUB_MODEL_LOAD_FORMAT"
TFHUB_DOWNLOAD_PROGRESS = "TFHUB_DOWNLOAD_PROGRESS"

# Other libraries' variables that hubmagic reads too.
STORAGE_EMULATOR_HOST = "STORAGE_EMULATOR_HOST"  # google-cloud-storage's emulator switch
COLAB_RELEASE_TAG = "COLAB_RELEASE_TAG"  # set in every Colab runtime

# hubmagic's own.
HUBMAGIC_ENDPOINT = "HUBMAGIC_ENDPOINT"
HUBMAGIC_OFFLINE = "HUBMAGIC_OFFLINE"
HUBMAGIC_LOCK_TIMEOUT = "HUBMAGIC_LOCK_TIMEOUT"
HUBMAGIC_HEARTBEAT_INTERVAL = "HUBMAGIC_HEARTBEAT_INTERVAL"
HUBMAGIC_MAX_EXTRACT_BYTES = "HUBMAGIC_MAX_EXTRACT_BYTES"
HUBMAGIC_CONNECT_TIMEOUT = "HUBMAGIC_CONNECT_TIMEOUT"
HUBMAGIC_READ_TIMEOUT = "HUBMAGIC_READ_TIMEOUT"
HUBMAGIC_RETRIES = "HUBMAGIC_RETRIES"
HUBMAGIC_PROGRESS = "HUBMAGIC_PROGRESS"
HUBMAGIC_RETRY_BACKOFF = "HUBMAGIC_RETRY_BACKOFF"
HUBMAGIC_STALL_TIMEOUT = "HUBMAGIC_STALL_TIMEOUT"
HUBMAGIC_CONNECTIONS = "HUBMAGIC_CONNECTIONS"
HUBMAGIC_PARALLEL_THRESHOLD = "HUBMAGIC_PARALLEL_THRESHOLD"
HUBMAGIC_RANGE_SIZE = "HUBMAGIC_RANGE_SIZE"

# Progress renderers of the magics: HUBMAGIC_PROGRESS, or %config HubMagics.progress.
PROGRESS_MODES = ("auto", "widget", "text", "off")

COMPRESSED = "COMPRESSED"
UNCOMPRESSED = "UNCOMPRESSED"
AUTO = "AUTO"
LOAD_FORMATS = (COMPRESSED, UNCOMPRESSED, AUTO)

# tensorflow_hub takes a lock over after 10 minutes with no visible progress
# from its holder (compressed_module_resolver.LOCK_FILE_TIMEOUT_SEC). We keep
# that rule for holders on other hosts, where we cannot tell if they are alive.
DEFAULT_LOCK_TIMEOUT_S = 600.0
# A hubmagic holder rewrites its heartbeat this often; a hubmagic waiter on another
# host takes its lock over after 4.5 silent beats (45 s: core/lock.py).
DEFAULT_HEARTBEAT_INTERVAL_S = 10.0
DEFAULT_MAX_EXTRACT_BYTES = 64 * 1024**3
DEFAULT_CONNECT_TIMEOUT_S = 15.0
DEFAULT_READ_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 5
DEFAULT_RETRY_BACKOFF_S = 0.5
# Retries x read timeout is 6 minutes by default: a server that accepts and
# never answers is given up on after this long without a byte instead.
DEFAULT_STALL_TIMEOUT_S = 120.0
DEFAULT_CONNECTIONS = 8
"""Connections of one parallel ranged download (and of all downloads of a process at once):
8 is what aria2 users pick (-x8) and what took a 20 MB/s-per-connection link to its cap in
benchmarks/bench_download.py --capped."""
DEFAULT_PARALLEL_THRESHOLD = 32 * 1024**2
"""Archives smaller than this come in one stream: the extra requests would not pay."""
DEFAULT_RANGE_SIZE = 4 * 1024**2
"""Bytes per ranged request: big enough that a request's round trip is a small share of it
(0.2 s at 20 MB/s), small enough that the reorder window stays a few tens of MB."""


def environ() -> MutableMapping[str, str]:
    """The process environment: every read (and the one write, applying a setup) goes here."""
    return os.environ


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _absl_flag(name: str) -> str:
    """Returns tensorflow_hub's absl flag value, when absl flags were parsed.

    tensorflow_hub reads ``--tfhub_cache_dir`` only after the environment; we
    mirror that without importing absl (it comes with TensorFlow).
    """
    absl_flags = sys.modules.get("absl.flags")
    if absl_flags is None:
        return ""
    try:
        flags = absl_flags.FLAGS
        if name in flags and flags.is_parsed():
            value = flags[name].value
            return str(value) if value else ""
    except Exception:  # absl internals: never let a flag lookup break resolve
        return ""
    return ""


def default_cache_dir() -> str:
    """tensorflow_hub's default: ``<tempdir>/tfhub_modules``."""
    return os.path.join(tempfile.gettempdir(), "tfhub_modules")


def cache_dir_is_set(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the cache folder was chosen (env or flag) rather than tensorflow_hub's default."""
    return bool(_env(environ).get(TFHUB_CACHE_DIR, "") or _absl_flag("tfhub_cache_dir"))


def download_progress(environ: Mapping[str, str] | None = None) -> bool:
    """tensorflow_hub's ``TFHUB_DOWNLOAD_PROGRESS``: any non-empty value asks for progress lines.

    Honoured where tensorflow_hub would print them: plain ``hub.load`` and
    ``hubmagic.load`` calls that were given no progress callback (scripts).
    """
    return bool(_env(environ).get(TFHUB_DOWNLOAD_PROGRESS, ""))


def storage_emulator_host(environ: Mapping[str, str] | None = None) -> str:
    """google-cloud-storage's ``STORAGE_EMULATOR_HOST`` ("" when unset)."""
    return _env(environ).get(STORAGE_EMULATOR_HOST, "")


def in_colab(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the environment says Colab (for fixes that differ there)."""
    return COLAB_RELEASE_TAG in _env(environ)


def _cache_setting(environ: Mapping[str, str] | None) -> tuple[str, str]:
    """(value, where it comes from) of the cache chosen: env, then absl flag; "" if none."""
    value = _env(environ).get(TFHUB_CACHE_DIR, "")
    if value:
        return value, TFHUB_CACHE_DIR
    return _absl_flag("tfhub_cache_dir"), "--tfhub_cache_dir"


def cache_dir(environ: Mapping[str, str] | None = None) -> str:
    """The cache in force: env, then absl flag, then the temp default.

    A ``file://`` URL is given as the local path it names (:func:`cache_location`).
    A location hubmagic does not store to (``s3://...``) is returned as written,
    so that ``%hub_info`` can show it: :func:`hubmagic.core.stores.open_store`,
    which every read and write of a cache goes through, refuses it with why.
    """
    value, source = _cache_setting(environ)
    if not value:
        return default_cache_dir()
    try:
        return cache_location(value, source=source)
    except UnsupportedCacheError:
        return value


def check_cache_dir(environ: Mapping[str, str] | None = None) -> str:
    """The cache in force as hubmagic stores to it (:func:`cache_dir`), or why it cannot.

    Raises:
        UnsupportedCacheError: the cache in force is not one hubmagic stores to.
    """
    value, source = _cache_setting(environ)
    return cache_location(value, source=source) if value else default_cache_dir()


# A URL scheme as tensorflow's file systems parse one (tensorflow/tsl/platform/path.cc
# ParseURI): anything else, "C:\\x" included, is a path.
_SCHEME = re.compile(r"^([A-Za-z][0-9A-Za-z.]*)://")
_WINDOWS_DRIVE = re.compile(r"^/[A-Za-z]:[/\\]?")
_LOCAL_HOSTS = ("", "localhost")


def cache_location(value: str, *, source: str = "cache", windows: bool | None = None) -> str:
    """The folder or ``gs://`` URL hubmagic stores to, for a cache as tensorflow_hub accepts it.

    The one reading of every cache value (``TFHUB_CACHE_DIR``, the absl flag,
    ``cache_dir=``, ``--cache``): a path is kept as is; ``gs://...`` is kept;
    ``file:///abs/path`` (or ``file://localhost/abs/path``) is ``/abs/path``,
    and ``file:///C:/x`` is ``C:/x`` on Windows. The path of a ``file://`` URL
    is *not* percent-decoded: tensorflow's local file system (which
    tensorflow_hub writes through) takes it literally, and both must name the
    same folder, so ``file:///data/my%20models`` is the folder ``my%20models``.

    Args:
        value: the cache as written.
        source: what set it, for the message (``TFHUB_CACHE_DIR``, ``cache``, ...).
        windows: whether paths are Windows paths (default: this system's).

    Raises:
        UnsupportedCacheError: another scheme (``s3://``, ``hdfs://``: tensorflow_hub
            stores there through its own file systems, hubmagic does not), a
            ``file://`` URL naming another host or no path, or ``file:`` without
            ``//`` (tensorflow makes that a folder named ``file:`` in the current one).
    """
    match = _SCHEME.match(value)
    if match is None:
        if value.startswith("file:"):
            raise UnsupportedCacheError.not_a_file_url(value, source)
        return value
    scheme = match.group(1)
    if scheme == "gs":
        return value
    if scheme != "file":
        raise UnsupportedCacheError.scheme(value, source, scheme)
    host, slash, path = value[len("file://") :].partition("/")
    if host.lower() not in _LOCAL_HOSTS or not slash:
        raise UnsupportedCacheError.not_a_file_url(value, source)
    path = "/" + path
    if (os.name == "nt" if windows is None else windows) and _WINDOWS_DRIVE.match(path):
        path = path[1:]
    return path


def load_format(environ: Mapping[str, str] | None = None) -> str:
    """``COMPRESSED``, ``UNCOMPRESSED`` or ``AUTO`` (which means compressed)."""
    value = _env(environ).get(TFHUB_MODEL_LOAD_FORMAT, "") or _absl_flag("tfhub_model_load_format")
    return normalize_load_format(value or AUTO, source=TFHUB_MODEL_LOAD_FORMAT)


def normalize_load_format(value: str, *, source: str = "load_format") -> str:
    """Checks a load format exactly as tensorflow_hub accepts it."""
    if value not in LOAD_FORMATS:
        raise InvalidSettingError(
            f"{source}={value!r} is not a load format: use one of "
            f"{', '.join(LOAD_FORMATS)} (upper case, as tensorflow_hub expects)."
        )
    return value


def endpoint(environ: Mapping[str, str] | None = None) -> str | None:
    """The mirror that tfhub.dev and Kaggle downloads are sent to, if any.

    Raises:
        InvalidSettingError: ``HUBMAGIC_ENDPOINT`` is not an http(s) base URL.
    """
    value = _env(environ).get(HUBMAGIC_ENDPOINT, "").strip()
    return check_endpoint(value, source=HUBMAGIC_ENDPOINT) if value else None


def check_endpoint(value: str, *, source: str = "endpoint") -> str:
    """``value`` as a mirror base URL (no trailing slash), or an error naming ``source``.

    The one check of every endpoint, whether it comes from ``HUBMAGIC_ENDPOINT``
    or from ``%hub_setup --endpoint`` / ``setup(endpoint=...)``.
    """
    text = value.strip().rstrip("/")
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidSettingError(
            f"{source}={value!r} is not an http(s) base URL.",
            fix=Fix(
                f"Give the mirror's base URL, like http://127.0.0.1:8765 or "
                f"https://hub-mirror.example.com/prefix, or unset {source}."
            ),
        )
    return text


def offline(environ: Mapping[str, str] | None = None) -> bool:
    value = _env(environ).get(HUBMAGIC_OFFLINE, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def progress_mode(environ: Mapping[str, str] | None = None) -> str | None:
    """``HUBMAGIC_PROGRESS`` (``auto``, ``widget``, ``text`` or ``off``); ``None`` when unset.

    When set it wins over ``%config HubMagics.progress``.

    Raises:
        InvalidSettingError: another value.
    """
    value = _env(environ).get(HUBMAGIC_PROGRESS, "").strip().lower()
    if not value:
        return None
    if value not in PROGRESS_MODES:
        raise InvalidSettingError(
            f"{HUBMAGIC_PROGRESS}={value!r} is not a progress mode: use one of "
            f"{', '.join(PROGRESS_MODES)}."
        )
    return value


def _float_setting(name: str, default: float, environ: Mapping[str, str] | None) -> float:
    raw = _env(environ).get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise InvalidSettingError(f"{name}={raw!r} must be a positive number of seconds.")
    return value


def lock_timeout(environ: Mapping[str, str] | None = None) -> float:
    return _float_setting(HUBMAGIC_LOCK_TIMEOUT, DEFAULT_LOCK_TIMEOUT_S, environ)


def heartbeat_interval(environ: Mapping[str, str] | None = None) -> float:
    """Seconds between a holder's heartbeats: ``HUBMAGIC_HEARTBEAT_INTERVAL``, at most a
    quarter of ``HUBMAGIC_LOCK_TIMEOUT`` (so a tensorflow_hub waiter sees progress too)."""
    interval = _float_setting(HUBMAGIC_HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL_S, environ)
    return min(interval, lock_timeout(environ) / 4)


def connect_timeout(environ: Mapping[str, str] | None = None) -> float:
    return _float_setting(HUBMAGIC_CONNECT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT_S, environ)


def read_timeout(environ: Mapping[str, str] | None = None) -> float:
    return _float_setting(HUBMAGIC_READ_TIMEOUT, DEFAULT_READ_TIMEOUT_S, environ)


def timeouts(environ: Mapping[str, str] | None = None) -> tuple[float, float]:
    """(connect, read) seconds, as ``requests`` and google-cloud-storage take them."""
    return (connect_timeout(environ), read_timeout(environ))


def stall_timeout(environ: Mapping[str, str] | None = None) -> float:
    """Seconds a download may go without receiving a byte, over all its attempts."""
    return _float_setting(HUBMAGIC_STALL_TIMEOUT, DEFAULT_STALL_TIMEOUT_S, environ)


def retry_backoff(environ: Mapping[str, str] | None = None) -> float:
    """First wait between two attempts; doubled after each failure, capped at 30 s."""
    return _float_setting(HUBMAGIC_RETRY_BACKOFF, DEFAULT_RETRY_BACKOFF_S, environ)


def retries(environ: Mapping[str, str] | None = None) -> int:
    """How many times one failure is retried before giving up."""
    raw = _env(environ).get(HUBMAGIC_RETRIES, "").strip()
    if not raw:
        return DEFAULT_RETRIES
    if not raw.isdigit():
        raise InvalidSettingError(f"{HUBMAGIC_RETRIES}={raw!r} must be a whole number >= 0.")
    return int(raw)


def _whole_setting(name: str, default: int, environ: Mapping[str, str] | None) -> int:
    raw = _env(environ).get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise InvalidSettingError(f"{name}={raw!r} must be a whole number >= 1.")
    return int(raw)


def _size_setting(name: str, default: int, environ: Mapping[str, str] | None) -> int:
    raw = _env(environ).get(name, "").strip()
    if not raw:
        return default
    try:
        return parse_size(raw)
    except InvalidSettingError as exc:
        raise InvalidSettingError(f"{name}: {exc.message}") from None


def connections(environ: Mapping[str, str] | None = None) -> int:
    """Connections a download may use at once, and all downloads of this process together
    (``HUBMAGIC_CONNECTIONS``; 1 = one stream, as tensorflow_hub)."""
    return _whole_setting(HUBMAGIC_CONNECTIONS, DEFAULT_CONNECTIONS, environ)


def parallel_threshold(environ: Mapping[str, str] | None = None) -> int:
    """The smallest archive downloaded in parallel ranges (``HUBMAGIC_PARALLEL_THRESHOLD``)."""
    return _size_setting(HUBMAGIC_PARALLEL_THRESHOLD, DEFAULT_PARALLEL_THRESHOLD, environ)


def range_size(environ: Mapping[str, str] | None = None) -> int:
    """Bytes asked for in one ranged request (``HUBMAGIC_RANGE_SIZE``)."""
    return _size_setting(HUBMAGIC_RANGE_SIZE, DEFAULT_RANGE_SIZE, environ)


def max_extract_bytes(environ: Mapping[str, str] | None = None) -> int:
    return _size_setting(HUBMAGIC_MAX_EXTRACT_BYTES, DEFAULT_MAX_EXTRACT_BYTES, environ)


_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int:
    """Parses ``"500M"``, ``"2G"``, ``"1.5GB"``, ``"1024"`` into bytes (binary units).

    Raises:
        InvalidSettingError: (a ``ValueError``) not a positive size.
    """
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = value[-1:] if value[-1:].isalpha() else ""
    number = value[: len(value) - len(unit)].strip()
    try:
        size = float(number) * _UNITS[unit]
    except (KeyError, ValueError):
        raise InvalidSettingError(
            f"{text!r} is not a size: write a number with an optional unit, like 500M or 2G."
        ) from None
    if size <= 0:
        raise InvalidSettingError(f"{text!r} must be a positive size, like 500M or 2G.")
    return int(size)


# Kaggle's variables, read as kagglehub reads them (the lookup is hubmagic/core/kaggle_auth.py).
KAGGLE_API_ENDPOINT = "KAGGLE_API_ENDPOINT"
KAGGLE_API_TOKEN = "KAGGLE_API_TOKEN"
KAGGLE_USERNAME = "KAGGLE_USERNAME"
KAGGLE_KEY = "KAGGLE_KEY"
KAGGLE_CONFIG_DIR = "KAGGLE_CONFIG_DIR"
KAGGLE_API_V1_TOKEN = "KAGGLE_API_V1_TOKEN"  # a Kaggle notebook's token file
KAGGLE_KERNEL_RUN_TYPE = "KAGGLE_KERNEL_RUN_TYPE"  # set in Kaggle notebooks
KAGGLE_DATA_PROXY_URL = "KAGGLE_DATA_PROXY_URL"  # ditto, when their token service is there
KAGGLE_VARIABLES = (
    KAGGLE_API_ENDPOINT,
    KAGGLE_API_TOKEN,
    KAGGLE_USERNAME,
    KAGGLE_KEY,
    KAGGLE_CONFIG_DIR,
    KAGGLE_API_V1_TOKEN,
    KAGGLE_KERNEL_RUN_TYPE,
    KAGGLE_DATA_PROXY_URL,
)
DEFAULT_KAGGLE_API_ENDPOINT = "https://www.kaggle.com"


def kaggle_variables(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Kaggle variables that are set (names of :data:`KAGGLE_VARIABLES`), as written.

    Empty values count as unset, as in kagglehub (``if env_var_username and env_var_key``).
    """
    env = _env(environ)
    return {name: env[name] for name in KAGGLE_VARIABLES if env.get(name)}


def kaggle_api_endpoint(environ: Mapping[str, str] | None = None) -> str:
    """The Kaggle API's base URL: ``KAGGLE_API_ENDPOINT``, else ``https://www.kaggle.com``.

    kagglehub (up to 0.3, src/kagglehub/config.py ``get_kaggle_api_endpoint``) takes
    the variable as the base its ``/api/v1/...`` paths are added to; the kaggle CLI
    also accepts it with ``/api/v1`` at the end: both are accepted here.

    Raises:
        InvalidSettingError: not an http(s) base URL.
    """
    value = _env(environ).get(KAGGLE_API_ENDPOINT, "").strip().rstrip("/")
    if not value:
        return DEFAULT_KAGGLE_API_ENDPOINT
    base = value.removesuffix("/api/v1")
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise InvalidSettingError(
            f"{KAGGLE_API_ENDPOINT}={value!r} is not an http(s) base URL.",
            fix=Fix(
                f"Set {KAGGLE_API_ENDPOINT} to the Kaggle API's base URL, like "
                f"{DEFAULT_KAGGLE_API_ENDPOINT} (its default), or unset it."
            ),
        )
    return base
