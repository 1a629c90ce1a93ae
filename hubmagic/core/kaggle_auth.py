"""Kaggle credentials, looked up where kagglehub looks, sent to the Kaggle API only.

(Being written for issue 13.)
"""

from __future__ import annotations

from typing import Any

from hubmagic.core.errors import Fix


def auth_for(url: str) -> Any | None:
    """The ``requests`` auth for a request to ``url``: credentials for the Kaggle API
    endpoint only, ``None`` for every other host."""
    del url
    return None


def denied_fix(url: str) -> Fix | None:
    """What to do after a 401 / 403 from ``url`` when it is the Kaggle API (else ``None``)."""
    del url
    return None
