"""Plugs hubmagic's resolver into tensorflow_hub, so plain ``hub.load`` gets its benefits.

tensorflow_hub tries the resolvers in its registry in reverse order of
registration, so one added after its import wins. ``tensorflow_hub.registry``
is internal (tensorflow_hub 0.16.1 is the last release): every access is
guarded, and a tensorflow_hub without it simply keeps its own resolvers.

``%load_ext hubmagic`` must not import tensorflow_hub, so :func:`install`
registers at once only when tensorflow_hub is already imported, and otherwise
waits for its import with a small ``sys.meta_path`` hook.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from hubmagic.core.progress import ProgressCallback

_TFHUB = "tensorflow_hub"


class HubmagicResolver:
    """A tensorflow_hub resolver: ``is_supported(handle)`` and ``__call__(handle) -> path``."""

    def __init__(self) -> None:
        self.enabled = True
        # The magics' renderer while the extension is loaded; else the fallback
        # (hubmagic.api's, which honours TFHUB_DOWNLOAD_PROGRESS in scripts).
        self.progress_factory: Callable[[], ProgressCallback | None] | None = None
        self.fallback_factory: Callable[[], ProgressCallback | None] = lambda: None

    def is_supported(self, handle: str) -> bool:
        if not self.enabled or not isinstance(handle, str):
            return False
        from hubmagic.core.errors import HubmagicError
        from hubmagic.core.handle import HandleKind
        from hubmagic.core.handle import parse as parse_handle

        try:
            # The endpoint does not change what a handle is; a bad HUBMAGIC_ENDPOINT
            # is then reported by resolve (not silently ignored by tensorflow_hub).
            kind = parse_handle(handle, endpoint=None).kind
        except (HubmagicError, OSError):
            return False  # let tensorflow_hub's own resolvers say what is wrong
        if kind in (HandleKind.LOCAL_FOLDER, HandleKind.GCS_FOLDER):
            return False
        return _cache_is_ours()

    def __call__(self, handle: str) -> str:
        from hubmagic.core.resolver import resolve

        factory = self.progress_factory or self.fallback_factory
        return resolve(handle, progress=factory())


def _cache_is_ours() -> bool:
    """Whether hubmagic stores to the cache in force (a local folder, file:// or gs://).

    On ``s3://``, ``hdfs://``, ... tensorflow_hub caches through its own file
    systems: its resolvers handle the handle, exactly as without hubmagic.
    """
    from hubmagic.core import config
    from hubmagic.core.errors import UnsupportedCacheError

    try:
        config.check_cache_dir()
    except UnsupportedCacheError:
        return False
    return True


RESOLVER = HubmagicResolver()
_registered_in: list[ModuleType] = []


def register() -> bool:
    """Adds :data:`RESOLVER` to tensorflow_hub's registry, once; False if impossible."""
    RESOLVER.enabled = True
    try:
        from tensorflow_hub import registry
    except ImportError:
        return False
    if registry in _registered_in:
        return True
    try:
        registry.resolver.add_implementation(RESOLVER)
    except AttributeError:  # an internal API that moved: keep tensorflow_hub's own
        return False
    _registered_in.append(registry)
    return True


class _RegisterAfterImport(importlib.abc.MetaPathFinder):
    """Registers the resolver right after ``tensorflow_hub`` finishes importing."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _TFHUB:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        original: Any = spec.loader

        class Loader(importlib.abc.Loader):
            def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
                return original.create_module(spec)  # type: ignore[no-any-return]

            def exec_module(self, module: ModuleType) -> None:
                original.exec_module(module)
                uninstall_hook()
                register()

        spec.loader = Loader()
        return spec


_HOOK = _RegisterAfterImport()


def install(progress_factory: Callable[[], ProgressCallback | None] | None = None) -> None:
    """Registers now if tensorflow_hub is imported, else as soon as it is."""
    if progress_factory is not None:
        RESOLVER.progress_factory = progress_factory
    RESOLVER.enabled = True
    if _TFHUB in sys.modules:
        register()
    elif _HOOK not in sys.meta_path:
        sys.meta_path.insert(0, _HOOK)


def uninstall_hook() -> None:
    while _HOOK in sys.meta_path:
        sys.meta_path.remove(_HOOK)


def uninstall() -> None:
    """Stops hubmagic's resolver (the registry has no removal; it declines every handle)."""
    uninstall_hook()
    RESOLVER.enabled = False
    RESOLVER.progress_factory = None
