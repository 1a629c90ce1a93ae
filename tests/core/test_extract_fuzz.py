"""Fuzzing the tar extractor with hostile, mutated and truncated archives (hypothesis).

The archives start as valid tar / tar.gz / tar.bz2 / tar.xz of a SavedModel-shaped
folder, in the three tar formats, and are then mutated (bit flips, truncations,
overwritten and inserted bytes) or given hostile members (escaping and odd
names, links, devices, FIFOs and unknown types, negative and huge sizes).

Properties of :func:`hubmagic.core.extract.extract_tar` (each test says which):

- **outcome**: it returns, or raises a :class:`HubmagicError`; nothing else;
- **confined**: nothing is written outside the destination folder (its parent
  folder, which holds a bystander file, is the same before and after; an absolute
  name's target does not appear), and on success the destination holds only
  regular files and folders;
- **whole or nothing**: an archive cut short, or with one bit flipped, either
  fails or extracts every file at its size (and byte for byte when cut short or
  compressed: the gzip, bzip2 and xz checks see every flip);
- **refused types**: a link, device, FIFO or unknown member type never succeeds;
- **blame**: the destination is writable, so a failure is an :class:`ArchiveError`
  (the archive's fault), never a :class:`CacheError` (members that clash as file
  and folder, or a name too long, were blamed on the cache).

Through :func:`hubmagic.resolve` against a local HTTP server, a failed
extraction leaves no cache entry, lock or tmp folder behind (the resolver
removes its tmp folder on every failure).

Determinism: ``derandomize=True`` derives every example from the test itself
and ``database=None`` keeps no examples between runs, so CI runs the same
examples on every run and cannot flake on a newly drawn one; the bugs found are
pinned with ``@example``. Example counts are bounded to keep both fuzz files
well under ten seconds on two cores.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import hubmagic
from hubmagic.core.errors import CacheError, HubmagicError
from hubmagic.core.extract import ExtractStats, extract_tar
from tests.faulty_server import FaultyServer
from tests.snapshot import snapshot

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MAX_BYTES = 1 << 20
ESCAPE = "/tmp/hubmagic-fuzz-escape"
"""Where an absolute member name would land: it must never appear."""

FORMATS: dict[str, Literal[0, 1, 2]] = {
    "gnu": tarfile.GNU_FORMAT,
    "pax": tarfile.PAX_FORMAT,
    "ustar": tarfile.USTAR_FORMAT,
}
COMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "tar": lambda data: data,
    "gz": lambda data: gzip.compress(data, mtime=0),
    "bz2": bz2.compress,
    "xz": lzma.compress,
}
FILE_NAMES = (
    "saved_model.pb",
    "variables/variables.index",
    "variables/variables.data-00000-of-00001",
    "assets/vocab.txt",
    "fingerprint.pb",
)


@dataclass(frozen=True)
class Spec:
    """A valid archive of a SavedModel-shaped folder, and what it holds."""

    fmt: str
    compression: str
    files: tuple[tuple[str, bytes], ...]

    def tar(self) -> bytes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=FORMATS[self.fmt]) as tar:
            for folder in ("variables", "assets"):
                info = tarfile.TarInfo(folder)
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            for name, data in self.files:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    def archive(self) -> bytes:
        return COMPRESS[self.compression](self.tar())

    def expected(self) -> dict[str, bytes]:
        return dict(self.files)


specs = st.builds(
    Spec,
    st.sampled_from(sorted(FORMATS)),
    st.sampled_from(sorted(COMPRESS)),
    st.tuples(*(st.binary(min_size=1, max_size=700) for _ in FILE_NAMES)).map(
        lambda contents: tuple(zip(FILE_NAMES, contents, strict=True))
    ),
)
BASE = Spec("gnu", "tar", tuple((name, name.encode() * 3) for name in FILE_NAMES))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid archive, then up to five flips, cuts, overwrites or insertions."""
    data = bytearray(draw(specs).archive())
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(data) - 1))
        operation = draw(st.sampled_from(["flip", "cut", "overwrite", "insert"]))
        if operation == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif operation == "cut":
            del data[max(at, 1) :]
        elif operation == "overwrite":
            data[at : at + 8] = draw(st.binary(min_size=1, max_size=8))
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


def extract(data: bytes) -> tuple[ExtractStats | HubmagicError, dict[str, bytes]]:
    """Extracts ``data`` into a fresh folder beside a bystander; checks the **confined** property.

    Returns the stats or the error, and on success every file extracted.
    """
    assert not os.path.lexists(ESCAPE)
    with tempfile.TemporaryDirectory() as parent:
        root = Path(parent)
        (root / "bystander").write_bytes(b"untouched")
        dest = root / "dest"
        dest.mkdir()
        before = snapshot(root)
        outcome: ExtractStats | HubmagicError
        try:
            outcome = extract_tar(io.BytesIO(data), str(dest), max_bytes=MAX_BYTES)
        except HubmagicError as exc:  # anything else fails the test: the **outcome** property
            outcome = exc
        event(type(outcome).__name__)
        # The destination is writable: a failure is the archive's (ArchiveError).
        assert not isinstance(outcome, CacheError), outcome
        after = {name: size for name, size in snapshot(root).items() if name.startswith("dest/")}
        assert {**before, **after} == snapshot(root), "written outside the destination"
        assert not os.path.lexists(ESCAPE), "an absolute member name was followed"
        files: dict[str, bytes] = {}
        for path in dest.rglob("*"):
            mode = path.lstat().st_mode
            assert stat.S_ISREG(mode) or stat.S_ISDIR(mode), f"{path} is neither file nor folder"
            if stat.S_ISREG(mode):
                files[path.relative_to(dest).as_posix()] = path.read_bytes()
        return outcome, files


# Found by this fuzzing, all fixed in extract.py:
# - isal's threaded gzip reader raises IsalError (no OSError) on a corrupt
#   deflate stream: it escaped as a bare exception;
# - tarfile ends the archive quietly at a damaged header after the first, or
#   where a plain tar is cut on a block boundary: a partial model extracted
#   as if complete;
# - a negative (base-256 or pax) size wrote an empty file and hid what followed;
# - members clashing as file and folder, or with a name too long for the file
#   system, were reported as a CacheError (the cache's fault), not an ArchiveError.
BASE_GZ = gzip.compress(BASE.tar(), mtime=0)
END_BLOCK = 512 * (2 + 2 * len(FILE_NAMES))
"""Where BASE's end-of-archive block starts: two folders, then each file in one block."""


@given(data=mutated())
@FUZZ
@example(data=BASE_GZ[:10] + b"\xff" * 4 + BASE_GZ[14:])  # IsalError: invalid deflate block
def test_a_mutated_archive_extracts_or_fails_with_a_hubmagic_error(data: bytes) -> None:
    """**outcome** and **confined**, for any mutation of a valid archive."""
    extract(data)


def assert_whole(spec: Spec, files: dict[str, bytes], *, exact: bool) -> None:
    """Every file of ``spec`` is there at its size, and byte for byte if ``exact``."""
    expected = spec.expected()
    if exact:
        assert files == expected
    else:
        assert {n: len(b) for n, b in files.items()} == {n: len(b) for n, b in expected.items()}


def _flip(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


@st.composite
def one_flip(draw: st.DrawFn) -> tuple[Spec, bytes]:
    spec = draw(specs)
    data = spec.archive()
    return spec, _flip(data, draw(st.integers(0, len(data) * 8 - 1)))


@given(case=one_flip())
@FUZZ
# A flip in the checksum of the third file's header: tarfile stopped there, quietly.
@example(case=(BASE, _flip(BASE.tar(), (6 * 512 + 150) * 8)))
# A flip in the end-of-archive block: not zeros, so not the end.
@example(case=(BASE, _flip(BASE.tar(), (END_BLOCK + 10) * 8)))
def test_one_flipped_bit_fails_or_extracts_every_file(case: tuple[Spec, bytes]) -> None:
    """**whole or nothing** for one flipped bit (and **outcome**, **confined**).

    A plain tar has no checksum over file data, so a flip there changes a file's
    bytes but not its size; every header is checksummed, and so is everything in
    a compressed archive.
    """
    spec, data = case
    outcome, files = extract(data)
    if not isinstance(outcome, HubmagicError):
        assert_whole(spec, files, exact=spec.compression != "tar")


@st.composite
def one_cut(draw: st.DrawFn) -> tuple[Spec, bytes]:
    spec = draw(specs)
    data = spec.archive()
    # Block boundaries are where tarfile used to stop quietly: draw them often.
    anywhere = st.integers(0, len(data) - 1)
    boundary = st.integers(0, len(data) // 512).map(lambda block: block * 512)
    at = draw(st.one_of(anywhere, boundary))
    return spec, data[:at]


@given(case=one_cut())
@FUZZ
# Cut between two members of a plain tar: tarfile saw the end of the archive.
@example(case=(BASE, BASE.tar()[: 4 * 512]))
@example(case=(BASE, BASE.tar()[: 4 * 512 + 100]))
def test_a_cut_archive_fails_or_extracts_every_file_whole(case: tuple[Spec, bytes]) -> None:
    """**whole or nothing** for an archive cut short (and **outcome**, **confined**).

    A cut in the zero padding after the end-of-archive block loses nothing and
    may succeed; any other cut must fail.
    """
    spec, data = case
    outcome, files = extract(data)
    if not isinstance(outcome, HubmagicError):
        assert_whole(spec, files, exact=True)


HOSTILE_NAMES = (
    "/tmp/hubmagic-fuzz-escape",
    "../bystander",
    "../escaped",
    "variables/../../escaped",
    "./../escaped",
    "..",
    ".",
    "",
    "/",
    "C:/escaped",
    "..\\escaped",
    "\x00escaped",
    "a" * 300,
    "deep/" * 60 + "file",
    "saved_model.pb/inside",
    "variables",
    "\udcff\udcfe",
    "é/ü/模型",
)
TYPES = (
    tarfile.REGTYPE,
    tarfile.AREGTYPE,
    tarfile.DIRTYPE,
    tarfile.CONTTYPE,
    tarfile.SYMTYPE,
    tarfile.LNKTYPE,
    tarfile.CHRTYPE,
    tarfile.BLKTYPE,
    tarfile.FIFOTYPE,
    b"Z",
    b"V",
)
REFUSED_TYPES = {tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE}
REFUSED_TYPES |= {tarfile.FIFOTYPE, b"Z", b"V"}


@dataclass(frozen=True)
class Member:
    name: str
    kind: bytes
    size: int
    link: str = ""


members = st.builds(
    Member,
    st.one_of(
        st.sampled_from(HOSTILE_NAMES),
        st.text(st.sampled_from("ab./\\:\x00~é"), max_size=12),
    ),
    st.sampled_from(TYPES),
    st.one_of(
        st.integers(0, 600),
        st.sampled_from([-1, -512, MAX_BYTES, MAX_BYTES + 1, 8**11, 2**62]),
    ),
    st.sampled_from(["", "/etc/passwd", "..", "saved_model.pb", ESCAPE]),
)


def holds_data(member: Member) -> bool:
    """Whether tarfile reads data after the member's header (a file: its size counts)."""
    if member.kind == tarfile.AREGTYPE:
        return not member.name.endswith("/")  # tarfile reads that as a folder
    return member.kind in (tarfile.REGTYPE, tarfile.CONTTYPE)


def _entry(fmt: str, info: tarfile.TarInfo, data: bytes) -> bytes:
    return info.tobuf(FORMATS[fmt], "utf-8", "surrogateescape") + data + bytes(-len(data) % 512)


def hostile_archive(
    fmt: str, compression: str, extra: list[Member], at: int
) -> tuple[bytes, list[Member]]:
    """BASE with ``extra`` members after its first ``at`` files, written block by block.

    A member's data is written only when its size is small and not negative, so a
    huge size runs into the members after it (a truncated or corrupt archive).
    A member the format cannot express (a negative size in ustar, ...) is left out:
    returns the archive and the members written.
    """
    blocks = []
    for name, data in BASE.files:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        blocks.append(_entry(fmt, info, data))
    hostile, written = [], []
    for member in extra:
        info = tarfile.TarInfo(member.name)
        info.type = member.kind
        info.linkname = member.link
        info.size = member.size
        try:
            hostile.append(_entry(fmt, info, b"m" * member.size if member.size <= 600 else b""))
        except (ValueError, UnicodeEncodeError):
            continue
        written.append(member)
    blocks[at:at] = hostile
    return COMPRESS[compression](b"".join(blocks) + bytes(1024)), written


@given(
    fmt=st.sampled_from(sorted(FORMATS)),
    compression=st.sampled_from(["tar", "gz"]),
    extra=st.lists(members, min_size=1, max_size=3),
    at=st.integers(0, len(FILE_NAMES)),
)
@FUZZ
# A negative size (GNU base-256) wrote an empty file and hid the members after it.
@example(fmt="gnu", compression="tar", extra=[Member("x", tarfile.REGTYPE, -1)], at=1)
# A file below a file, and a name too long: blamed on the cache (CacheError).
@example(fmt="gnu", compression="tar", extra=[Member("saved_model.pb/x", tarfile.REGTYPE, 1)], at=5)
@example(fmt="pax", compression="gz", extra=[Member("a" * 300, tarfile.REGTYPE, 1)], at=0)
def test_hostile_members_are_refused_and_nothing_escapes(
    fmt: str, compression: str, extra: list[Member], at: int
) -> None:
    """**outcome** and **confined**; **refused types**; a negative size never succeeds."""
    data, written = hostile_archive(fmt, compression, extra, at)
    outcome, _ = extract(data)
    if not isinstance(outcome, HubmagicError):
        assert not any(m.kind in REFUSED_TYPES for m in written), "a refused member type passed"
        assert not any(m.size < 0 and holds_data(m) for m in written), "a negative size passed"


@pytest.fixture(scope="module")
def server() -> Iterator[FaultyServer]:
    running = FaultyServer(b"")
    yield running
    running.stop()


_served = iter(range(1_000_000))


@given(case=st.one_of(one_cut(), one_flip()))
@settings(FUZZ, max_examples=12)
@example(case=(BASE, BASE.tar()[: 4 * 512]))  # was a model without its variables
@example(case=(BASE, _flip(BASE.tar(), (3 * 512 + 3) * 8)))  # a flip in saved_model.pb: a model
def test_a_failed_download_leaves_nothing_in_the_cache(
    case: tuple[Spec, bytes], server: FaultyServer, tmp_path: Path
) -> None:
    """Through ``hubmagic.resolve``: a HubmagicError leaves no entry, lock or tmp folder.

    An archive cut short or with a flipped bit is served; a download that works
    holds every file (**whole or nothing**), in its own entry: each example has
    its own URL, so its own cache key.
    """
    spec, data = case
    n = next(_served)  # tmp_path is the same for every example: a cache and a URL each
    cache = tmp_path / f"cache-{n}"
    server.payload = data
    url = f"{server.url}/model-{n}.tar.gz"
    try:
        path = hubmagic.resolve(url, cache_dir=str(cache))
    except HubmagicError as exc:
        event(type(exc).__name__)
        assert not cache.exists() or sorted(os.listdir(cache)) == []
    else:
        event("a model")
        entry = Path(path)
        assert entry.parent == cache
        assert [n for n in os.listdir(cache) if n.endswith((".tmp", ".lock"))] == []
        got = {p.relative_to(entry).as_posix(): p for p in entry.rglob("*") if p.is_file()}
        cut = len(data) < len(spec.archive())  # else one bit flipped
        files = {name: p.read_bytes() for name, p in got.items()}
        assert_whole(spec, files, exact=cut or spec.compression != "tar")
