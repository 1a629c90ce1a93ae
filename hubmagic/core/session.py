"""What ``%hub_setup`` / ``hubmagic.setup`` decided for this Python process.

Environment variables carry what tensorflow_hub also reads (``TFHUB_CACHE_DIR``,
``TFHUB_MODEL_LOAD_FORMAT``); the TensorFlow I/O device has no variable, so it
is remembered here and used by every :func:`hubmagic.load` after the setup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class SessionState:
    """Mutable on purpose: one per process, changed only by setup and tests."""

    io_device: str | None = None
    plan: Any = None  # the last applied SetupPlan


state = SessionState()


def reset() -> None:
    """Forgets the setup (``%unload_ext``, tests)."""
    state.io_device = None
    state.plan = None
