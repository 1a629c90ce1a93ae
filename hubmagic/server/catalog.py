"""Which models a served root holds, and which one a request path names.

A :class:`Catalog` is the server's only view of the file system: it lists the
model paths under the root (SavedModel folders and prebuilt archives), maps a
model path, or the parts of a Kaggle URL, to a :class:`Model`, and lists the
files of a model folder as archive entries. Every check that keeps the server
inside its root lives here: paths with ``..``, empty segments, backslashes or
NULs are refused, and symbolic links are followed only when their target stays
inside the root. The HTTP handler only ever reaches files through it.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from hubmagic.server.archive import Entry

__all__ = [
    "KAGGLE_API",
    "KAGGLE_PAGE",
    "PREBUILT_SUFFIXES",
    "SAVED_MODEL_FILES",
    "Catalog",
    "Model",
]

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
"""File names that make a folder a SavedModel."""

PREBUILT_SUFFIXES = (
    (".tar.gz", "application/x-gzip"),
    (".tgz", "application/x-gzip"),
    (".tar", "application/x-tar"),
)
"""Suffixes of prebuilt archives, in order of preference, with their content type."""

KAGGLE_PAGE = ("models", None, None, "frameworks", None, "variations", None, "versions", None)
"""Segments of a Kaggle model page URL; ``None`` stands for owner, model, etc."""

KAGGLE_API = ("api", "v1", "models", None, None, None, None, None, "download")
"""Segments of a Kaggle API download URL; ``None`` stands for owner, model, etc."""


@dataclass(frozen=True)
class Model:
    """A model found under the root.

    Attributes:
        path: Its model path (``/``-separated, relative to the root).
        folder: Its SavedModel folder (real path), or None if it has none.
        archive: Its prebuilt archive (real path), or None to generate one.
        archive_type: Content type of :attr:`archive` (or of a generated one).
    """

    path: str
    folder: str | None
    archive: str | None
    archive_type: str

    def gcs_location(self, prefix: str) -> str:
        """The ``gs://`` path of this model in the bucket folder ``prefix``."""
        return f"{prefix.rstrip('/')}/{self.path}"


def _is_inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _sorted_items(directory: str) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as scan:
        return sorted(scan, key=lambda item: item.name)


def _valid_segments(rel: str) -> list[str] | None:
    """Splits a model path on ``/``, or returns None if a segment could escape the root."""
    segments = rel.split("/")
    for segment in segments:
        if segment in ("", ".", "..") or "\\" in segment or "\x00" in segment:
            return None
    return segments


def _kaggle_variables(
    segments: list[str], pattern: tuple[str | None, ...]
) -> tuple[str, str, str, str, str] | None:
    if len(segments) != len(pattern):
        return None
    values: list[str] = []
    for segment, expected in zip(segments, pattern, strict=False):
        if expected is None:
            values.append(segment)
        elif segment != expected:
            return None
    if _valid_segments("/".join(values)) is None or len(values) != 5:
        return None
    owner, model, framework, variation, version = values
    return owner, model, framework, variation, version


class Catalog:
    """The models under one root folder.

    Args:
        root: The served folder, with symbolic links already resolved.
    """

    def __init__(self, root: str) -> None:
        self.root = root

    def models(self) -> list[str]:
        """Lists the model paths under the root (see :meth:`HubServer.models`)."""
        found: set[str] = set()
        seen: set[tuple[int, int]] = set()

        def walk(folder: str, prefix: str) -> None:
            try:
                info = os.stat(folder)
                items = _sorted_items(folder)
            except OSError:
                return
            if (info.st_dev, info.st_ino) in seen:
                return
            seen.add((info.st_dev, info.st_ino))
            for item in items:
                real = os.path.realpath(item.path)
                if not _is_inside(real, self.root):
                    continue
                rel = prefix + item.name
                if os.path.isdir(real):
                    if self._is_model_folder(real):
                        found.add(rel)
                    else:
                        walk(real, rel + "/")
                elif os.path.isfile(real):
                    for suffix, _ in PREBUILT_SUFFIXES:
                        if item.name.endswith(suffix) and len(item.name) > len(suffix):
                            found.add(rel[: -len(suffix)])
                            break

        walk(self.root, "")
        return sorted(found)

    def _is_model_folder(self, real: str) -> bool:
        for name in SAVED_MODEL_FILES:
            path = os.path.join(real, name)
            if os.path.isfile(path) and _is_inside(os.path.realpath(path), self.root):
                return True
        return False

    def resolve(self, rel: str) -> Model | None:
        """The model at model path ``rel``, preferring a prebuilt archive, or None."""
        segments = _valid_segments(rel)
        if segments is None:
            return None
        base = os.path.join(self.root, *segments)
        real = os.path.realpath(base)
        folder = None
        if _is_inside(real, self.root) and os.path.isdir(real) and self._is_model_folder(real):
            folder = real
        for suffix, content_type in PREBUILT_SUFFIXES:
            archive = os.path.realpath(base + suffix)
            if _is_inside(archive, self.root) and os.path.isfile(archive):
                return Model("/".join(segments), folder, archive, content_type)
        if folder is None:
            return None
        return Model("/".join(segments), folder, None, "application/x-gzip")

    def resolve_kaggle(self, segments: list[str], pattern: tuple[str | None, ...]) -> Model | None:
        """The model named by URL path ``segments`` of the Kaggle form ``pattern``, or None.

        ``<owner>/<model>/<framework>/<variation>/<version>`` is looked for
        first, then without the framework, then as ``<owner>/<model>/<version>``.
        """
        variables = _kaggle_variables(segments, pattern)
        if variables is None:
            return None
        owner, model, framework, variation, version = variables
        for candidate in (
            f"{owner}/{model}/{framework}/{variation}/{version}",
            f"{owner}/{model}/{variation}/{version}",
            f"{owner}/{model}/{version}",
        ):
            found = self.resolve(candidate)
            if found is not None:
                return found
        return None

    def scan(self, folder: str) -> list[Entry]:
        """Lists the archive entries of a model folder, sorted, depth first.

        Symbolic links are followed when their target is inside the root;
        other links, special files and link loops are left out.

        Raises:
            OSError: A folder cannot be listed.
        """
        entries: list[Entry] = []

        def walk(directory: str, prefix: str, ancestors: frozenset[tuple[int, int]]) -> None:
            for item in _sorted_items(directory):
                source = item.path
                if item.is_symlink():
                    source = os.path.realpath(source)
                    if not _is_inside(source, self.root):
                        continue
                try:
                    info = os.stat(source)
                except OSError:
                    continue
                name = prefix + item.name
                if stat.S_ISDIR(info.st_mode):
                    key = (info.st_dev, info.st_ino)
                    if key in ancestors:
                        continue
                    entries.append(Entry(name, source, True, 0, int(info.st_mtime), 0o755))
                    walk(source, name + "/", ancestors | {key})
                elif stat.S_ISREG(info.st_mode):
                    mode = 0o755 if info.st_mode & 0o111 else 0o644
                    entries.append(
                        Entry(name, source, False, info.st_size, int(info.st_mtime), mode)
                    )

        top = os.stat(folder)
        walk(folder, "", frozenset({(top.st_dev, top.st_ino)}))
        return entries
