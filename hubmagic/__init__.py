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

from hubmagic._lazy import lazy_exports
from hubmagic._version import __version__

if TYPE_CHECKING:
    from hubmagic.api import load, load_model, resolve, resolve_model, setup
    from hubmagic.core.actions import VerifyReport, verify_cache
    from hubmagic.core.cache import CacheEntry, CacheInfo, Status, scan_cache
    from hubmagic.core.errors import (
        AccessDeniedError,
        ArchiveError,
        CacheError,
        DownloadError,
        Fix,
        GcsError,
        HttpError,
        HubmagicError,
        InvalidHandleError,
        InvalidSettingError,
        MissingDependencyError,
        ModelNotFoundError,
        NotASavedModelError,
        OfflineError,
        PlanNotAppliedError,
        UncompressedNotSupportedError,
        UnsafeArchiveError,
    )
    from hubmagic.core.handle import Handle, HandleKind
    from hubmagic.core.handle import parse as parse_handle
    from hubmagic.core.plans import (
        DeletePlan,
        DeleteResult,
        plan_clear,
        plan_delete,
        plan_prune,
        plan_repair,
        prune,
    )
    from hubmagic.core.progress import Phase, ProgressEvent
    from hubmagic.core.resolver import CacheRepairWarning, Resolved
    from hubmagic.plan import Problem, Runtime, SetupPlan, apply_plan, detect_runtime, plan_setup
    from hubmagic.plan.info import InfoReport, info
    from hubmagic.tf.loader import Loaded
    from hubmagic.ui.widgets import panel

# Names are imported on first use (PEP 562), so that `import hubmagic` and
# `%load_ext hubmagic` load only what they need (see benchmarks/bench_import.py).
_EXPORTS: dict[str, tuple[str, str]] = {
    "AccessDeniedError": ("hubmagic.core.errors", "AccessDeniedError"),
    "ArchiveError": ("hubmagic.core.errors", "ArchiveError"),
    "CacheEntry": ("hubmagic.core.cache", "CacheEntry"),
    "CacheError": ("hubmagic.core.errors", "CacheError"),
    "CacheInfo": ("hubmagic.core.cache", "CacheInfo"),
    "CacheRepairWarning": ("hubmagic.core.resolver", "CacheRepairWarning"),
    "DeletePlan": ("hubmagic.core.plans", "DeletePlan"),
    "DeleteResult": ("hubmagic.core.plans", "DeleteResult"),
    "DownloadError": ("hubmagic.core.errors", "DownloadError"),
    "GcsError": ("hubmagic.core.errors", "GcsError"),
    "Handle": ("hubmagic.core.handle", "Handle"),
    "HandleKind": ("hubmagic.core.handle", "HandleKind"),
    "HttpError": ("hubmagic.core.errors", "HttpError"),
    "HubmagicError": ("hubmagic.core.errors", "HubmagicError"),
    "InvalidHandleError": ("hubmagic.core.errors", "InvalidHandleError"),
    "InvalidSettingError": ("hubmagic.core.errors", "InvalidSettingError"),
    "Loaded": ("hubmagic.tf.loader", "Loaded"),
    "MissingDependencyError": ("hubmagic.core.errors", "MissingDependencyError"),
    "ModelNotFoundError": ("hubmagic.core.errors", "ModelNotFoundError"),
    "NotASavedModelError": ("hubmagic.core.errors", "NotASavedModelError"),
    "OfflineError": ("hubmagic.core.errors", "OfflineError"),
    "Phase": ("hubmagic.core.progress", "Phase"),
    "Problem": ("hubmagic.plan", "Problem"),
    "ProgressEvent": ("hubmagic.core.progress", "ProgressEvent"),
    "Resolved": ("hubmagic.core.resolver", "Resolved"),
    "Runtime": ("hubmagic.plan", "Runtime"),
    "SetupPlan": ("hubmagic.plan", "SetupPlan"),
    "Status": ("hubmagic.core.cache", "Status"),
    "UncompressedNotSupportedError": ("hubmagic.core.errors", "UncompressedNotSupportedError"),
    "UnsafeArchiveError": ("hubmagic.core.errors", "UnsafeArchiveError"),
    "apply_plan": ("hubmagic.plan", "apply_plan"),
    "detect_runtime": ("hubmagic.plan", "detect_runtime"),
    "info": ("hubmagic.plan.info", "info"),
    "InfoReport": ("hubmagic.plan.info", "InfoReport"),
    "Fix": ("hubmagic.core.errors", "Fix"),
    "PlanNotAppliedError": ("hubmagic.core.errors", "PlanNotAppliedError"),
    "verify_cache": ("hubmagic.core.actions", "verify_cache"),
    "VerifyReport": ("hubmagic.core.actions", "VerifyReport"),
    "load": ("hubmagic.api", "load"),
    "load_model": ("hubmagic.api", "load_model"),
    "panel": ("hubmagic.ui.widgets", "panel"),
    "parse_handle": ("hubmagic.core.handle", "parse"),
    "plan_clear": ("hubmagic.core.plans", "plan_clear"),
    "plan_delete": ("hubmagic.core.plans", "plan_delete"),
    "plan_prune": ("hubmagic.core.plans", "plan_prune"),
    "plan_repair": ("hubmagic.core.plans", "plan_repair"),
    "plan_setup": ("hubmagic.plan", "plan_setup"),
    "prune": ("hubmagic.core.plans", "prune"),
    "resolve": ("hubmagic.api", "resolve"),
    "resolve_model": ("hubmagic.api", "resolve_model"),
    "scan_cache": ("hubmagic.core.cache", "scan_cache"),
    "setup": ("hubmagic.api", "setup"),
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext hubmagic``: registers the magics; imports nothing heavy."""
    from hubmagic.ui.magics import load as load_magics

    load_magics(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext hubmagic``: removes the magics and the tensorflow_hub plug."""
    from hubmagic.ui.magics import unload

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
    "Fix",
    "GcsError",
    "Handle",
    "HandleKind",
    "HttpError",
    "HubmagicError",
    "InfoReport",
    "InvalidHandleError",
    "InvalidSettingError",
    "Loaded",
    "MissingDependencyError",
    "ModelNotFoundError",
    "NotASavedModelError",
    "OfflineError",
    "Phase",
    "PlanNotAppliedError",
    "Problem",
    "ProgressEvent",
    "Resolved",
    "Runtime",
    "SetupPlan",
    "Status",
    "UncompressedNotSupportedError",
    "UnsafeArchiveError",
    "VerifyReport",
    "__version__",
    "apply_plan",
    "detect_runtime",
    "info",
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
    "verify_cache",
]
