"""The Python API's calls that span layers: setting up, resolving and loading from a script.

The layers below never print and never import the display layer; these
wrappers add what a plain script expects of tensorflow_hub: with
``TFHUB_DOWNLOAD_PROGRESS`` set and no ``progress`` callback given, downloads
print text progress (as tensorflow_hub's do), and an applied setup puts
hubmagic under every plain ``hub.load``. The magics call :func:`setup` too.
Each wrapper keeps the signature and docstring of the function it wraps.
Importing this module is light: TensorFlow loads inside ``load`` only.
"""

from __future__ import annotations

import functools
from typing import Any

from hubmagic import plan
from hubmagic.core import config, resolver
from hubmagic.core.progress import ProgressCallback
from hubmagic.core.resolver import Resolved
from hubmagic.plan import SetupPlan
from hubmagic.tf import loader, plug
from hubmagic.tf.loader import Loaded


def script_progress() -> ProgressCallback | None:
    """Text progress when ``TFHUB_DOWNLOAD_PROGRESS`` asks for it (tensorflow_hub's switch)."""
    if not config.download_progress():
        return None
    from hubmagic.ui.textprogress import TextProgress

    return TextProgress()


@functools.wraps(plan.setup)
def setup(*args: Any, **kwargs: Any) -> SetupPlan:
    # Detects, plans and, when the plan has no problems, applies (hubmagic.plan.setup);
    # an applied plan also plugs hubmagic into tensorflow_hub, so plain hub.load calls
    # follow it. A plan with problems is returned unapplied: nothing is changed.
    result = plan.setup(*args, **kwargs)
    if result.applied:
        plug.RESOLVER.fallback_factory = script_progress
        plug.install()
    return result


@functools.wraps(resolver.resolve)
def resolve(*args: Any, progress: ProgressCallback | None = None, **kwargs: Any) -> str:
    return resolver.resolve(*args, progress=progress or script_progress(), **kwargs)


@functools.wraps(resolver.resolve_model)
def resolve_model(*args: Any, progress: ProgressCallback | None = None, **kwargs: Any) -> Resolved:
    return resolver.resolve_model(*args, progress=progress or script_progress(), **kwargs)


@functools.wraps(loader.load_model)
def load_model(*args: Any, progress: ProgressCallback | None = None, **kwargs: Any) -> Loaded:
    return loader.load_model(*args, progress=progress or script_progress(), **kwargs)


@functools.wraps(loader.load_model)  # its arguments, for help() and tab completion
def load(*args: Any, **kwargs: Any) -> Any:
    return load_model(*args, **kwargs).model


load.__doc__ = loader.load.__doc__
