"""The bytes of a compressed model: a tar.gz made while it is sent, and HTTP ranges.

A model folder is served as a gzip-compressed tar generated on the fly: the tar
is produced file by file from a list of :class:`Entry` (see
:meth:`hubmagic.server.catalog.Catalog.scan`), compressed, and cut into chunks
of at least :data:`CHUNK_SIZE` for HTTP chunked encoding, so that nothing is
ever written to disk and memory stays bounded whatever the model's size: about
two megabytes per archive being sent (a read buffer, a chunk, the compressor),
even when its client stops reading. A prebuilt archive is sent as-is instead,
and :func:`parse_range` reads the ``Range`` header for it.

This module knows nothing about HTTP handlers or the served root: it turns
entries into bytes and a header into offsets, and can be tested alone.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, cast

__all__ = [
    "CHUNK_SIZE",
    "OPEN_FLAGS",
    "ArchiveAborted",
    "Entry",
    "Unsatisfiable",
    "gzip_chunks",
    "parse_range",
    "tar_stream",
]

CHUNK_SIZE = 128 << 10
"""Smallest HTTP chunk sent while streaming a generated archive (but the last)."""

OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
"""``os.open`` flags for every file sent: read-only, binary, not through a final link."""

_READ_SIZE = 128 << 10
_RECORD_SIZE = 20 * tarfile.BLOCKSIZE
_RANGE_RE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


class ArchiveAborted(Exception):
    """The archive cannot be completed after its headers were sent."""


class Unsatisfiable(Exception):
    """The ``Range`` header asks for bytes past the end of the file."""


@dataclass(frozen=True)
class Entry:
    """One member of a generated archive.

    Attributes:
        name: Path inside the archive (``/``-separated).
        source: Path of the file or folder on disk to read it from.
        is_dir: Whether it is a folder.
        size: Size in bytes (0 for a folder).
        mtime: Modification time, in whole seconds since the epoch.
        mode: Permission bits written in the tar header.
    """

    name: str
    source: str
    is_dir: bool
    size: int
    mtime: int
    mode: int


class _Compressor(Protocol):
    def compress(self, data: bytes | memoryview, /) -> bytes: ...

    def flush(self) -> bytes: ...


def _new_compressor(level: int) -> _Compressor:
    """A gzip (wbits 31) compressor: ISA-L when installed and level > 0, else zlib."""
    if level > 0:
        try:
            from isal import isal_zlib
        except ImportError:
            pass
        else:
            isal_level = 1 if level <= 3 else 2 if level <= 6 else 3
            return cast(_Compressor, isal_zlib.compressobj(isal_level, isal_zlib.DEFLATED, 31))
    return zlib.compressobj(level, zlib.DEFLATED, 31)


def _tar_header(entry: Entry) -> bytes:
    info = tarfile.TarInfo(entry.name)
    info.type = tarfile.DIRTYPE if entry.is_dir else tarfile.REGTYPE
    info.size = 0 if entry.is_dir else entry.size
    info.mtime = entry.mtime
    info.mode = entry.mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def tar_stream(entries: Iterable[Entry]) -> Iterator[bytes | memoryview]:
    """Yields the bytes of an uncompressed tar of ``entries``, file by file.

    Yielded memoryviews point into a reused buffer: consume them before the next.

    Raises:
        ArchiveAborted: A file cannot be opened or read, is no longer a regular
            file, or shrank since it was listed.
    """
    buffer = bytearray(_READ_SIZE)
    view = memoryview(buffer)
    total = 0
    for entry in entries:
        header = _tar_header(entry)
        total += len(header)
        yield header
        if entry.is_dir:
            continue
        try:
            fd = os.open(entry.source, OPEN_FLAGS)
        except OSError as error:
            raise ArchiveAborted(f"cannot open {entry.name}: {error}") from error
        with open(fd, "rb", buffering=0) as file:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ArchiveAborted(f"{entry.name} is no longer a regular file")
            remaining = entry.size
            while remaining:
                try:
                    count = file.readinto(view[: min(remaining, _READ_SIZE)])
                except OSError as error:
                    raise ArchiveAborted(f"cannot read {entry.name}: {error}") from error
                if not count:
                    raise ArchiveAborted(f"{entry.name} shrank while it was being sent")
                remaining -= count
                yield view[:count]
        total += entry.size
        padding = -entry.size % tarfile.BLOCKSIZE
        if padding:
            total += padding
            yield bytes(padding)
    end = 2 * tarfile.BLOCKSIZE
    end += -(total + end) % _RECORD_SIZE
    yield bytes(end)


def gzip_chunks(pieces: Iterable[bytes | memoryview], level: int) -> Iterator[list[bytes]]:
    """Compresses ``pieces`` into one gzip stream cut in chunks of at least CHUNK_SIZE.

    Each chunk is yielded as the list of its parts, not joined (which would copy
    it): write them in order. Every chunk but the last has CHUNK_SIZE bytes or more.
    """
    compressor = _new_compressor(level)
    parts: list[bytes] = []
    size = 0
    for piece in pieces:
        out = compressor.compress(piece)
        if out:
            parts.append(out)
            size += len(out)
            if size >= CHUNK_SIZE:
                yield parts
                parts = []
                size = 0
    parts.append(compressor.flush())
    yield parts


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """Returns the inclusive byte range asked for, or None to send the whole file.

    Raises:
        Unsatisfiable: The range starts past the end of the file.
    """
    match = _RANGE_RE.fullmatch(value)
    if not match or match.group(1) == match.group(2) == "":
        return None  # malformed or several ranges: ignored, as RFC 9110 allows
    first, last = match.groups()
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise Unsatisfiable
    return start, min(int(last), size - 1) if last else size - 1
