"""Chooses the store for a cache location: a local folder or a ``gs://`` bucket.

Kept apart from :mod:`hubmagic.core.store` (the protocol) so that neither store
module imports the other.
"""

from __future__ import annotations

from hubmagic.core.local_store import LocalStore
from hubmagic.core.store import Store


def open_store(cache_dir: str) -> Store:
    """The store for a cache folder: :class:`LocalStore`, or ``GcsStore`` for ``gs://``."""
    if cache_dir.startswith("gs://"):
        from hubmagic.core.gcs_store import GcsStore

        return GcsStore(cache_dir)
    return LocalStore(cache_dir)
