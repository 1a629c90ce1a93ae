"""What ``%hub_info`` shows: everything a bug report needs, as text."""

from __future__ import annotations

import importlib.metadata
import platform
import sys

from hubmagic.core import config, session
from hubmagic.core.units import format_bytes


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def settings_lines() -> list[str]:
    """The settings in force right now, as hubmagic and tensorflow_hub read them."""
    import os

    from hubmagic.plan.decide import models_from

    plan = session.state.plan
    cache_dir = config.cache_dir()
    load_format = config.load_format()
    # The probe is the applied plan's, when the settings are still the plan's.
    probe = None
    if plan is not None and (plan.cache_dir, plan.load_format) == (cache_dir, load_format):
        probe = plan.uncompressed_probe
    return [
        f"  cache folder:   {cache_dir}"
        + ("" if os.environ.get(config.TFHUB_CACHE_DIR) else " (tensorflow_hub's default)"),
        f"  load format:    {load_format}",
        f"  models from:    {models_from(cache_dir, load_format, probe)}",
        f"  io device:      {session.state.io_device or 'none (TensorFlow default)'}",
        f"  endpoint:       {config.endpoint() or 'none (tfhub.dev / Kaggle)'}",
        f"  offline:        {'yes' if config.offline() else 'no'}",
    ]


def info_text() -> str:
    """Runtime and evidence, settings, versions and a cache summary."""
    from hubmagic.core.cache import scan_cache
    from hubmagic.plan.runtime import detect_runtime

    runtime = detect_runtime()
    info = scan_cache()
    versions = ", ".join(
        f"{name} {_version(name)}" for name in ("hubmagic", "ipython", "ipywidgets", "requests")
    )
    return "\n".join(
        [
            runtime.describe(),
            "",
            "Settings in force:",
            *settings_lines(),
            "",
            f"Versions: {versions}",
            f"Python {sys.version.split()[0]} on {platform.platform()}",
            "",
            f"Cache: {len(info.entries)} entries, {format_bytes(info.size)} in {info.cache_dir}"
            + (f" ({len(info.warnings)} warnings)" if info.warnings else ""),
        ]
    )
