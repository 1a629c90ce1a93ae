"""Every error hubmagic raises on purpose, in one place.

Each error subclasses :class:`HubmagicError` and, where one fits, the matching
builtin, so ``except FileNotFoundError`` in user code keeps working. Messages
say what went wrong *and what to do next*; the data behind them is kept as
attributes so that the magics and widgets can render them their own way.
"""

from __future__ import annotations


class HubmagicError(Exception):
    """Base class of every error hubmagic raises on purpose."""


class InvalidSettingError(HubmagicError, ValueError):
    """An environment variable or argument has a value hubmagic cannot use."""


class InvalidHandleError(HubmagicError, ValueError):
    """The text given is not a model handle hubmagic understands."""

    def __init__(self, handle: str, reason: str) -> None:
        self.handle = handle
        self.reason = reason
        super().__init__(f"{handle!r} is not a model handle hubmagic can load: {reason}")


class ModelNotFoundError(HubmagicError, FileNotFoundError):
    """The handle is well formed, but nothing is there."""


class NotASavedModelError(HubmagicError, ValueError):
    """A folder or archive exists but holds no SavedModel at its root."""


class OfflineError(HubmagicError, FileNotFoundError):
    """Offline mode is on and the model is not (validly) in the cache."""


class DownloadError(HubmagicError, OSError):
    """Fetching a model over the network failed."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        self.url = url
        super().__init__(message)


class HttpError(DownloadError):
    """The server answered with an HTTP status that is not a model."""

    def __init__(self, message: str, *, url: str, status: int) -> None:
        self.status = status
        super().__init__(message, url=url)


class AccessDeniedError(HttpError, PermissionError):
    """The server or bucket refused access (HTTP 401/403)."""


class UncompressedNotSupportedError(HubmagicError, ValueError):
    """The server does not answer tensorflow_hub's uncompressed protocol."""


class ArchiveError(HubmagicError, ValueError):
    """The download is not a usable model archive (not tar, truncated, ...)."""


class UnsafeArchiveError(ArchiveError):
    """The archive tries to write outside its folder, or to expand too far."""


class CacheError(HubmagicError, OSError):
    """The cache folder cannot be read or written (permissions, full disk)."""

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(message)


class GcsError(HubmagicError, OSError):
    """A gs:// location could not be used (credentials, bucket, permissions)."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(message)


class MissingDependencyError(HubmagicError, ImportError):
    """An optional dependency is needed for this and is not installed."""

    def __init__(self, package: str, install: str, purpose: str) -> None:
        self.package = package
        self.install = install
        super().__init__(
            f"{purpose} needs {package}, which is not installed. Install it with: {install}"
        )
