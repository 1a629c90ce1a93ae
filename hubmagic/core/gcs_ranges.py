"""``gs://`` archives for :mod:`~hubmagic.core.download` (one stream for now)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hubmagic.core import gcs
from hubmagic.core.progress import ProgressReporter
from hubmagic.core.readahead import ReadAhead


def open_gcs_archive(
    url: str, reporter: ProgressReporter, download: int, *, single: bool
) -> tuple[Any, Callable[[], int]]:
    """The archive at ``url`` as a read-once stream, and how often it resumed."""
    del download, single
    return ReadAhead(gcs.open_archive(url, reporter)), lambda: 0
