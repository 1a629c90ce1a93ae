"""The archive's checksum, as the storage announces it, checked over the bytes received.

Cloud Storage answers every download (whole or ranged) with ``X-Goog-Hash:
crc32c=<base64>,md5=<base64>`` for the whole object; other servers may send
``Content-MD5``. kagglehub checks the MD5 the same way; tensorflow_hub checks
nothing. The hash is computed over the bytes in archive order (the order the
extractor reads them, whatever order the ranges arrived in), and a mismatch is
refused at the end of the stream, before anything is published.

crc32c is preferred when both are given: google-crc32c (a dependency of
google-cloud-storage) computes it in C at several GB/s, while MD5 costs about
1.5 s of CPU per GB in the decompressor's thread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hubmagic.core.errors import ArchiveError, Fix

CHECKSUM_FIX = Fix(
    "Try again; if it keeps happening, the copy on the server (or a proxy between you and "
    "it) is damaged: check the mirror in HUBMAGIC_ENDPOINT or report it to the model's page."
)


class ChecksumMismatchError(ArchiveError):
    """The bytes received do not match the checksum the storage announced."""


@dataclass(frozen=True)
class Expected:
    """A checksum to check: its algorithm (``crc32c`` or ``md5``) and digest bytes."""

    algorithm: str
    digest: bytes


def _crc32c_usable() -> bool:
    try:
        import google_crc32c
    except ImportError:  # pragma: no cover - google-cloud-storage brings it
        return False
    return bool(google_crc32c.implementation == "c")


def expected_from_headers(headers: Mapping[str, str]) -> Expected | None:
    """The checksum announced by ``X-Goog-Hash`` / ``Content-MD5``, or ``None``.

    ``requests`` joins repeated ``X-Goog-Hash`` headers with ", ", so both forms
    (one header with both hashes, or one header each) read the same.
    """
    found: dict[str, bytes] = {}
    for part in headers.get("X-Goog-Hash", "").split(","):
        name, sep, value = part.strip().partition("=")
        if sep and name.strip().lower() in ("crc32c", "md5"):
            digest = b64_digest(value.strip())
            if digest is not None:
                found[name.strip().lower()] = digest
    md5 = headers.get("Content-MD5")
    if md5 and "md5" not in found:
        digest = b64_digest(md5.strip())
        if digest is not None:
            found["md5"] = digest
    return choose(found)


def choose(found: Mapping[str, bytes]) -> Expected | None:
    """crc32c when it is there and fast here, else md5, else ``None``."""
    crc = found.get("crc32c")
    if crc is not None and len(crc) == 4 and _crc32c_usable():
        return Expected("crc32c", crc)
    md5 = found.get("md5")
    if md5 is not None and len(md5) == 16:
        return Expected("md5", md5)
    return None


def b64_digest(text: str) -> bytes | None:
    """A base64 digest as bytes, or ``None`` when it is not base64."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


class Verifier:
    """Hashes bytes in order and checks them against ``expected`` at the end."""

    def __init__(self, expected: Expected, url: str) -> None:
        self.expected = expected
        self._url = url
        self._hash: Any
        if expected.algorithm == "crc32c":
            import google_crc32c

            self._hash = google_crc32c.Checksum()  # type: ignore[no-untyped-call]
        else:
            self._hash = hashlib.md5(usedforsecurity=False)
        self.checked = False

    def update(self, data: Any) -> None:
        self._hash.update(data)

    def check(self) -> None:
        """Raises :class:`ChecksumMismatchError` when the digest differs (once checked, a no-op)."""
        if self.checked:
            return
        self.checked = True
        got = self._hash.digest()
        if got != self.expected.digest:
            want = base64.b64encode(self.expected.digest).decode()
            have = base64.b64encode(got).decode()
            raise ChecksumMismatchError(
                f"The archive from {self._url} does not match the {self.expected.algorithm} "
                f"checksum the server announced ({have} received, {want} announced): it was "
                "damaged on the way or on the server. Nothing was written to the cache.",
                fix=CHECKSUM_FIX,
            )


class VerifiedSource:
    """A read-once source whose bytes are hashed as they are read and checked at the end."""

    def __init__(self, source: Any, verifier: Verifier) -> None:
        self._source = source
        self.verifier = verifier

    def readinto(self, buffer: Any) -> int:
        n = self._source.readinto(buffer)
        if n:
            self.verifier.update(bytes(memoryview(buffer)[:n]))  # google-crc32c takes bytes only
        else:
            self.verifier.check()
        return int(n or 0)

    def close(self) -> None:
        self._source.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)
