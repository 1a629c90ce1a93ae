"""What ``%hub_info`` / ``hubmagic info`` show, as one record built section by section.

The diagnostics matter most when something is broken (``TFHUB_CACHE_DIR``
pointing at a file, a ``gs://`` bucket without credentials, a bad setting), so
each section is collected on its own: one that fails carries its error and
fix, and the others are still there, in the text and in ``--json``. It lives
in the setup layer because it reports the runtime (:mod:`.runtime`) beside the
cache (:mod:`hubmagic.core.cache`).
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from hubmagic.core import config, session
from hubmagic.core.errors import Fix, HubmagicError
from hubmagic.core.records import jsonable
from hubmagic.core.redact import redact, redact_data, redact_optional

T = TypeVar("T")

VERSIONED = ("hubmagic", "ipython", "ipywidgets", "requests")
"""The distributions whose versions a bug report needs (TensorFlow's are in the runtime)."""


@dataclass(frozen=True)
class Section(Generic[T]):
    """One part of the report: its value, or why it could not be collected.

    Attributes:
        name: ``runtime``, ``settings``, ``versions`` or ``cache``.
        value: what was found (``None`` when it failed).
        error: what went wrong, when it failed.
        fix: what to do about it, when known.
    """

    name: str
    value: T | None
    error: str | None = None
    fix: Fix | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class SettingsInfo:
    """The settings in force, as hubmagic and tensorflow_hub read them now (redacted)."""

    cache_dir: str
    cache_dir_is_default: bool
    load_format: str
    models_from: str
    io_device: str | None
    endpoint: str | None
    offline: bool
    certificates: str = "verified (certifi)"
    """How hub downloads check certificates (:func:`hubmagic.core.tls.certificates`)."""
    certificates_off: bool = False
    """``TFHUB_DISABLE_CERT_VALIDATION=true``: said as a warning too."""
    proxies: str = "none"
    """The proxy variables in force, ``scheme://host:port`` only (never a login)."""
    no_proxy: str | None = None
    """``NO_PROXY`` as set (with the variable's name), or ``None``."""
    kaggle_credentials: str | None = None
    """Where Kaggle credentials come from (never their value), when that is known."""
    decompressor: str = "isal"
    """What extracts gzip archives (zlib, said as such, when isal is not installed)."""


@dataclass(frozen=True)
class VersionsInfo:
    """Versions of hubmagic and what it runs with."""

    packages: tuple[tuple[str, str], ...]
    python: str
    os: str


@dataclass(frozen=True)
class CacheSummary:
    """The cache in a few numbers."""

    cache_dir: str
    entries: int
    size: int
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class InfoReport:
    """Everything a bug report needs; see the module doc."""

    runtime: Section[Any]
    settings: Section[SettingsInfo]
    versions: Section[VersionsInfo]
    cache: Section[CacheSummary]

    @property
    def sections(self) -> tuple[Section[Any], ...]:
        return (self.runtime, self.settings, self.versions, self.cache)

    @property
    def errors(self) -> tuple[Section[Any], ...]:
        """The sections that could not be collected."""
        return tuple(s for s in self.sections if not s.ok)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        runtime = self.runtime.value
        if runtime is not None:
            out["runtime"] = {
                "platform": runtime.platform,
                "frontend": runtime.frontend,
                "accelerator": runtime.accelerator,
                "tpu_address": runtime.tpu_address,
                "python": runtime.python,
                "packages": {
                    name: (p.version if (p := runtime.package(name)) else None)
                    for name in _package_names()
                },
                "variables": dict(runtime.settings.items()),
            }
            out["evidence"] = [
                {"topic": e.topic, "conclusion": e.conclusion, "facts": list(e.facts)}
                for e in runtime.evidence
            ]
        else:
            out["runtime"] = _error_dict(self.runtime)
        out["settings"] = (
            jsonable(self.settings.value) if self.settings.ok else _error_dict(self.settings)
        )
        versions = self.versions.value
        if versions is not None:
            out["versions"] = dict(versions.packages)
            out["python"] = versions.python
            out["os"] = versions.os
        else:
            out["versions"] = _error_dict(self.versions)
        out["cache"] = jsonable(self.cache.value) if self.cache.ok else _error_dict(self.cache)
        return redact_data(out)


def _error_dict(section: Section[Any]) -> dict[str, object]:
    return {"error": section.error, "fix": section.fix.to_dict() if section.fix else None}


def _package_names() -> tuple[str, ...]:
    from hubmagic.plan.runtime import PACKAGE_NAMES

    return PACKAGE_NAMES


def collect(name: str, build: Callable[[], T]) -> Section[T]:
    """Runs ``build`` for section ``name``: its value, or the error that replaced it."""
    try:
        return Section(name, build())
    except HubmagicError as exc:
        return Section(name, None, exc.message, exc.fix)
    except Exception as exc:  # diagnostics must survive anything: shown, not raised
        return Section(name, None, f"{type(exc).__name__}: {exc}")


def version(dist: str) -> str:
    """The installed version of a distribution, or ``"not installed"``."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def settings_info() -> SettingsInfo:
    """The settings in force right now.

    Raises:
        InvalidSettingError: a setting has a value hubmagic cannot use.
    """
    from hubmagic.plan.records import models_from

    plan = session.state.plan
    cache_dir = config.cache_dir()
    load_format = config.load_format()
    # The probe is the applied plan's, when the settings are still the plan's.
    probe = None
    if plan is not None and (plan.cache_dir, plan.load_format) == (cache_dir, load_format):
        probe = plan.uncompressed_probe
    from hubmagic.core import tls
    from hubmagic.core.extract import decompressor_name

    certificates = tls.certificates()
    proxies = tls.proxies()
    return SettingsInfo(
        cache_dir=cache_dir,
        cache_dir_is_default=not config.cache_dir_is_set(),
        load_format=load_format,
        models_from=models_from(cache_dir, load_format, probe),
        io_device=session.state.io_device,
        endpoint=redact_optional(config.endpoint()),
        offline=config.offline(),
        certificates=certificates.describe(),
        certificates_off=certificates.disabled,
        proxies=proxies.describe(),
        no_proxy=(
            f"{proxies.no_proxy} ({proxies.no_proxy_variable})" if proxies.no_proxy else None
        ),
        kaggle_credentials=_kaggle_credentials(),
        decompressor=decompressor_name(),
    )


def _kaggle_credentials() -> str | None:
    """``kaggle_auth.describe()``: where credentials come from; a failed lookup is said."""
    from hubmagic.core import kaggle_auth

    describe: Callable[[], str] = kaggle_auth.describe
    try:
        return redact(describe())
    except HubmagicError as exc:
        return f"could not be read: {exc.message}"


def _versions() -> VersionsInfo:
    return VersionsInfo(
        tuple((name, version(name)) for name in VERSIONED),
        sys.version.split()[0],
        platform.platform(),
    )


def cache_summary(cache_dir: str | None = None) -> CacheSummary:
    """Entries, size and warnings of the cache (default: the one in force)."""
    from hubmagic.core.cache import scan_cache

    scan = scan_cache(cache_dir)
    return CacheSummary(scan.cache_dir, len(scan.entries), scan.size, scan.warnings)


def info(cache_dir: str | None = None) -> InfoReport:
    """Runtime and evidence, settings, versions and a cache summary, each on its own.

    Args:
        cache_dir: the cache to summarise; default the one in force.
    """
    from hubmagic.plan.detect import detect_runtime

    return InfoReport(
        runtime=collect("runtime", detect_runtime),
        settings=collect("settings", settings_info),
        versions=collect("versions", _versions),
        cache=collect("cache", lambda: cache_summary(cache_dir)),
    )
