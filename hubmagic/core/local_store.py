"""A cache root on a local or mounted file system, in tensorflow_hub's exact layout.

See :mod:`hubmagic.core.store` for the protocol it implements and
:mod:`hubmagic.core.names` for the names it manages.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import time
import uuid
from collections.abc import Callable

from hubmagic.core.errors import CacheError, Fix
from hubmagic.core.names import HEARTBEAT_FILE, KEY_PATTERN, TMP_SUFFIX, CacheNames
from hubmagic.core.savedmodel import GRAPH_FILES
from hubmagic.core.store import Item, TmpGuard, cache_error, walk

_TOUCH_EVERY_S = 60.0
_touched: dict[str, float] = {}  # folder -> when this process last marked it used


def _file_in_the_way(root: str) -> CacheError:
    blocker = os.path.abspath(root)
    while not os.path.lexists(blocker) and os.path.dirname(blocker) != blocker:
        blocker = os.path.dirname(blocker)
    what = (
        "is a file, not a folder"
        if blocker == os.path.abspath(root)
        else f"cannot be created: {blocker} is a file"
    )
    return CacheError(
        f"The cache folder {root} {what}.", path=root, fix=Fix("Choose a folder: {setup_cache}.")
    )


class LocalStore(CacheNames):
    """A cache root on a local or mounted file system."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))
        self._guards: dict[str, TmpGuard] = {}  # tmp name -> its holder's heartbeat

    def __repr__(self) -> str:
        return f"LocalStore({self.root!r})"

    # -- names --------------------------------------------------------------
    def path(self, name: str) -> str:
        return os.path.join(self.root, name)

    # -- reading ------------------------------------------------------------

    def folder_files(self, name: str) -> dict[str, int] | None:
        """The files of folder ``name`` with sizes, or ``None`` if it is not a folder."""
        full = self.path(name)
        if not os.path.isdir(full):
            return None
        return {rel: st.st_size for rel, st in walk(full)}

    def model_files(self, name: str) -> dict[str, int] | None:
        """What :func:`~hubmagic.savedmodel.find_problem` needs of folder ``name``, cheaply.

        This runs on every cache hit, so the usual case costs one ``stat`` of
        the graph file and one listing of ``variables/`` (assets, which can be
        thousands of files, are never listed). Only when the graph file is
        missing is the root listed, to say what is there instead.
        """
        full = self.path(name)
        files: dict[str, int] = {}
        for graph in GRAPH_FILES:
            try:
                files[graph] = os.stat(os.path.join(full, graph)).st_size
                break
            except (FileNotFoundError, NotADirectoryError):
                continue
        if not files:
            return self._root_listing(full)
        try:
            with os.scandir(os.path.join(full, "variables")) as variables:
                for entry in variables:
                    files[f"variables/{entry.name}"] = 1
        except (FileNotFoundError, NotADirectoryError):
            pass
        return files

    @staticmethod
    def _root_listing(full: str) -> dict[str, int] | None:
        files: dict[str, int] = {}
        try:
            with os.scandir(full) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        files[f"{entry.name}/"] = 0  # a folder; its content does not matter
                    else:
                        files[entry.name] = 1
        except (FileNotFoundError, NotADirectoryError):
            return None
        return files

    def tmp_names(self, key: str) -> list[str]:
        """Names of every ``<key>.<uid>.tmp`` folder at the root (ours and others')."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise cache_error(exc, self.root, "list the cache folder") from exc
        prefix = key + "."
        return sorted(n for n in names if n.startswith(prefix) and n.endswith(TMP_SUFFIX))

    def read_text(self, name: str) -> str | None:
        """The content of file ``name``, or ``None`` when it does not exist."""
        try:
            with open(self.path(name), encoding="utf-8", errors="replace") as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def tree_size(self, name: str) -> int:
        """Bytes below ``name`` (a file's own size), 0 when it does not exist."""
        full = self.path(name)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return 0
        if not stat.S_ISDIR(st.st_mode):
            return st.st_size
        return sum(s.st_size for _, s in walk(full))

    def inventory(self) -> tuple[list[Item], list[str]]:
        """Everything at the root, with sizes; and warnings for what could not be read."""
        items: list[Item] = []
        warnings: list[str] = []
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return items, warnings
        except OSError as exc:
            raise cache_error(exc, self.root, "list the cache folder") from exc
        for entry in sorted(entries, key=lambda e: e.name):
            try:
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode) and not KEY_PATTERN.match(entry.name):
                    # Not a cache entry: the scan leaves it alone, so it is not walked
                    # (a --cache pointing at a home folder must not read all of it).
                    items.append(Item(entry.name, True, 0, st.st_mtime, st.st_mtime, {}))
                elif stat.S_ISDIR(st.st_mode):
                    files: dict[str, int] = {}
                    newest = st.st_mtime
                    for rel, fst in walk(entry.path):
                        files[rel] = fst.st_size
                        newest = max(newest, fst.st_mtime)
                    size = sum(files.values())
                    items.append(Item(entry.name, True, size, st.st_mtime, newest, files))
                else:
                    items.append(Item(entry.name, False, st.st_size, st.st_mtime, st.st_mtime))
            except OSError as exc:
                warnings.append(f"could not read {entry.path}: {exc.strerror or exc}")
        return items, warnings

    # -- writing ------------------------------------------------------------
    def ensure_root(self) -> None:
        try:
            os.makedirs(self.root, exist_ok=True)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTDIR):  # a file is in the way
                raise _file_in_the_way(self.root) from exc
            raise cache_error(exc, self.root, "create the cache folder") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise cache_error(
                PermissionError(errno.EACCES, "Permission denied"), self.root, "write to"
            )

    def create_exclusive(self, name: str, content: str) -> bool:
        """Creates file ``name`` holding ``content`` unless it exists; True if we did.

        The content is written to a private file first and then hard-linked into
        place: ``link`` fails if the name exists, so the file appears whole and
        only one creator wins, even on NFS (unlike ``O_EXCL`` on old NFS).
        """
        target = self.path(name)
        private = f"{target}.{uuid.uuid4().hex}.new"
        try:
            with open(private, "x", encoding="utf-8") as f:
                f.write(content)
            try:
                os.link(private, target)
            except FileExistsError:
                return False
            return True
        except OSError as exc:
            raise cache_error(exc, target, "create") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(private)

    def write_text(self, name: str, content: str) -> None:
        """Writes file ``name`` atomically (readers see the old or the new text)."""
        target = self.path(name)
        private = f"{target}.{uuid.uuid4().hex}.new"
        try:
            with open(private, "w", encoding="utf-8") as f:
                f.write(content)
            os.replace(private, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(private)
            raise cache_error(exc, target, "write") from exc

    def remove_file(self, name: str) -> bool:
        """Removes file ``name``; False if it was already gone."""
        try:
            os.unlink(self.path(name))
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise cache_error(exc, self.path(name), "remove") from exc

    def remove_tree(self, name: str) -> bool:
        """Removes folder (or file) ``name`` and all below it; False if already gone."""
        guard = self._guards.pop(name, None)
        if guard is not None:
            guard.stop()  # no heartbeat may recreate the folder
        full = self.path(name)
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full)
            else:
                os.unlink(full)
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise cache_error(exc, full, "remove") from exc

    def take_file(self, name: str, expected: str) -> bool:
        """Removes file ``name`` only if it still holds ``expected``; True if removed.

        Used to break a stale lock: the lock is first renamed to a private name
        (atomic, so of several processes breaking it only one gets it), then
        checked; if a fresh lock had replaced the stale one in between, it is put
        back.
        """
        target = self.path(name)
        private = f"{target}.{uuid.uuid4().hex}.stale"
        try:
            os.rename(target, private)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise cache_error(exc, target, "remove") from exc
        try:
            with open(private, encoding="utf-8", errors="replace") as f:
                content = f.read()
            if content != expected:
                with contextlib.suppress(FileExistsError):
                    os.link(private, target)
                return False
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(private)

    def make_folder(self, name: str) -> str:
        full = self.path(name)
        try:
            os.mkdir(full)
        except OSError as exc:
            raise cache_error(exc, full, "create") from exc
        return full

    def file_hook(self, tmp: str) -> Callable[[str, int], None] | None:
        """None: files are extracted in place, there is nothing to do per file."""
        return None

    def publish(self, tmp: str, name: str, report: Callable[[str], None] | None = None) -> bool:
        """Renames folder ``tmp`` onto ``name``; False if ``name`` exists already.

        ``report`` is unused here: a rename is instant. The heartbeat is stopped
        and its file removed first (it is no part of the model), then the lock
        is checked (``guard.check()``, raising when another process took it over).
        """
        guard = self._guards.pop(tmp, None)
        if guard is not None:
            guard.stop()
            guard.check()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.path(tmp), HEARTBEAT_FILE))
        try:
            os.rename(self.path(tmp), self.path(name))
            return True
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                return False
            raise cache_error(exc, self.path(name), "move the download into") from exc

    def guard(self, tmp: str, guard: TmpGuard) -> None:
        """See :meth:`Store.guard <hubmagic.core.store.Store.guard>`: ``publish`` and
        ``remove_tree`` stop it; a shared (NFS) folder's waiters watch the file it writes."""
        self._guards[tmp] = guard

    def touch(self, name: str) -> None:
        """Marks ``name`` as just used (for least-recently-used pruning); best effort.

        At most once a minute per folder and process: pruning needs no finer
        "last used", and hits in a loop then cost no write to the disk.
        """
        path = self.path(name)
        now = time.monotonic()
        if now - _touched.get(path, -_TOUCH_EVERY_S) < _TOUCH_EVERY_S:
            return
        with contextlib.suppress(OSError):
            os.utime(path)
            _touched[path] = now
