"""hubmagic: TensorFlow Hub / Kaggle models in notebooks, in one visible, unbreakable line.

The core API (no IPython, no TensorFlow needed)::

    import hubmagic
    path = hubmagic.resolve("https://tfhub.dev/google/spice/2")
    info = hubmagic.scan_cache()
    hubmagic.plan_repair().execute()

Importing this package is cheap: TensorFlow, tensorflow_hub, requests,
google-cloud-storage and ipywidgets load only inside the functions that use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubmagic.cache import (
        CacheEntry,
        CacheInfo,
        DeletePlan,
        DeleteResult,
        Status,
        plan_clear,
        plan_delete,
        plan_prune,
        plan_repair,
        prune,
        scan_cache,
    )
    from hubmagic.errors import (
        AccessDeniedError,
        ArchiveError,
        CacheError,
        DownloadError,
        GcsError,
        HttpError,
        HubmagicError,
        InvalidHandleError,
        InvalidSettingError,
        MissingDependencyError,
        ModelNotFoundError,
        NotASavedModelError,
        OfflineError,
        UncompressedNotSupportedError,
        UnsafeArchiveError,
    )
    from hubmagic.handle import Handle, HandleKind
    from hubmagic.handle import parse as parse_handle
    from hubmagic.loader import Loaded, load, load_model
    from hubmagic.plan import Problem, SetupPlan, apply_plan, plan_setup, setup
    from hubmagic.progress import Phase, ProgressEvent
    from hubmagic.resolver import CacheRepairWarning, Resolved, resolve, resolve_model
    from hubmagic.runtime import Runtime, detect_runtime
    from hubmagic.widgets import panel

# Names are imported on first use (PEP 562), so that `import hubmagic` and
# `%load_ext hubmagic` load only what they need (see benchmarks/bench_import.py).
_EXPORTS: dict[str, tuple[str, str]] = {
    "AccessDeniedError": ("hubmagic.errors", "AccessDeniedError"),
    "ArchiveError": ("hubmagic.errors", "ArchiveError"),
    "CacheEntry": ("hubmagic.cache", "CacheEntry"),
    "CacheError": ("hubmagic.errors", "CacheError"),
    "CacheInfo": ("hubmagic.cache", "CacheInfo"),
    "CacheRepairWarning": ("hubmagic.resolver", "CacheRepairWarning"),
    "DeletePlan": ("hubmagic.cache", "DeletePlan"),
    "DeleteResult": ("hubmagic.cache", "DeleteResult"),
    "DownloadError": ("hubmagic.errors", "DownloadError"),
    "GcsError": ("hubmagic.errors", "GcsError"),
    "Handle": ("hubmagic.handle", "Handle"),
    "HandleKind": ("hubmagic.handle", "HandleKind"),
    "HttpError": ("hubmagic.errors", "HttpError"),
    "HubmagicError": ("hubmagic.errors", "HubmagicError"),
    "InvalidHandleError": ("hubmagic.errors", "InvalidHandleError"),
    "InvalidSettingError": ("hubmagic.errors", "InvalidSettingError"),
    "Loaded": ("hubmagic.loader", "Loaded"),
    "MissingDependencyError": ("hubmagic.errors", "MissingDependencyError"),
    "ModelNotFoundError": ("hubmagic.errors", "ModelNotFoundError"),
    "NotASavedModelError": ("hubmagic.errors", "NotASavedModelError"),
    "OfflineError": ("hubmagic.errors", "OfflineError"),
    "Phase": ("hubmagic.progress", "Phase"),
    "Problem": ("hubmagic.plan", "Problem"),
    "ProgressEvent": ("hubmagic.progress", "ProgressEvent"),
    "Resolved": ("hubmagic.resolver", "Resolved"),
    "Runtime": ("hubmagic.runtime", "Runtime"),
    "SetupPlan": ("hubmagic.plan", "SetupPlan"),
    "Status": ("hubmagic.cache", "Status"),
    "UncompressedNotSupportedError": ("hubmagic.errors", "UncompressedNotSupportedError"),
    "UnsafeArchiveError": ("hubmagic.errors", "UnsafeArchiveError"),
    "apply_plan": ("hubmagic.plan", "apply_plan"),
    "detect_runtime": ("hubmagic.runtime", "detect_runtime"),
    "load": ("hubmagic.loader", "load"),
    "load_model": ("hubmagic.loader", "load_model"),
    "panel": ("hubmagic.widgets", "panel"),
    "parse_handle": ("hubmagic.handle", "parse"),
    "plan_clear": ("hubmagic.cache", "plan_clear"),
    "plan_delete": ("hubmagic.cache", "plan_delete"),
    "plan_prune": ("hubmagic.cache", "plan_prune"),
    "plan_repair": ("hubmagic.cache", "plan_repair"),
    "plan_setup": ("hubmagic.plan", "plan_setup"),
    "prune": ("hubmagic.cache", "prune"),
    "resolve": ("hubmagic.resolver", "resolve"),
    "resolve_model": ("hubmagic.resolver", "resolve_model"),
    "scan_cache": ("hubmagic.cache", "scan_cache"),
    "setup": ("hubmagic.plan", "setup"),
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hubmagic' has no attribute {name!r}")
    import importlib

    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext hubmagic``: registers the magics; imports nothing heavy."""
    from hubmagic.magics import load as load_magics

    load_magics(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext hubmagic``: removes the magics and the tensorflow_hub plug."""
    from hubmagic.magics import unload

    unload(ipython)


__all__ = [
    "AccessDeniedError",
    "ArchiveError",
    "CacheEntry",
    "CacheError",
    "CacheInfo",
    "CacheRepairWarning",
    "DeletePlan",
    "DeleteResult",
    "DownloadError",
    "GcsError",
    "Handle",
    "HandleKind",
    "HttpError",
    "HubmagicError",
    "InvalidHandleError",
    "InvalidSettingError",
    "Loaded",
    "MissingDependencyError",
    "ModelNotFoundError",
    "NotASavedModelError",
    "OfflineError",
    "Phase",
    "Problem",
    "ProgressEvent",
    "Resolved",
    "Runtime",
    "SetupPlan",
    "Status",
    "UncompressedNotSupportedError",
    "UnsafeArchiveError",
    "__version__",
    "apply_plan",
    "detect_runtime",
    "load",
    "load_ipython_extension",
    "load_model",
    "panel",
    "parse_handle",
    "plan_clear",
    "plan_delete",
    "plan_prune",
    "plan_repair",
    "plan_setup",
    "prune",
    "resolve",
    "resolve_model",
    "scan_cache",
    "setup",
    "unload_ipython_extension",
]
