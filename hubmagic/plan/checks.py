"""The checks a setup plan folds in: the cache folder, free disk space, packages, bucket, hub.

Each check adds :class:`~hubmagic.plan.records.Problem` items (what will stop
loads, with a :class:`~hubmagic.core.errors.Fix` naming commands by role) or
warnings (what may surprise) to the lists :func:`~hubmagic.plan.decide.plan_setup`
builds. The network is never touched here: a ``gs://`` bucket check and the
uncompressed probe arrive as answers already made (:mod:`hubmagic.plan.apply`
asks). :func:`disk_free` is also the widget panel's free-space figure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING

from hubmagic.core import config
from hubmagic.core.errors import Fix
from hubmagic.core.units import format_bytes
from hubmagic.plan.records import Problem, UncompressedProbe
from hubmagic.plan.runtime import TENSORFLOW, TF_KERAS, Runtime

if TYPE_CHECKING:
    from hubmagic.core.gcs import BucketCheck

# Less free space than this is a problem: most TF Hub models are well under it
# (BERT-large ~1.3 GiB), and extraction briefly needs the folder twice (tmp
# folder, then rename) only for the model being downloaded.
MIN_FREE_BYTES = 2 * 1024**3
TF_INSTALL = "pip install tensorflow tensorflow-hub tf-keras"
TF_EXTRA_INSTALL = "pip install 'hubmagic[tf]'"
# A TPU VM without TensorFlow (Colab's TPU images since March 2025). To load a
# SavedModel, plain `tensorflow` is enough: hub.load / tf.saved_model.load read
# it and run it on the VM's host CPU, and pip resolves tensorflow, tensorflow-hub
# and a matching tf-keras in one command (TF_INSTALL). To run it on the TPU
# chips TensorFlow must be the TPU build, `tensorflow-tpu` (on PyPI, with
# libtpu; 2.20.0 has wheels for Python 3.10-3.13, as Cloud TPU documents). It
# cannot go in the same command: tensorflow-hub needs tf-keras, and tf-keras
# requires the `tensorflow` distribution, which pip would then install over
# tensorflow-tpu's files. So tensorflow-tpu first, then tensorflow-hub and the
# tf-keras of the same minor version without their dependencies.
TPU_VM_TF_INSTALL = "pip install tensorflow-tpu"
TPU_VM_HUB_INSTALL = "pip install --no-deps tensorflow-hub 'tf-keras~=X.Y.0'"


def _nearest_existing(path: str) -> str:
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def can_write(path: str) -> bool:
    """The folder can be written, or created: its nearest existing parent is a writable folder."""
    existing = _nearest_existing(path)
    return os.path.isdir(existing) and os.access(existing, os.W_OK | os.X_OK)


def disk_free(path: str) -> int:
    """Free bytes on the disk that holds ``path`` (or would: its nearest existing parent)."""
    return shutil.disk_usage(_nearest_existing(path)).free


def check_cache_folder(
    cache_dir: str,
    load_format: str,
    free_bytes: Callable[[str], int],
    writable: Callable[[str], bool],
    problems: list[Problem],
    warnings: list[str],
) -> None:
    """A local cache folder must be writable (or creatable) and have room for a model.

    With ``UNCOMPRESSED`` loads only archive handles use the cache, so what
    would be a problem is only a warning (its fix rendered for Python).
    """
    found: list[Problem] = []
    if not writable(cache_dir):
        blocker = _nearest_existing(cache_dir)
        if os.path.exists(blocker) and not os.path.isdir(blocker):
            what = (
                "is a file, not a folder"
                if blocker == os.path.abspath(cache_dir)
                else f"cannot be created: {blocker} is a file"
            )
            found.append(
                Problem(
                    f"the cache folder {cache_dir} {what}",
                    Fix("choose a folder: {setup_cache}"),
                )
            )
        else:
            found.append(
                Problem(
                    f"the cache folder {cache_dir} cannot be written or created",
                    Fix("choose a writable folder: {setup_cache} (or fix its permissions)"),
                )
            )
    else:
        try:
            free = free_bytes(cache_dir)
        except OSError as exc:
            warnings.append(f"could not check free space at {cache_dir}: {exc}")
        else:
            if free < MIN_FREE_BYTES:
                found.append(
                    Problem(
                        f"only {format_bytes(free)} free at {cache_dir}; a typical model needs "
                        f"up to {format_bytes(MIN_FREE_BYTES)}",
                        Fix(
                            "free space ({prune} removes the least recently used models), "
                            "or {setup_cache} on a larger disk, or {setup_uncompressed} to "
                            "read models from GCS"
                        ),
                    )
                )
    if load_format == config.UNCOMPRESSED:
        # tfhub.dev / Kaggle handles then skip the cache: only archive handles
        # would need it, so these do not stop loads.
        warnings.extend(
            f"{p.message} (only archive handles use the cache when UNCOMPRESSED); fix: {p.fix}"
            for p in found
        )
    else:
        problems.extend(found)


def _major_minor(version: str | None) -> tuple[int, int] | None:
    """``"2.21.0"`` -> ``(2, 21)``; ``"2.22.0rc1"`` -> ``(2, 22)``; else ``None``."""
    parts = (version or "").split(".")
    if len(parts) < 2:
        return None
    minor = ""
    for ch in parts[1]:
        if not ch.isdigit():
            break
        minor += ch
    if not parts[0].isdigit() or not minor:
        return None
    return int(parts[0]), int(minor)


def _tf_keras_spec(tf_version: str | None) -> str:
    # tf-keras releases track TensorFlow's minor version and require it: an
    # unpinned install may upgrade TensorFlow (and break Colab's pins).
    mm = _major_minor(tf_version)
    return f"'tf-keras~={mm[0]}.{mm[1]}.0'" if mm else "tf-keras"


def check_packages(runtime: Runtime, warnings: list[str]) -> None:
    """TensorFlow, tensorflow-hub and (for Keras 3 TensorFlow) a matching tf-keras.

    What is missing is a warning, not a problem: the setup itself (where models
    are cached, how they are read) stands without them, hubmagic downloads and
    manages models without TensorFlow (Colab TPU images ship without it, and
    ``%hub_setup tpu`` must still apply there), and loading names the install
    when it is tried.
    """
    if not runtime.has_tensorflow:
        if runtime.accelerator == "tpu-vm":
            warnings.append(
                "TensorFlow is not installed on this TPU VM image (Colab's TPU runtimes ship "
                "without TensorFlow and tensorflow-hub), so models cannot be loaded here until "
                "it is; hubmagic still downloads and manages them; "
                f"fix: {TF_INSTALL}   (loads SavedModels and runs them on this VM's CPU; "
                f"to run them on the TPU: {TPU_VM_TF_INSTALL}, then {TPU_VM_HUB_INSTALL} "
                "with X.Y its version)"
            )
            return
        warnings.append(
            "TensorFlow is not installed, so models cannot be loaded until it is (hubmagic "
            "still downloads and manages them; Colab TPU images ship without TensorFlow); "
            f"fix: {TF_INSTALL}   (or: {TF_EXTRA_INSTALL})"
        )
        return
    tf_version = runtime.version(TENSORFLOW)
    mm = _major_minor(tf_version)
    # From TensorFlow 2.16, tf.keras is Keras 3 and `import tensorflow_hub`
    # raises ImportError unless tf-keras is installed (tensorflow_hub 0.16.1,
    # `_ensure_keras_2_importable`). Unknown versions are treated as recent.
    keras_needed = not runtime.has_tf_keras and (mm is None or mm >= (2, 16))
    if not runtime.has_tensorflow_hub:
        extra = f" {_tf_keras_spec(tf_version)}" if keras_needed else ""
        warnings.append(
            "tensorflow-hub is not installed: TensorFlow is, but hub.load and hub.KerasLayer "
            f"come from tensorflow-hub; fix: pip install tensorflow-hub{extra}"
        )
    elif keras_needed:
        warnings.append(
            f"tf-keras is not installed: TensorFlow {tf_version} uses Keras 3, and import "
            f"tensorflow_hub fails without tf-keras; fix: pip install {_tf_keras_spec(tf_version)}"
        )
    keras_version = runtime.version(TF_KERAS)
    keras_mm = _major_minor(keras_version)
    if mm and keras_mm and keras_mm != mm:
        warnings.append(
            f"tf-keras {keras_version} does not match TensorFlow {tf_version}: hub.KerasLayer "
            f"may fail to import; fix: pip install {_tf_keras_spec(tf_version)}"
        )


def fold_bucket_check(
    check: BucketCheck,
    remote_worker: bool,
    reasons: list[str],
    warnings: list[str],
    problems: list[Problem],
) -> None:
    """A reason when the ``gs://`` cache passed the bucket check, else a problem."""
    if check.ok:
        reasons.append(
            f"gs:// cache checked in {check.seconds:.1f} s: these credentials can list, "
            "write, read and delete objects there"
        )
        if remote_worker:
            warnings.append(
                "the check used this notebook's credentials; the TPU worker reads the "
                "cache with its own service account, which needs roles/storage.objectViewer "
                "on the bucket too"
            )
        return
    problems.append(
        Problem(
            f"the gs:// cache {check.url} cannot be used: {check.error}",
            Fix(
                "fix the bucket name or its permissions as the message says, or choose "
                "another cache (a folder or gs://bucket/prefix): {setup_cache}"
            ),
        )
    )


def fold_probe(
    probe: UncompressedProbe,
    reasons: list[str],
    warnings: list[str],
    problems: list[Problem],
) -> None:
    """The hub's answer to the uncompressed protocol: a reason, a problem or a warning."""
    if probe.location is not None:
        reasons.append(
            f"uncompressed protocol: the hub answered for {probe.handle} with "
            f"{probe.location}, so models are read from GCS there"
        )
    if probe.problem is not None:
        problems.append(probe.problem)
    if probe.warning is not None:
        warnings.append(probe.warning)
