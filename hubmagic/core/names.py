"""tensorflow_hub's cache layout names, in one place: what sits beside a model folder.

For the handle ``h`` the cache root holds (``docs/compatibility.md``):

- ``K/`` where ``K = sha1(h)`` (:func:`cache_key`): the SavedModel files;
- ``K.lock``: ``"<hostname>.<pid>.<uid>"`` while a process downloads it;
- ``K.<uid>.tmp/``: where that process extracts before renaming onto ``K/``;
- ``K.descriptor.txt``: which handle ``K`` is (redacted), when and who downloaded it.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import socket

from hubmagic.core.redact import redact

LOCK_SUFFIX = ".lock"
TMP_SUFFIX = ".tmp"
DESCRIPTOR_SUFFIX = ".descriptor.txt"
KEY_PATTERN = re.compile(r"^([0-9a-f]{40})(?:\.(.*))?$")
"""A name at the cache root that belongs to an entry: its key, then what follows the dot."""
HEARTBEAT_UID_PREFIX = "hm"
"""Starts the uid of a hubmagic holder that heartbeats (tensorflow_hub's are plain hex)."""
HEARTBEAT_FILE = ".hubmagic-heartbeat"
"""Name, inside a heartbeating holder's ``K.<uid>.tmp/``, of the file that shows it is alive."""
TMP_TAIL = re.compile(r"^(?:hm)?[0-9a-f]+\.tmp$")
"""What follows ``K.`` in a tmp folder's name: ``<uid>.tmp`` (uuid4 hex, or ``hm`` + hex)."""


def cache_key(raw: str) -> str:
    """tensorflow_hub's cache folder name: sha1 of the handle exactly as given."""
    return hashlib.sha1(raw.encode("utf8")).hexdigest()


class CacheNames:
    """The names beside a model folder; the same in every store."""

    @staticmethod
    def lock_name(key: str) -> str:
        return key + LOCK_SUFFIX

    @staticmethod
    def tmp_name(key: str, uid: str) -> str:
        return f"{key}.{uid}{TMP_SUFFIX}"

    @staticmethod
    def descriptor_name(key: str) -> str:
        return key + DESCRIPTOR_SUFFIX


def descriptor_text(raw: str) -> str:
    """The descriptor as tensorflow_hub writes it (nothing reads it but humans).

    The handle is redacted (:func:`hubmagic.core.redact.redact`): a password or
    a signature in it is not written to the cache.
    """
    return (
        f"Module: {redact(raw)}\nDownload Time: {datetime.datetime.today()}\n"
        f"Downloader Hostname: {socket.gethostname()} (PID:{os.getpid()})"
    )


def descriptor_handle(text: str | None) -> str | None:
    """The handle a descriptor names (its ``Module:`` line), if any."""
    if not text:
        return None
    first = text.splitlines()[0] if text.splitlines() else ""
    return first[len("Module: ") :] if first.startswith("Module: ") else None
