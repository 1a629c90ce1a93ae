"""Where a setup plan puts the model cache, and why (a rule of :mod:`hubmagic.plan.decide`).

A ``cache`` given wins (``~`` expanded with the runtime's home, a relative path
made absolute now, a ``gs://`` URL kept, a ``file://`` URL read as its path:
:func:`hubmagic.core.config.cache_location`); then a ``TFHUB_CACHE_DIR`` the user
already set; then the platform's policy (:data:`CACHE_POLICY`): a persistent
``~/.cache/tfhub_modules`` where the home folder outlives the session,
tensorflow_hub's temp default where it does not.
"""

from __future__ import annotations

import os

from hubmagic.core import config
from hubmagic.core.errors import InvalidSettingError
from hubmagic.plan.records import is_gcs
from hubmagic.plan.runtime import Runtime

PERSISTENT_CACHE = os.path.join(".cache", "tfhub_modules")  # under the home folder

# Whether each platform's home folder outlives the session, and the fact
# behind it, in the words the plan shows.
CACHE_POLICY: dict[str, tuple[bool, str]] = {
    "local": (True, "your own machine keeps the home folder across reboots"),
    "vertex-workbench": (
        True,
        "Vertex AI Workbench keeps the home folder on a persistent disk across restarts",
    ),
    # Studio homes are on the persistent user volume; a classic notebook
    # instance keeps only ~/SageMaker, which the reason points out.
    "sagemaker": (
        True,
        "SageMaker keeps the home folder on the persistent user volume (on a classic "
        "notebook instance only ~/SageMaker persists: use --cache ~/SageMaker/tfhub_modules)",
    ),
    "colab": (False, "Colab's disk, home folder included, is wiped when the runtime is recycled"),
    "colab-enterprise": (False, "Colab Enterprise runtimes are deleted with their disk"),
    "kaggle": (
        False,
        "Kaggle's disk lasts one session (and /kaggle/working is saved as notebook output)",
    ),
    "databricks": (False, "the Databricks driver's local disk is wiped when the cluster restarts"),
}
_PERSISTENT_WHY = (
    "models stay cached across sessions (no automatic cleanup: prune the cache when it grows)"
)
_TEMP_WHY = "tensorflow_hub's own temp default is kept"


def _home(runtime: Runtime) -> str:
    # The runtime's HOME (from the environment it was detected in), so a plan is
    # a pure function of the runtime; expanduser only when HOME was unset
    # (it then asks the password database).
    return runtime.home or os.path.expanduser("~")


def _expand_home(path: str, runtime: Runtime) -> str:
    if path == "~" or path.startswith(("~/", "~" + os.sep)):
        return os.path.join(_home(runtime), path[2:]) if len(path) > 1 else _home(runtime)
    return os.path.expanduser(path)  # ~user/... (or no ~ at all)


def _normalize_cache(cache: str) -> str:
    value = cache.strip()
    if not value:
        raise InvalidSettingError("cache is empty: give a folder or gs://bucket/prefix.")
    if is_gcs(value):
        if not value[len("gs://") :].split("/", 1)[0]:
            raise InvalidSettingError(f"cache={cache!r} has no bucket: write gs://bucket/prefix.")
        return value.rstrip("/")
    return config.cache_location(value)  # file:///x is /x; s3://... is refused


def choose_cache(
    runtime: Runtime,
    profile: str,
    cache: str | None,
    reasons: list[str],
    warnings: list[str],
) -> str:
    """The cache folder or ``gs://`` URL for the plan, with its reason (and warnings)."""
    if cache is not None:
        value = _normalize_cache(cache)
        if is_gcs(value):
            reasons.append(
                f"cache {value}: given; a gs:// cache is readable by every worker (bucket "
                "access is checked when it is first used)"
            )
            return value
        expanded = _expand_home(value, runtime)
        absolute = os.path.abspath(expanded)
        if os.path.isabs(expanded):
            reasons.append(f"cache {absolute}: given")
        else:
            reasons.append(
                f"cache {absolute}: given as {value!r}, made absolute now because "
                "tensorflow_hub would resolve a relative path again at every load, from "
                "whatever folder is current then"
            )
        return absolute

    current = runtime.settings.cache_dir
    if current:
        current = config.cache_location(current, source=config.TFHUB_CACHE_DIR)
        reasons.append(
            f"cache {current}: kept, TFHUB_CACHE_DIR was already set (pass --cache to change it)"
        )
        if not is_gcs(current) and not os.path.isabs(current):
            warnings.append(
                f"TFHUB_CACHE_DIR={current!r} is not an absolute path: tensorflow_hub "
                "resolves it from the current folder at every load"
                + (" and does not expand ~" if current.startswith("~") else "")
                + "; set an absolute one with --cache"
            )
        return current

    home_cache = os.path.join(_home(runtime), PERSISTENT_CACHE)
    if profile == "local":
        reasons.append(
            f"cache {home_cache}: local profile; the home folder survives reboots, as the "
            f"tensorflow_hub guide recommends, so {_PERSISTENT_WHY}"
        )
        return home_cache
    persistent, fact = CACHE_POLICY[runtime.platform]
    path = home_cache if persistent else config.default_cache_dir()
    reasons.append(f"cache {path}: {fact}, so {_PERSISTENT_WHY if persistent else _TEMP_WHY}")
    return path
