"""Streaming, refusing extraction of model archives.

The archive is decompressed and unpacked while it arrives: nothing is held
whole in memory or written whole to disk first. gzip goes through ``isal``
in a second thread when it is installed (decompression then overlaps with the
network read and the file writes), else through the standard library.

Every member is checked before anything is written: absolute paths, ``..``,
links, devices and FIFOs are refused, and so is an archive that would expand
past a limit (a gzip bomb). Files are only ever created below the destination.
A tar must end with its end-of-archive block: one cut short or with a damaged
header is an error, never a partial model (tarfile alone stops there quietly).
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import gzip
import io
import lzma
import os
import posixpath
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, TypeVar, cast

from hubmagic.core.errors import ArchiveError, CacheError, HubmagicError, UnsafeArchiveError
from hubmagic.core.store import describe_os_error

CHUNK = 1024 * 1024
MAX_MEMBERS = 1_000_000

_igzip_threaded: Any
_isal_errors: tuple[type[BaseException], ...]
try:  # isal is a hard dependency on CPython; the fallback keeps other builds working.
    from isal import igzip_threaded as _igzip_threaded
    from isal.isal_zlib import error as _isal_error

    _isal_errors = (cast(type[BaseException], _isal_error),)  # its stub calls it an instance
except ImportError:  # pragma: no cover - exercised only where isal cannot install
    _igzip_threaded = None
    _isal_errors = ()

# What reading a corrupt or truncated archive raises, from every layer: tarfile
# (TarError: ReadError, and StreamError when a header moves the stream
# backwards), the decompressors (isal's own error is no OSError), and EOF.
_READ_ERRORS: tuple[type[BaseException], ...] = (
    tarfile.TarError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    *_isal_errors,
)


ISAL_INSTALL = "pip install isal"


def decompressor_name() -> str:
    """Which gzip decompressor extraction uses, said for ``hubmagic info`` / ``%hub_info``.

    ``"isal"`` (threaded, overlapping the network read), or the standard
    library's ``"zlib"`` with why and what to install: isal is a hard
    dependency on CPython but is not preinstalled on Colab, and an install
    made with ``--no-deps`` (or a Python without its wheel) lacks it.
    """
    if _igzip_threaded is not None:
        return "isal"
    return f"zlib (isal is not installed: {ISAL_INSTALL} for faster gzip extraction)"


@dataclass(frozen=True)
class ExtractStats:
    """What an extraction wrote: counts and bytes (uncompressed)."""

    files: int
    folders: int
    bytes: int


def decompressing_reader(raw: IO[bytes]) -> IO[bytes]:
    """Wraps ``raw`` in the decompressor its first bytes call for (or none: plain tar)."""
    buffered: Any = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw, CHUNK)
    head = buffered.peek(6)[:6]
    if head[:2] == b"\x1f\x8b":
        if _igzip_threaded is not None:
            return _igzip_threaded.open(buffered, "rb", threads=1, block_size=CHUNK)  # type: ignore[no-any-return]
        return cast(IO[bytes], gzip.GzipFile(fileobj=buffered, mode="rb"))
    if head[:3] == b"BZh":
        return bz2.BZ2File(buffered, "rb")
    if head == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(buffered, "rb")
    return cast(IO[bytes], buffered)


_Info = TypeVar("_Info", bound="_CheckedTarInfo")
# In tarfile since Python 3.2, but not in typeshed.
_END_OF_ARCHIVE: type[Exception] = tarfile.EOFHeaderError  # type: ignore[attr-defined]
_CUT_HEADER: tuple[type[Exception], ...] = (
    tarfile.EmptyHeaderError,  # type: ignore[attr-defined]
    tarfile.TruncatedHeaderError,  # type: ignore[attr-defined]
)


class _CheckedTarInfo(tarfile.TarInfo):
    """A TarInfo that turns a damaged header after the first into an error.

    tarfile ends the archive quietly there: a bad checksum, a truncated header
    or the end of the stream without the end-of-archive block all read as "no
    more members", so a corrupt or cut plain tar would extract in part and
    look complete. Only the end-of-archive block (zeros) ends it here; at the
    first header tarfile's own "not a tar archive" error stands.
    """

    @classmethod
    def fromtarfile(cls: type[_Info], archive: tarfile.TarFile) -> _Info:
        try:
            return super().fromtarfile(archive)
        except _END_OF_ARCHIVE:
            raise
        except tarfile.HeaderError as exc:
            if archive.offset == 0:
                raise
            cut = isinstance(exc, _CUT_HEADER)
            raise ArchiveError(
                f"the archive is {'truncated' if cut else 'corrupt'}: its header at byte "
                f"{archive.offset} of the tar stream is {'cut short' if cut else 'damaged'} "
                f"({exc}), so the members after it would be lost"
            ) from exc


def _safe_name(name: str) -> str:
    """The member's path relative to the destination, or raises if it could escape."""
    if "\x00" in name or "\\" in name:
        raise UnsafeArchiveError(f"archive member {name!r} has a NUL or backslash in its name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"archive member {name!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchiveError(f"archive member {name!r} points outside its folder ('..')")
    return posixpath.join(*parts) if parts else ""


def extract_tar(
    stream: IO[bytes],
    dest: str,
    *,
    max_bytes: int,
    on_file: Callable[[str, int], None] | None = None,
) -> ExtractStats:
    """Extracts a (possibly compressed) tar stream into the existing folder ``dest``.

    Args:
        stream: the archive bytes, read once, front to back.
        dest: an empty folder that only this call writes to.
        max_bytes: refuse the archive once its files add up to more than this.
        on_file: called with (relative path, size) before each file is written.

    Raises:
        UnsafeArchiveError: a member is a link, device, FIFO, absolute or uses
            ``..``, or the archive expands past ``max_bytes``.
        ArchiveError: not a tar archive, or truncated / corrupt.
        CacheError: the destination cannot be written (permissions, full disk).
    """
    reader = decompressing_reader(stream)
    buffer = memoryview(bytearray(CHUNK))
    files = folders = total = 0
    try:
        with tarfile.open(
            fileobj=reader, mode="r|", bufsize=CHUNK, tarinfo=_CheckedTarInfo
        ) as archive:
            for count, member in enumerate(archive, start=1):
                if count > MAX_MEMBERS:
                    raise UnsafeArchiveError(f"archive has more than {MAX_MEMBERS} members")
                rel = _safe_name(member.name)
                if member.isdir():
                    if rel:
                        _makedirs(dest, rel)
                        folders += 1
                    continue
                if not member.isreg():
                    kind = (
                        "a symbolic link"
                        if member.issym()
                        else "a hard link"
                        if member.islnk()
                        else "a device or FIFO"
                        if member.ischr() or member.isblk() or member.isfifo()
                        else f"of an unknown type ({member.type!r})"
                    )
                    raise UnsafeArchiveError(
                        f"archive member {member.name!r} is {kind}; model archives hold "
                        "only files and folders"
                    )
                if not rel:
                    raise UnsafeArchiveError(f"archive member {member.name!r} has no file name")
                if member.size < 0:  # a base-256 size field can say so
                    raise ArchiveError(
                        f"the archive is corrupt: member {member.name!r} has a negative size"
                    )
                total += member.size
                if total > max_bytes:
                    raise UnsafeArchiveError(
                        f"archive expands to more than {max_bytes} bytes; refusing it as a "
                        "possible decompression bomb (raise HUBMAGIC_MAX_EXTRACT_BYTES if the "
                        "model really is that big)"
                    )
                if on_file is not None:
                    on_file(rel, member.size)
                source = archive.extractfile(member)
                assert source is not None  # a regular file always has a reader
                _write_file(dest, rel, source, member.size, buffer)
                files += 1
            # Read to the end: it checks the gzip CRC and length, and lets the
            # download check its Content-Length. Trailing padding is small; a
            # flood of it counts against the limit like file data.
            while chunk := reader.read(CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise UnsafeArchiveError(
                        f"archive expands to more than {max_bytes} bytes of padding after its "
                        "last file; refusing it as a possible decompression bomb"
                    )
    except HubmagicError:
        raise
    except _READ_ERRORS as exc:
        raise ArchiveError(_describe_read_error(exc)) from exc
    except OSError as exc:  # raised by the decompressors (BadGzipFile...); writes raise CacheError
        raise ArchiveError(_describe_read_error(exc)) from exc
    finally:
        if reader is not stream:
            _close_quietly(reader)
    return ExtractStats(files, folders, total)


def _describe_read_error(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError) or "unexpected end" in text or "ended before" in text:
        return f"the archive is truncated ({text}); the download was cut short"
    if isinstance(exc, tarfile.ReadError):
        return f"the download is not a tar archive ({text})"
    return f"the archive is corrupt ({text})"


def _close_quietly(reader: Any) -> None:
    # The original error matters more than one from closing.
    with contextlib.suppress(Exception):
        reader.close()


def _write_error(exc: OSError, dest: str) -> CacheError:
    what, fix = describe_os_error(exc)
    return CacheError(
        f"Could not write the model into {dest}: {what}.", path=str(exc.filename or dest), fix=fix
    )


def _create_error(exc: OSError, dest: str, rel: str) -> HubmagicError:
    """Why creating the member ``rel`` failed: the archive's doing, or the cache's."""
    if exc.errno in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
        return ArchiveError(
            f"the archive is not a model folder: member {rel!r} is both a file and a "
            f"folder in it ({exc.strerror})"
        )
    if exc.errno == errno.ENAMETOOLONG:
        return ArchiveError(f"archive member {rel!r} has a name too long for this file system")
    return _write_error(exc, dest)


def _makedirs(dest: str, rel: str) -> None:
    try:
        os.makedirs(os.path.join(dest, *rel.split("/")), exist_ok=True)
    except OSError as exc:
        raise _create_error(exc, dest, rel) from exc


def _write_file(dest: str, rel: str, source: IO[bytes], size: int, buffer: memoryview) -> None:
    parent, _, _ = rel.rpartition("/")
    if parent:
        _makedirs(dest, parent)
    target = os.path.join(dest, *rel.split("/"))
    # O_NOFOLLOW: never write through a link (none can exist, we refuse them;
    # this is the second lock on the door).
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags, 0o644)
    except OSError as exc:
        raise _create_error(exc, dest, rel) from exc
    try:
        remaining = size
        while remaining > 0:
            # One reused buffer: a fresh 1 MiB object per read cost page faults
            # and doubled this thread's CPU time (benchmarks/bench_download.py).
            n = source.readinto(buffer[: min(len(buffer), remaining)])  # type: ignore[attr-defined]
            if not n:
                raise ArchiveError(f"the archive is truncated inside {rel}")
            written = 0
            while written < n:
                try:
                    written += os.write(fd, buffer[written:n])
                except OSError as exc:
                    raise _write_error(exc, dest) from exc
            remaining -= n
    finally:
        os.close(fd)
