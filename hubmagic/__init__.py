"""hubmagic: TensorFlow Hub / Kaggle models in notebooks, in one visible, unbreakable line.

The core API (no IPython, no TensorFlow needed)::

    import hubmagic
    path = hubmagic.resolve("https://tfhub.dev/google/spice/2")
    info = hubmagic.scan_cache()
    hubmagic.plan_repair().execute()

Importing this package is cheap: TensorFlow, tensorflow_hub, requests and
google-cloud-storage load only inside the functions that use them.
"""

from __future__ import annotations

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
from hubmagic.progress import Phase, ProgressEvent
from hubmagic.resolver import CacheRepairWarning, Resolved, resolve, resolve_model

__version__ = "0.1.0"

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
    "MissingDependencyError",
    "ModelNotFoundError",
    "NotASavedModelError",
    "OfflineError",
    "Phase",
    "ProgressEvent",
    "Resolved",
    "Status",
    "UncompressedNotSupportedError",
    "UnsafeArchiveError",
    "__version__",
    "parse_handle",
    "plan_clear",
    "plan_delete",
    "plan_prune",
    "plan_repair",
    "prune",
    "resolve",
    "resolve_model",
    "scan_cache",
]
