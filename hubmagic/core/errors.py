"""Every error hubmagic raises on purpose, and the fixes they carry, in one place.

Each error subclasses :class:`HubmagicError` and, where one fits, the matching
builtin, so ``except FileNotFoundError`` in user code keeps working. An error
says what went wrong in :attr:`HubmagicError.message`, and what to do next in
:attr:`HubmagicError.fix`: a :class:`Fix` whose text names commands by role
(``{prune}``, ``{setup_cache}``) so that each front end names its own (the CLI
``hubmagic cache prune``, the magics ``%hub_cache prune``, Python
``hubmagic.prune``). ``str(error)`` is the message with the Python fix, for
plain scripts and tracebacks; the magics and the CLI render message and fix
themselves (:mod:`hubmagic.ui.wording`). Message, fix and the URLs an error
keeps are redacted once, here (:func:`hubmagic.core.redact.redact`: no
password or URL signature in any of them).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal

from hubmagic.core.redact import redact, redact_optional

Front = Literal["api", "magic", "cli"]
"""Who shows a fix: Python code, the IPython magics, or the ``hubmagic`` command."""

FRONTS: tuple[Front, ...] = ("api", "magic", "cli")

# What each front end calls the same step. A fix's text names a step as
# ``{role}``; :meth:`Fix.render` fills it in for the front end showing it.
COMMANDS: dict[str, dict[Front, str]] = {
    "ls": {
        "api": "hubmagic.scan_cache()",
        "magic": "%hub_cache ls",
        "cli": "hubmagic cache ls",
    },
    "repair": {
        "api": "hubmagic.plan_repair().execute()",
        "magic": "%hub_cache repair --yes",
        "cli": "hubmagic cache repair --yes",
    },
    "prune": {
        "api": "hubmagic.prune(max_bytes)",
        "magic": "%hub_cache prune --max-size SIZE",
        "cli": "hubmagic cache prune --max-size SIZE --yes",
    },
    "setup_cache": {
        "api": "hubmagic.setup(cache=DIR)",
        "magic": "%hub_setup --cache DIR",
        "cli": "hubmagic setup --cache DIR",
    },
    "setup_uncompressed": {
        "api": "hubmagic.setup(uncompressed=True)",
        "magic": "%hub_setup --uncompressed",
        "cli": "hubmagic setup --uncompressed",
    },
    "setup": {
        "api": "hubmagic.setup()",
        "magic": "%hub_setup",
        "cli": "hubmagic setup",
    },
    "info": {
        "api": "hubmagic.info()",
        "magic": "%hub_info",
        "cli": "hubmagic info",
    },
}


@dataclass(frozen=True)
class Fix:
    """What to do about an error or a problem, for every front end.

    Attributes:
        text: one sentence; ``{role}`` names a step of :data:`COMMANDS`
            (``"free space with {prune}"``). Literal braces are written ``{{ }}``.
    """

    text: str

    def __post_init__(self) -> None:
        unknown = {
            field for _, field, _, _ in string.Formatter().parse(self.text) if field
        } - COMMANDS.keys()
        if unknown:
            raise AssertionError(f"Fix names unknown commands {sorted(unknown)}: {self.text!r}")

    def render(self, front: Front = "api") -> str:
        """The sentence with each step named as ``front`` calls it."""
        return self.text.format(**{role: names[front] for role, names in COMMANDS.items()})

    def __str__(self) -> str:
        return self.render("api")

    def to_dict(self) -> dict[str, str]:
        """The fix as each front end says it (for ``--json``)."""
        return {front: self.render(front) for front in FRONTS}


class HubmagicError(Exception):
    """Base class of every error hubmagic raises on purpose.

    Args:
        message: what went wrong, as one sentence (or a few).
        fix: what to do next, when there is something to say.

    Attributes:
        message: as given; ``str(error)`` adds the Python fix to it.
        fix: as given.
    """

    fix: Fix | None = None

    def __init__(self, message: str, *, fix: Fix | None = None) -> None:
        # Every front end shows message and fix: no URL secret gets past here.
        self.message = redact(message)
        if fix is not None:
            self.fix = fix if redact(fix.text) == fix.text else Fix(redact(fix.text))
        text = self.message
        super().__init__(text if self.fix is None else f"{text} {self.fix.render('api')}")

    def describe(self, front: Front) -> tuple[str, str | None]:
        """(message, fix) as ``front`` shows them."""
        return self.message, (self.fix.render(front) if self.fix is not None else None)


class InvalidSettingError(HubmagicError, ValueError):
    """An environment variable or argument has a value hubmagic cannot use."""


class UnsupportedCacheError(InvalidSettingError):
    """A cache location hubmagic does not store to: not a local folder, ``file://`` or ``gs://``.

    tensorflow_hub may still use it (``s3://``, ``hdfs://`` through its own file
    systems): hubmagic's plug then declines, and plain ``hub.load`` works as
    without hubmagic. Build one with :meth:`scheme` or :meth:`not_a_file_url`.
    """

    @classmethod
    def scheme(cls, value: str, source: str, scheme: str) -> UnsupportedCacheError:
        where = "a local folder, a file:///abs/path URL or gs://bucket/prefix"
        if source.upper().lstrip("-") == "TFHUB_CACHE_DIR":
            what = f"Set {source} to {where}, or unset it"
        else:
            what = f"Give {where}"
        return cls(
            f"{source}={value!r}: hubmagic caches on local folders and gs:// only, "
            f"not on {scheme}://.",
            fix=Fix(
                f"{what}; plain hub.load keeps using {scheme}:// through tensorflow_hub's "
                "own resolver, as without hubmagic."
            ),
        )

    @classmethod
    def not_a_file_url(cls, value: str, source: str) -> UnsupportedCacheError:
        return cls(
            f"{source}={value!r} is not a local folder: a file:// URL names one as "
            "file:///abs/path (three slashes, no host).",
            fix=Fix("Write file:///abs/path, or the path itself."),
        )


class PlanNotAppliedError(HubmagicError, ValueError):
    """A setup plan with problems was asked to be applied: it never is."""


class InvalidHandleError(HubmagicError, ValueError):
    """The text given is not a model handle hubmagic understands."""

    def __init__(self, handle: str, reason: str, *, fix: Fix | None = None) -> None:
        self.handle = redact(handle)
        self.reason = redact(reason)
        super().__init__(f"{handle!r} is not a model handle hubmagic can load: {reason}", fix=fix)


class ModelNotFoundError(HubmagicError, FileNotFoundError):
    """The handle is well formed, but nothing is there."""


class NotASavedModelError(HubmagicError, ValueError):
    """A folder or archive exists but holds no SavedModel at its root."""


class OfflineError(HubmagicError, FileNotFoundError):
    """Offline mode is on and the model is not (validly) in the cache."""


class DownloadError(HubmagicError, OSError):
    """Fetching a model over the network failed."""

    def __init__(self, message: str, *, url: str | None = None, fix: Fix | None = None) -> None:
        self.url = redact_optional(url)
        super().__init__(message, fix=fix)


class HttpError(DownloadError):
    """The server answered with an HTTP status that is not a model."""

    def __init__(self, message: str, *, url: str, status: int, fix: Fix | None = None) -> None:
        self.status = status
        super().__init__(message, url=url, fix=fix)


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

    def __init__(self, message: str, *, path: str, fix: Fix | None = None) -> None:
        self.path = path
        super().__init__(message, fix=fix)


class GcsError(HubmagicError, OSError):
    """A gs:// location could not be used (credentials, bucket, permissions)."""

    def __init__(self, message: str, *, url: str, fix: Fix | None = None) -> None:
        self.url = redact(url)
        super().__init__(message, fix=fix)


class MissingDependencyError(HubmagicError, ImportError):
    """An optional dependency is needed for this and is not installed."""

    def __init__(self, package: str, install: str, purpose: str) -> None:
        self.package = package
        self.install = install
        super().__init__(
            f"{purpose} needs {package}, which is not installed.",
            fix=Fix(f"Install it with: {install}".replace("{", "{{").replace("}", "}}")),
        )
