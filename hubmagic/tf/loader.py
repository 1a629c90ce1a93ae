"""``load``: resolve a handle, then load it with TensorFlow the way the setup says.

TensorFlow and tensorflow_hub are imported here, inside the functions, so that
``import hubmagic`` and ``%load_ext hubmagic`` stay light and work where
TensorFlow is missing (Colab TPU images since 2025).
"""

from __future__ import annotations

import importlib.util
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hubmagic.core import session
from hubmagic.core.errors import (
    Fix,
    HubmagicError,
    InvalidSettingError,
    MissingDependencyError,
    NotASavedModelError,
)
from hubmagic.core.handle import parse as parse_handle
from hubmagic.core.local_store import LocalStore
from hubmagic.core.progress import ProgressCallback
from hubmagic.core.redact import redact
from hubmagic.core.resolver import Resolved, resolve_model
from hubmagic.core.units import format_bytes, format_duration
from hubmagic.plan.decide import check_io_device

TF_INSTALL = "pip install 'hubmagic[tf]'  (or: pip install tensorflow tensorflow-hub tf-keras)"


@dataclass(frozen=True)
class Loaded:
    """A loaded model and how it got here.

    Attributes:
        model: what TensorFlow returned (a trackable object, a signature
            function, or a ``hub.KerasLayer``).
        resolved: the resolve step's record.
        loader: which call loaded it (``hub.load``, ``tf.saved_model.load``,
            ``hub.KerasLayer``).
        io_device: the ``experimental_io_device`` used, if any.
        size: bytes of the model folder (``None`` for ``gs://`` folders).
        load_seconds: time spent in TensorFlow's loader.
    """

    model: Any
    resolved: Resolved
    loader: str
    io_device: str | None
    size: int | None
    load_seconds: float

    def summary(self) -> str:
        """One line: from cache or downloaded, size, time per phase."""
        r = self.resolved
        origin = {
            "cache": "from the cache",
            "shared": "from the cache (downloaded by another process)",
            "folder": "from its folder",
            "uncompressed": "from GCS (uncompressed)",
            "download": f"downloaded {format_bytes(r.downloaded_bytes)}",
        }[r.source]
        size = f", {format_bytes(self.size)} on disk" if self.size is not None else ""
        device = f", reads through {self.io_device}" if self.io_device else ""
        waited = (
            f" (waited {format_duration(r.waited_seconds)} for a lock)" if r.waited_seconds else ""
        )
        return (
            f"{redact(r.handle)}: {origin}{size}; resolve {format_duration(r.seconds)}{waited}, "
            f"{self.loader} {format_duration(self.load_seconds)}{device}"
        )


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def load_model(
    handle: str,
    *,
    keras: bool = False,
    signature: str | None = None,
    output_key: str | None = None,
    tags: Sequence[str] | None = None,
    trainable: bool = False,
    io_device: str | None = None,
    cache_dir: str | None = None,
    progress: ProgressCallback | None = None,
) -> Loaded:
    """Resolves ``handle`` and loads it; returns the model with a record of the steps.

    Args:
        handle: any handle :func:`hubmagic.resolve` accepts.
        keras: wrap in ``hub.KerasLayer`` (needs tensorflow_hub and tf_keras).
        signature: return this signature (``model.signatures[name]``), or
            build the KerasLayer from it.
        output_key: with ``keras`` and ``signature``, the output to return.
        tags: MetaGraph tags (TF1-style hub modules); default TensorFlow's.
        trainable: with ``keras``, make the layer trainable.
        io_device: ``LoadOptions(experimental_io_device=...)``; default what
            ``%hub_setup`` chose (``/job:localhost`` for remote TPU workers).
        cache_dir: as for :func:`hubmagic.resolve`.
        progress: as for :func:`hubmagic.resolve`.

    Raises:
        MissingDependencyError: TensorFlow (or tensorflow_hub / tf_keras for
            ``keras``) is not installed; says what to install. Checked before
            anything is downloaded.
        InvalidSettingError: incompatible options, an unknown signature, tags
            the model does not have, or an io device TensorFlow does not know.
        NotASavedModelError: TensorFlow could not load the folder.

    TensorFlow's own exception is kept as ``__cause__`` of these.
    """
    if trainable and not keras:
        raise InvalidSettingError("trainable only applies to Keras layers: add keras=True.")
    if output_key and not (keras and signature):
        raise InvalidSettingError("output_key goes with keras=True and a signature.")
    # A mistyped handle says so even where TensorFlow is missing (a Colab TPU image).
    parse_handle(handle, endpoint=None)
    if not _installed("tensorflow"):
        raise MissingDependencyError("TensorFlow", TF_INSTALL, "Loading a model")
    if keras and not _installed("tensorflow_hub"):
        raise MissingDependencyError("tensorflow_hub", TF_INSTALL, "hub.KerasLayer")
    if keras and not _installed("tf_keras"):
        raise MissingDependencyError(
            "tf_keras",
            "pip install tf-keras",
            "hub.KerasLayer (tensorflow_hub 0.16 works with Keras 2, not Keras 3)",
        )
    device = check_io_device(io_device) if io_device is not None else session.state.io_device
    resolved = resolve_model(handle, cache_dir=cache_dir, progress=progress)
    started = time.monotonic()
    try:
        model, loader = _load(resolved.path, keras, signature, output_key, tags, trainable, device)
    except (HubmagicError, ImportError, MemoryError, RecursionError):
        raise  # ours already; a broken install or no memory is not the model's fault
    except Exception as exc:  # what TensorFlow raises: one line and a fix, the original kept
        raise _load_failure(exc, handle, tags, device) from exc
    size = None if resolved.path.startswith("gs://") else LocalStore(resolved.path).tree_size("")
    return Loaded(model, resolved, loader, device, size, time.monotonic() - started)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0].strip() if text else type(exc).__name__
    return line if len(line) <= 240 else line[:237] + "..."


def _load_failure(
    exc: Exception, handle: str, tags: Sequence[str] | None, device: str | None
) -> HubmagicError:
    """The one-line error for what TensorFlow raised while loading ``handle``."""
    text = str(exc)
    if tags and "`tags`" in text:
        found = re.search(r"MetaGraphs? with tags (.+?)\. You may", text, re.DOTALL)
        has = f" (it has {found.group(1)})" if found else ""
        return InvalidSettingError(
            f"{handle} has no MetaGraph with the tags {','.join(tags)}{has}.",
            fix=Fix(
                "Leave the tags out (TensorFlow then picks the only MetaGraph), "
                "or give tags the model has."
            ),
        )
    if device and "unknown device" in text.lower():
        return InvalidSettingError(
            f"TensorFlow has no device {device} to read {handle} through.",
            fix=Fix(
                "Give an io device this runtime has, such as /job:localhost or /cpu:0, or "
                "run {setup} again without one."
            ),
        )
    return NotASavedModelError(
        f"TensorFlow could not load {handle}: {_first_line(exc)}",
        fix=Fix(
            "Check that the folder holds a SavedModel this TensorFlow can read (save it again "
            "with tf.saved_model.save); a model in the cache can be removed ({ls} lists it) "
            "and downloaded again."
        ),
    )


def load(handle: str, **kwargs: Any) -> Any:
    """Like :func:`load_model`, returning just the model."""
    return load_model(handle, **kwargs).model


def _load(
    path: str,
    keras: bool,
    signature: str | None,
    output_key: str | None,
    tags: Sequence[str] | None,
    trainable: bool,
    device: str | None,
) -> tuple[Any, str]:
    import tensorflow as tf

    options = tf.saved_model.LoadOptions(experimental_io_device=device) if device else None
    tag_set = list(tags) if tags else None
    if keras:
        import tensorflow_hub as hub

        kwargs: dict[str, Any] = {"trainable": trainable, "load_options": options}
        if tag_set:
            kwargs["tags"] = tag_set
        if signature:
            kwargs["signature"] = signature
            if output_key:
                kwargs["output_key"] = output_key
            else:
                kwargs["signature_outputs_as_dict"] = True
        return hub.KerasLayer(path, **kwargs), "hub.KerasLayer"
    if _installed("tensorflow_hub"):
        import tensorflow_hub as hub

        model, loader = hub.load(path, tags=tag_set, options=options), "hub.load"
    else:
        model, loader = (
            tf.saved_model.load(path, tags=tag_set, options=options),
            ("tf.saved_model.load"),
        )
    if signature is None:
        return model, loader
    signatures = getattr(model, "signatures", {})
    if signature not in signatures:
        available = ", ".join(sorted(signatures)) or "none"
        raise InvalidSettingError(f"The model has no signature {signature!r}; it has: {available}.")
    return signatures[signature], f"{loader} (signature {signature})"
