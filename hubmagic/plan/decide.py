"""Chooses where models are cached and how they load, for a detected runtime, and says why.

:func:`plan_setup` only decides: it returns a frozen
:class:`~hubmagic.plan.records.SetupPlan` with one reason per decision, the
warnings, and the problems with their fixes (the checks behind them are in
:mod:`hubmagic.plan.checks`). :func:`hubmagic.plan.apply.apply_plan` then sets
the environment variables, which tensorflow_hub reads on every resolve, so
plain ``hub.load`` calls follow the plan too; a plan with problems is never
applied. Nothing is printed here; ``%hub_setup`` renders ``plan.describe()``.

Rules (each one is a row in ``tests/plan/test_decide.py``):

- A ``TFHUB_CACHE_DIR`` the user already set is kept unless ``cache`` is given.
- Otherwise the cache follows the platform: persistent
  (``~/.cache/tfhub_modules``, as the tensorflow_hub guide recommends) where
  the home disk survives (own machine, Vertex Workbench, SageMaker), and
  tensorflow_hub's temp default where nothing survives the session (Colab,
  Colab Enterprise, Kaggle, Databricks). These cache rules are in
  :mod:`hubmagic.plan.cache_choice`.
- ``uncompressed`` is recommended only when the hub answers tensorflow_hub's
  uncompressed protocol: :func:`~hubmagic.plan.apply.setup` probes one handle
  with :func:`~hubmagic.plan.apply.check_uncompressed` (the network is touched
  there, never in :func:`plan_setup`, which only folds the
  :class:`~hubmagic.plan.records.UncompressedProbe` in).
- A remote TPU worker never gets a local cache it cannot read: a ``gs://``
  cache or ``UNCOMPRESSED`` loads are read by the worker itself; otherwise
  reads go through this host with ``io_device="/job:localhost"``
  (tensorflow/hub#604). That case is for Cloud TPU Nodes, pods and older
  runtimes (Colab's remote workers went away in mid-2024). A TPU VM, as
  Colab's TPU runtimes now are (v5e-1, v6e-1), reads the local cache directly.
- An endpoint is checked by :func:`hubmagic.core.config.check_endpoint`, the
  same check as ``HUBMAGIC_ENDPOINT``'s.

The names of :mod:`hubmagic.plan.records`, :func:`~hubmagic.plan.checks.disk_free`
and :mod:`hubmagic.plan.apply`'s functions are importable from here too, as they
were before the plan layer was split; new code imports them from
:mod:`hubmagic.plan`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from hubmagic.core import config
from hubmagic.core.errors import Fix, InvalidSettingError
from hubmagic.plan.cache_choice import CACHE_POLICY, choose_cache
from hubmagic.plan.checks import (
    can_write,
    check_cache_folder,
    check_packages,
    disk_free,
    fold_bucket_check,
    fold_probe,
)
from hubmagic.plan.modes import IO_DEVICE_LOCALHOST, MODES
from hubmagic.plan.records import Problem, SetupPlan, UncompressedProbe, is_gcs
from hubmagic.plan.runtime import Runtime

if TYPE_CHECKING:
    from hubmagic.core.gcs import BucketCheck

__all__ = ["IO_DEVICE_LOCALHOST", "MODES", "REMOTE_WORKER_KINDS", "check_io_device", "plan_setup"]

# Where a TPU worker is another machine today. Colab's TPU runtimes have been
# TPU VMs (v5e-1, v6e-1) since its remote TPU workers (COLAB_TPU_ADDR, the
# v2-8) went away in mid-2024; they read the local cache like any TPU VM.
REMOTE_WORKERS = "Cloud TPU Nodes, pod workers and older runtimes (Colab before mid-2024)"
REMOTE_WORKER_KINDS = (
    f"{REMOTE_WORKERS}; Colab's TPU runtimes are now TPU VMs that read the local cache"
)


def plan_setup(
    runtime: Runtime,
    mode: str = "auto",
    *,
    cache: str | None = None,
    uncompressed: bool = False,
    io_device: str | None = None,
    endpoint: str | None = None,
    disk_usage: Callable[[str], int] | None = None,
    writable: Callable[[str], bool] | None = None,
    uncompressed_probe: UncompressedProbe | None = None,
    bucket_check: BucketCheck | None = None,
) -> SetupPlan:
    """Decides the cache, load format, io device and endpoint for ``runtime``.

    Args:
        runtime: from :func:`hubmagic.plan.detect.detect_runtime` (or built directly).
        mode: ``auto`` picks a profile from the runtime; ``local``, ``cpu``,
            ``gpu`` or ``tpu`` force one, with a warning when detection disagrees.
        cache: the cache folder or ``gs://bucket/prefix``. ``~`` is expanded
            with the runtime's home; a relative path is made absolute against
            the current working directory now, because tensorflow_hub would
            resolve it again at every load and notebooks change directory.
        uncompressed: load models straight from GCS (``UNCOMPRESSED``).
        io_device: ``LoadOptions(experimental_io_device=...)``; always wins.
        endpoint: an http(s) mirror for tfhub.dev / Kaggle downloads.
        disk_usage: free bytes at a local path; default checks the nearest
            existing parent folder.
        writable: whether the cache folder can be written (or created);
            default checks the nearest existing parent folder.
        uncompressed_probe: with ``uncompressed``, the hub's answer from
            :func:`~hubmagic.plan.apply.check_uncompressed`: a reason line naming
            the ``gs://`` path, a problem (the hub does not offer uncompressed
            models) or a warning (it could not be asked). ``None``: not checked.
        bucket_check: for a ``gs://`` cache, :func:`hubmagic.core.gcs.check_bucket`'s
            answer: a reason line when the bucket can be listed, written, read
            and deleted, else a problem saying what is missing. ``None``: not checked.

    Returns:
        The :class:`SetupPlan`; nothing is changed until
        :func:`~hubmagic.plan.apply.apply_plan` (which refuses a plan with problems).

    Raises:
        InvalidSettingError: unknown mode, an endpoint that is not http(s), or
            a cache that is neither a local path nor ``gs://``.
    """
    if mode not in MODES:
        raise InvalidSettingError(
            f"mode={mode!r} is not a setup mode: use one of {', '.join(MODES)}."
        )
    free_bytes = disk_free if disk_usage is None else disk_usage
    is_writable = can_write if writable is None else writable
    reasons: list[str] = []
    warnings: list[str] = []
    problems: list[Problem] = []

    profile = _choose_profile(runtime, mode, reasons, warnings)
    # The TPU-safe settings are for a worker that is another machine, and for
    # a forced `tpu` profile with no TPU found (it may be a worker we cannot see).
    remote_worker = profile == "tpu" and runtime.accelerator != "tpu-vm"

    cache_dir = choose_cache(runtime, profile, cache, reasons, warnings)
    load_format = _choose_load_format(runtime, uncompressed, reasons, warnings)
    if uncompressed_probe is not None:
        fold_probe(uncompressed_probe, reasons, warnings, problems)
    device, device_reason = _choose_io_device(
        profile, remote_worker, io_device, cache_dir, load_format
    )
    reasons.append(device_reason)
    chosen_endpoint, endpoint_reason = _choose_endpoint(runtime, endpoint)
    reasons.append(endpoint_reason)

    if (
        remote_worker
        and load_format == config.UNCOMPRESSED
        and not is_gcs(cache_dir)
        and device is None
    ):
        warnings.append(
            "UNCOMPRESSED covers tfhub.dev and Kaggle handles; archive handles "
            "(.tar.gz URLs) are still extracted into the local cache, which the TPU "
            f"worker cannot read: load those with io_device={IO_DEVICE_LOCALHOST!r}"
        )

    if not is_gcs(cache_dir):
        check_cache_folder(cache_dir, load_format, free_bytes, is_writable, problems, warnings)
    elif bucket_check is not None and bucket_check.url == cache_dir:
        fold_bucket_check(bucket_check, remote_worker, reasons, warnings, problems)
    check_packages(runtime, warnings)

    env: list[tuple[str, str]] = [
        (config.TFHUB_CACHE_DIR, cache_dir),
        (config.TFHUB_MODEL_LOAD_FORMAT, load_format),
    ]
    if endpoint is not None and chosen_endpoint is not None:
        env.append((config.HUBMAGIC_ENDPOINT, chosen_endpoint))
    return SetupPlan(
        runtime=runtime,
        mode=profile,
        cache_dir=cache_dir,
        load_format=load_format,
        io_device=device,
        endpoint=chosen_endpoint,
        env=tuple(env),
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        problems=tuple(problems),
        uncompressed_probe=uncompressed_probe,
    )


# --- decisions ----------------------------------------------------------------


def _auto_profile(runtime: Runtime) -> tuple[str, str]:
    if runtime.accelerator == "tpu-remote":
        where = runtime.tpu_address or "address resolved by TensorFlow"
        return "tpu", (f"the TPU worker is another machine ({where}): {REMOTE_WORKER_KINDS}")
    if runtime.accelerator == "tpu-vm":
        return "tpu", "a TPU is attached to this machine (TPU VM, as Colab's TPU runtimes are)"
    if runtime.platform == "local":
        return "local", f"your own machine ({runtime.accelerator})"
    if runtime.accelerator == "gpu":
        return "gpu", f"a GPU on {runtime.platform}"
    return "cpu", f"no accelerator on {runtime.platform}"


def _choose_profile(runtime: Runtime, mode: str, reasons: list[str], warnings: list[str]) -> str:
    detected, why = _auto_profile(runtime)
    if mode == "auto":
        reasons.append(f"profile {detected}: auto, {why}")
        return detected
    reasons.append(f"profile {mode}: given (detection says {detected}: {why})")
    if mode == "tpu" and not runtime.is_tpu:
        warnings.append(
            f"mode 'tpu' but no TPU was found ({runtime.accelerator}): the settings that are "
            f"safe for a remote TPU worker ({REMOTE_WORKER_KINDS}) are applied anyway "
            f"({IO_DEVICE_LOCALHOST} unless the cache is gs:// or loads are UNCOMPRESSED)"
        )
    elif mode in ("cpu", "gpu") and runtime.accelerator != mode:
        warning = (
            f"mode {mode!r} but this runtime has {runtime.accelerator_str}: {mode} settings are "
            "applied (the mode does not hide or add devices)"
        )
        if runtime.accelerator == "tpu-remote":
            warning += (
                f"; loads on the remote TPU worker need io_device={IO_DEVICE_LOCALHOST!r} "
                "or a gs:// cache (tensorflow/hub#604)"
            )
        warnings.append(warning)
    elif mode == "local" and runtime.platform != "local":
        warnings.append(
            f"mode 'local' on {runtime.platform}, which is not your own machine: the cache "
            f"goes to the home folder anyway, but {CACHE_POLICY[runtime.platform][1]}"
        )
        if runtime.accelerator == "tpu-remote":
            warnings.append(
                "mode 'local' with a remote TPU worker: loads on the worker need "
                f"io_device={IO_DEVICE_LOCALHOST!r} or a gs:// cache (tensorflow/hub#604)"
            )
    return mode


def _choose_load_format(
    runtime: Runtime, uncompressed: bool, reasons: list[str], warnings: list[str]
) -> str:
    if uncompressed:
        reasons.append(
            "load format UNCOMPRESSED: given; models are read straight from GCS, "
            "nothing is downloaded into the cache"
        )
        return config.UNCOMPRESSED
    current = runtime.settings.load_format
    if current == config.UNCOMPRESSED:
        reasons.append(
            "load format UNCOMPRESSED: kept, TFHUB_MODEL_LOAD_FORMAT was already set "
            "(unset it to download into the cache again)"
        )
        return config.UNCOMPRESSED
    if current is not None and current not in config.LOAD_FORMATS:
        warnings.append(
            f"TFHUB_MODEL_LOAD_FORMAT={current!r} is not one of "
            f"{', '.join(config.LOAD_FORMATS)} (tensorflow_hub would fail): replaced by COMPRESSED"
        )
    reasons.append(
        "load format COMPRESSED: each model is downloaded once and then loaded from the "
        "cache (tensorflow_hub's default)"
    )
    return config.COMPRESSED


# The parts of a TensorFlow device name (DeviceNameUtils::ParseFullName): each at
# most once, "/" between them; an id is a number or "*".
_DEVICE_PARTS = {
    "job": re.compile(r"job:(?:[A-Za-z][\w-]*|\*)"),
    "replica": re.compile(r"replica:(?:\d+|\*)"),
    "task": re.compile(r"task:(?:\d+|\*)"),
    "device": re.compile(
        r"(?:device:[A-Za-z][\w]*(?::(?:\d+|\*))?|(?:cpu|gpu|tpu|CPU|GPU|TPU):(?:\d+|\*))"
    ),
}
_DEVICE_EXAMPLES = "/job:localhost, /cpu:0 or /job:localhost/replica:0/task:0/device:CPU:0"


def check_io_device(device: str) -> str:
    """The io device stripped, once it reads as a TensorFlow device name (checked without TF).

    Only the syntax is checked (``/job:localhost``, ``/cpu:0``,
    ``/job:worker/replica:0/task:1/device:GPU:0``); whether this runtime has
    that device only TensorFlow knows, at load time.

    Raises:
        InvalidSettingError: empty, or not a device name.
    """
    value = device.strip()
    if not value:
        raise InvalidSettingError("io_device is empty: give a device like /job:localhost.")
    seen: set[str] = set()
    ok = True
    for part in value.removeprefix("/").split("/"):  # TensorFlow takes "cpu:0" too
        kind = next((k for k, rx in _DEVICE_PARTS.items() if rx.fullmatch(part)), None)
        if kind is None or kind in seen:
            ok = False
            break
        seen.add(kind)
    if not ok:
        raise InvalidSettingError(
            f"io_device {value!r} is not a TensorFlow device name.",
            fix=Fix(f"Write it like {_DEVICE_EXAMPLES}."),
        )
    return value


def _choose_io_device(
    profile: str,
    remote_worker: bool,
    io_device: str | None,
    cache_dir: str,
    load_format: str,
) -> tuple[str | None, str]:
    if io_device is not None:
        value = check_io_device(io_device)
        return value, f"io device {value}: given"
    if remote_worker:
        if is_gcs(cache_dir):
            return None, (
                "io device: TensorFlow's default; the TPU worker reads the gs:// cache itself"
            )
        if load_format == config.UNCOMPRESSED:
            return None, (
                "io device: TensorFlow's default; the TPU worker reads models from their GCS "
                "bucket itself (UNCOMPRESSED)"
            )
        return IO_DEVICE_LOCALHOST, (
            f"io device {IO_DEVICE_LOCALHOST}: the TPU worker is another machine and cannot "
            f"read the local cache {cache_dir}, so model files are read through this host "
            "(without it: \"File system scheme '[local]' not implemented\", "
            "tensorflow/hub#604); a gs:// cache or --uncompressed avoids the detour"
        )
    if profile == "tpu":
        return None, (
            "io device: not needed; on a TPU VM (as Colab's TPU runtimes are) the TPU is "
            "attached to this machine and reads the local cache, so "
            f"{IO_DEVICE_LOCALHOST} is not needed, nor a gs:// cache (both are for remote "
            f"TPU workers: {REMOTE_WORKERS})"
        )
    return None, "io device: TensorFlow's default; this machine reads the cache itself"


def _choose_endpoint(runtime: Runtime, endpoint: str | None) -> tuple[str | None, str]:
    if endpoint is not None:
        value = config.check_endpoint(endpoint, source="endpoint")
        return value, (
            f"endpoint {value}: given; tfhub.dev and Kaggle downloads go there, cache keys "
            "stay the canonical handles"
        )
    if runtime.settings.endpoint:
        return runtime.settings.endpoint, (
            f"endpoint {runtime.settings.endpoint}: kept, HUBMAGIC_ENDPOINT was already set"
        )
    return None, "endpoint: none; downloads go to tfhub.dev / Kaggle"
