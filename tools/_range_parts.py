"""The stateless pieces of ``tools/range_server.py``: rate buckets, Range parsing, hashes.

Kept apart so the server module stays about the server: who asked what, and
which scripted fault answers it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode
from xml.sax.saxutils import escape

import google_crc32c

HASH_READ = 8 * 1024 * 1024
"""Bytes per read while hashing the archive once at start."""

MIN_CHUNK = 64 * 1024
MAX_CHUNK = 256 * 1024
"""Bounds of the bytes handed to ``sendfile`` at once."""

SLACK = 0.02
"""Seconds of unused rate a bucket keeps: a late wake-up is caught up, not lost."""

CREDENTIAL = "bench@example.iam.gserviceaccount.com"
"""The service account the signed storage URLs pretend to be signed by."""

_RANGE = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")


class RangeNotSatisfiable(Exception):
    """The Range header asks for bytes the file does not have (answered with 416)."""


class TokenBucket:
    """A byte rate shared by whoever reserves from it (a connection or the whole link).

    Args:
        rate: Bytes per second.
        slack: Seconds of rate left unused that may still be spent (a small burst
            after a pause, and no loss to a thread that woke up late).
    """

    def __init__(self, rate: float, slack: float = SLACK) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        self.rate = rate
        self._slack = slack
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def reserve(self, size: int) -> float:
        """Books ``size`` bytes; returns the monotonic time at which they may be sent."""
        with self._lock:
            start = max(self._next, time.monotonic() - self._slack)
            self._next = start + size / self.rate
            return start

    def take(self, size: int) -> None:
        """Books ``size`` bytes and sleeps until they may be sent."""
        sleep_until(self.reserve(size))


def sleep_until(when: float) -> None:
    """Sleeps until the monotonic clock reads ``when`` (returns at once if it has)."""
    delay = when - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def chunk_size(rate: float | None) -> int:
    """Bytes per ``sendfile`` call: about 10 ms worth at ``rate``, within 64-256 KiB."""
    if rate is None:
        return MAX_CHUNK
    return int(min(MAX_CHUNK, max(MIN_CHUNK, rate / 100)))


def file_hashes(path: str) -> tuple[bytes, bytes]:
    """The (crc32c, md5) digests of the file, read in 8 MiB pieces."""
    crc = 0
    md5 = hashlib.md5()
    with open(path, "rb", buffering=0) as file:
        while piece := file.read(HASH_READ):
            crc = int(google_crc32c.extend(crc, piece))
            md5.update(piece)
    return crc.to_bytes(4, "big"), md5.digest()


def other_hashes() -> tuple[bytes, bytes]:
    """(crc32c, md5) digests of bytes that are not the archive (for ``wrong_hash``)."""
    other = b"these are not the bytes of the archive"
    crc = int(google_crc32c.value(other))
    return crc.to_bytes(4, "big"), hashlib.md5(other).digest()


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def goog_hash(crc: bytes, md5: bytes) -> str:
    """The ``X-Goog-Hash`` value GCS sends: ``crc32c=<b64>,md5=<b64>``."""
    return f"crc32c={b64(crc)},md5={b64(md5)}"


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte of a single-range ``Range`` header.

    Returns None when the header is to be ignored (not ``bytes=``, several ranges,
    bad syntax): the whole file is then served with 200, as RFC 9110 allows.

    Raises:
        RangeNotSatisfiable: The range starts at or past the end of the file.
    """
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _RANGE.fullmatch(spec)
    if match is None or not (match.group(1) or match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # bytes=-N: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(header)
    return start, min(end, size - 1)


def signed_query(signature: str, issued: float) -> str:
    """The query of a V4-signed GCS URL (``X-Goog-*``) carrying ``signature``."""
    date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(issued))
    return urlencode(
        {
            "X-Goog-Algorithm": "GOOG4-RSA-SHA256",
            "X-Goog-Credential": f"{CREDENTIAL}/{date[:8]}/auto/storage/goog4_request",
            "X-Goog-Date": date,
            "X-Goog-Expires": "600",
            "X-Goog-SignedHeaders": "host",
            "X-Goog-Signature": signature,
        }
    )


def new_signature() -> str:
    """A fresh random signature (hex, as long as an RSA-2048 one)."""
    return os.urandom(256).hex()


def error_xml(code: str, message: str) -> bytes:
    """A GCS XML API error body."""
    return (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    ).encode()


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: ``"1"`` for 1.0, ``"0.5"`` for 0.5."""
    return str(int(seconds)) if float(seconds).is_integer() else repr(float(seconds))


@dataclass
class Answer:
    """What the server sends for one request: status, headers, a body or a file range,
    and how the connection ends (``keep``, ``close``, ``reset`` or ``stall``)."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    start: int | None = None
    end: int | None = None
    limit: int | None = None
    """At most this many body bytes are sent (a reset or stall fault)."""
    ending: str = "keep"
    stall: float = 0.0


def error(status: int, code: str, message: str) -> Answer:
    """An XML error answer, as GCS sends."""
    body = error_xml(code, message)
    headers = {"Content-Type": "application/xml; charset=UTF-8", "Content-Length": str(len(body))}
    return Answer(status, headers, body=body)


def reset(sock: socket.socket, reader: io.BufferedIOBase) -> None:
    """Closes ``sock`` with RST (SO_LINGER 0) instead of FIN.

    ``reader`` is the handler's ``makefile`` of it: the socket only really closes
    once that is closed too.
    """
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        reader.close()
        sock.close()
