"""Chooses the store for a cache location: a local folder or a ``gs://`` bucket.

Kept apart from :mod:`hubmagic.core.store` (the protocol) so that neither store
module imports the other.
"""

from __future__ import annotations

from hubmagic.core import config
from hubmagic.core.local_store import LocalStore
from hubmagic.core.store import Store


def open_store(cache_dir: str) -> Store:
    """The store for a cache folder: :class:`LocalStore`, or ``GcsStore`` for ``gs://``.

    ``file:///abs/path`` is the folder ``/abs/path`` (:func:`config.cache_location`).

    Raises:
        UnsupportedCacheError: a location hubmagic does not store to (``s3://``, ...).
    """
    if cache_dir == config.cache_dir():
        location = config.check_cache_dir()  # the cache in force: named by what set it
    else:
        location = config.cache_location(cache_dir)
    if location.startswith("gs://"):
        from hubmagic.core.gcs_store import GcsStore

        return GcsStore(location)
    return LocalStore(location)
