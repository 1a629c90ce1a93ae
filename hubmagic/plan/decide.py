"""Chooses where models are cached and how they load, for a detected runtime, and says why.

:func:`plan_setup` only decides: it returns a frozen :class:`SetupPlan` with
one reason per decision, the warnings, and the problems with their fixes.
:func:`apply_plan` then sets the environment variables, which tensorflow_hub
reads on every resolve, so plain ``hub.load`` calls follow the plan too.
Nothing is printed here; ``%hub_setup`` renders ``plan.describe()``.

Rules (each one is a row in ``tests/plan/test_decide.py``):

- A ``TFHUB_CACHE_DIR`` the user already set is kept unless ``cache`` is given.
- Otherwise the cache follows the platform: persistent
  (``~/.cache/tfhub_modules``, as the tensorflow_hub guide recommends) where
  the home disk survives (own machine, Vertex Workbench, SageMaker), and
  tensorflow_hub's temp default where nothing survives the session (Colab,
  Colab Enterprise, Kaggle, Databricks).
- ``uncompressed`` is recommended only when the hub answers tensorflow_hub's
  uncompressed protocol: :func:`setup` probes one handle with
  :func:`check_uncompressed` (the network is touched there, never in
  :func:`plan_setup`, which only folds the :class:`UncompressedProbe` in).
- A remote TPU worker never gets a local cache it cannot read: a ``gs://``
  cache or ``UNCOMPRESSED`` loads are read by the worker itself; otherwise
  reads go through this host with ``io_device="/job:localhost"``
  (tensorflow/hub#604). A TPU VM reads the local cache directly.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubmagic.core import config
from hubmagic.core.errors import InvalidSettingError
from hubmagic.core.units import format_bytes
from hubmagic.plan.runtime import TENSORFLOW, TF_KERAS, Runtime, detect_runtime

if TYPE_CHECKING:
    from hubmagic.core.gcs import BucketCheck

MODES = ("auto", "local", "cpu", "gpu", "tpu")
PROFILES = ("local", "cpu", "gpu", "tpu")
IO_DEVICE_LOCALHOST = "/job:localhost"
# Less free space than this is a problem: most TF Hub models are well under it
# (BERT-large ~1.3 GiB), and extraction briefly needs the folder twice (tmp
# folder, then rename) only for the model being downloaded.
MIN_FREE_BYTES = 2 * 1024**3
TF_INSTALL = "pip install tensorflow tensorflow-hub tf-keras"
TF_EXTRA_INSTALL = "pip install 'hubmagic[tf]'"
PERSISTENT_CACHE = os.path.join(".cache", "tfhub_modules")  # under the home folder
# A small, long-lived model: what --uncompressed asks the hub about by default
# (HUBMAGIC_ENDPOINT applies, so a mirror is asked instead of tfhub.dev).
DEFAULT_PROBE_HANDLE = "https://tfhub.dev/google/nnlm-en-dim50/2"
DROP_UNCOMPRESSED = (
    "drop --uncompressed (the compressed format downloads each model into the cache "
    "once), or point --endpoint at a hub that serves uncompressed models"
)

# Whether each platform's home folder outlives the session, and the fact
# behind it, in the words the plan shows.
_CACHE_POLICY: dict[str, tuple[bool, str]] = {
    "local": (True, "your own machine keeps the home folder across reboots"),
    "vertex-workbench": (
        True,
        "Vertex AI Workbench keeps the home folder on a persistent disk across restarts",
    ),
    # Studio homes are on the persistent user volume; a classic notebook
    # instance keeps only ~/SageMaker, which the reason points out.
    "sagemaker": (
        True,
        "SageMaker keeps the home folder on the persistent user volume (on a classic "
        "notebook instance only ~/SageMaker persists: use --cache ~/SageMaker/tfhub_modules)",
    ),
    "colab": (False, "Colab's disk, home folder included, is wiped when the runtime is recycled"),
    "colab-enterprise": (False, "Colab Enterprise runtimes are deleted with their disk"),
    "kaggle": (
        False,
        "Kaggle's disk lasts one session (and /kaggle/working is saved as notebook output)",
    ),
    "databricks": (False, "the Databricks driver's local disk is wiped when the cluster restarts"),
}
_PERSISTENT_WHY = "models stay cached across sessions (no automatic cleanup: see hubmagic.prune)"
_TEMP_WHY = "tensorflow_hub's own temp default is kept"


@dataclass(frozen=True)
class Problem:
    """Something that will stop models from loading, and what to do about it.

    Attributes:
        message: what is wrong.
        fix: the command or step that fixes it.
    """

    message: str
    fix: str


@dataclass(frozen=True)
class UncompressedProbe:
    """What the hub answered when asked for one model in the uncompressed format.

    Attributes:
        handle: the model asked about.
        url: the URL asked (``?tf-hub-format=uncompressed``, endpoint applied);
            ``None`` when nothing was asked (offline).
        location: the ``gs://`` path the hub answered with, when it did.
        problem: the hub does not offer uncompressed models (with the fix).
        warning: the check could not be made (offline, hub unreachable,
            probe model missing); loads may still work.
    """

    handle: str
    url: str | None
    location: str | None = None
    problem: Problem | None = None
    warning: str | None = None


@dataclass(frozen=True)
class SetupPlan:
    """What ``%hub_setup`` will set, and why.

    Attributes:
        runtime: the runtime the plan was made for.
        mode: the profile applied: ``local``, ``cpu``, ``gpu`` or ``tpu``.
        cache_dir: the cache folder (a local absolute path or a ``gs://`` URL).
        load_format: ``COMPRESSED`` or ``UNCOMPRESSED``.
        io_device: the ``LoadOptions(experimental_io_device=...)`` for loads,
            ``None`` for TensorFlow's default.
        endpoint: the download mirror in force (given, or already set).
        env: the variables :func:`apply_plan` sets, in order.
        reasons: one line per decision, saying why.
        warnings: what may surprise the user, without stopping loads.
        problems: what will stop loads, each with a fix.
        uncompressed_probe: the hub's answer to the uncompressed protocol,
            when it was checked.
    """

    runtime: Runtime
    mode: str
    cache_dir: str
    load_format: str
    io_device: str | None
    endpoint: str | None
    env: tuple[tuple[str, str], ...]
    reasons: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    uncompressed_probe: UncompressedProbe | None = None

    @property
    def models_from(self) -> str:
        """Where loads read model files from, in a few words (panel header, %hub_info)."""
        return models_from(self.cache_dir, self.load_format, self.uncompressed_probe)

    def __repr__(self) -> str:
        # Short: %hub_setup prints describe() and returns the plan, so a notebook
        # shows this line under the full text rather than a page of fields.
        return (
            f"<SetupPlan {self.mode}: cache_dir={self.cache_dir!r}, load_format="
            f"{self.load_format}, io_device={self.io_device!r}, {len(self.problems)} problems>"
        )

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    @property
    def ok(self) -> bool:
        """No problem was found (warnings allowed)."""
        return not self.problems

    def describe(self) -> str:
        """Text for a notebook or a terminal: problems, runtime, decisions, warnings."""
        lines: list[str] = []
        if self.problems:
            lines.append("Problems:")
            for problem in self.problems:
                lines.append(f"  x {problem.message}")
                lines.append(f"    fix: {problem.fix}")
            lines.append("")
        lines.append(f"Runtime: {self.runtime.summary}")
        lines.append(f"Setup ({self.mode} profile):")
        lines.extend(f"  - {reason}" for reason in self.reasons)
        lines.append("Sets:")
        lines.extend(f"  {name}={value}" for name, value in self.env)
        if self.warnings:
            lines.append("Warnings:")
            lines.extend(f"  ! {warning}" for warning in self.warnings)
        return "\n".join(lines)


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
        runtime: from :func:`hubmagic.runtime.detect_runtime` (or built directly).
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
            :func:`check_uncompressed`: a reason line naming the ``gs://`` path,
            a problem (the hub does not offer uncompressed models) or a warning
            (it could not be asked). ``None``: not checked.
        bucket_check: for a ``gs://`` cache, :func:`hubmagic.gcs.check_bucket`'s
            answer: a reason line when the bucket can be listed, written, read
            and deleted, else a problem saying what is missing. ``None``: not checked.

    Returns:
        The :class:`SetupPlan`; nothing is changed until :func:`apply_plan`.

    Raises:
        InvalidSettingError: unknown mode, an endpoint that is not http(s), or
            a cache that is neither a local path nor ``gs://``.
    """
    if mode not in MODES:
        raise InvalidSettingError(
            f"mode={mode!r} is not a setup mode: use one of {', '.join(MODES)}."
        )
    free_bytes = disk_free if disk_usage is None else disk_usage
    can_write = _can_write if writable is None else writable
    reasons: list[str] = []
    warnings: list[str] = []
    problems: list[Problem] = []

    profile = _choose_profile(runtime, mode, reasons, warnings)
    # The TPU-safe settings are for a worker that is another machine, and for
    # a forced `tpu` profile with no TPU found (it may be a worker we cannot see).
    remote_worker = profile == "tpu" and runtime.accelerator != "tpu-vm"

    cache_dir = _choose_cache(runtime, profile, cache, reasons, warnings)
    load_format = _choose_load_format(runtime, uncompressed, reasons, warnings)
    if uncompressed_probe is not None:
        _fold_probe(uncompressed_probe, reasons, warnings, problems)
    device, device_reason = _choose_io_device(
        profile, remote_worker, io_device, cache_dir, load_format
    )
    reasons.append(device_reason)
    chosen_endpoint, endpoint_reason = _choose_endpoint(runtime, endpoint)
    reasons.append(endpoint_reason)

    if (
        remote_worker
        and load_format == config.UNCOMPRESSED
        and not _is_gcs(cache_dir)
        and device is None
    ):
        warnings.append(
            "UNCOMPRESSED covers tfhub.dev and Kaggle handles; archive handles "
            "(.tar.gz URLs) are still extracted into the local cache, which the TPU "
            f"worker cannot read: load those with io_device={IO_DEVICE_LOCALHOST!r}"
        )

    if not _is_gcs(cache_dir):
        _check_cache_folder(cache_dir, load_format, free_bytes, can_write, problems, warnings)
    elif bucket_check is not None and bucket_check.url == cache_dir:
        _fold_bucket_check(bucket_check, remote_worker, reasons, warnings, problems)
    _check_packages(runtime, problems, warnings)

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


def apply_plan(plan: SetupPlan, environ: MutableMapping[str, str] | None = None) -> None:
    """Sets the plan's environment variables (default: ``os.environ``), nothing else.

    Args:
        plan: from :func:`plan_setup`.
        environ: where to set them.
    """
    target: MutableMapping[str, str] = os.environ if environ is None else environ
    for name, value in plan.env:
        target[name] = value


def setup(
    mode: str = "auto",
    *,
    cache: str | None = None,
    uncompressed: bool = False,
    io_device: str | None = None,
    endpoint: str | None = None,
    dry_run: bool = False,
    probe_handle: str | None = None,
) -> SetupPlan:
    """Detects the runtime, plans, and (unless ``dry_run``) applies: ``%hub_setup``'s core.

    Applying sets the environment variables and remembers the plan and its io
    device in :mod:`hubmagic.session`, which :func:`hubmagic.load` uses.

    Args:
        mode: see :func:`plan_setup`.
        cache: see :func:`plan_setup`.
        uncompressed: see :func:`plan_setup`.
        io_device: see :func:`plan_setup`.
        endpoint: see :func:`plan_setup`.
        dry_run: only plan; change nothing.
        probe_handle: with ``uncompressed``, the model to ask the hub about
            (:func:`check_uncompressed`); default :data:`DEFAULT_PROBE_HANDLE`.

    Returns:
        The plan, applied or not.

    Raises:
        InvalidSettingError: see :func:`plan_setup`; also ``probe_handle``
            without ``uncompressed``, or one with no uncompressed form.
    """
    probe = None
    if probe_handle is not None and not uncompressed:
        raise InvalidSettingError(
            "probe_handle goes with uncompressed=True (it checks that the hub serves "
            "uncompressed models)."
        )
    if uncompressed:
        mirror = _check_endpoint(endpoint) if endpoint is not None else config.endpoint()
        probe = check_uncompressed(probe_handle, endpoint=mirror)
    runtime = detect_runtime()

    def make(bucket_check: BucketCheck | None = None) -> SetupPlan:
        return plan_setup(
            runtime,
            mode,
            cache=cache,
            uncompressed=uncompressed,
            io_device=io_device,
            endpoint=endpoint,
            uncompressed_probe=probe,
            bucket_check=bucket_check,
        )

    plan = make()
    if _is_gcs(plan.cache_dir):
        # Before relying on a bucket, check it in seconds (a missing bucket made
        # tensorflow_hub hang: tensorflow/hub#261, #50).
        from hubmagic.core.gcs import check_bucket

        plan = make(check_bucket(plan.cache_dir))
    if not dry_run:
        from hubmagic.core import session
        from hubmagic.tf import plug as tfhub

        apply_plan(plan)
        session.state.io_device = plan.io_device
        session.state.plan = plan
        # Plain hub.load / hub.KerasLayer calls follow the setup through hubmagic.
        tfhub.install()
    return plan


def check_uncompressed(
    handle: str | None = None,
    *,
    endpoint: str | None = None,
    offline: bool | None = None,
) -> UncompressedProbe:
    """Asks the hub whether it answers tensorflow_hub's uncompressed protocol for ``handle``.

    One request (``?tf-hub-format=uncompressed``, redirects not followed): a
    ``303`` whose body is a ``gs://`` path is a yes. Nothing is downloaded.

    Args:
        handle: a tfhub.dev / Kaggle / http(s) model handle; default
            :data:`DEFAULT_PROBE_HANDLE`.
        endpoint: the mirror to ask instead of tfhub.dev / Kaggle; default
            ``HUBMAGIC_ENDPOINT``.
        offline: do not ask (a warning); default ``HUBMAGIC_OFFLINE``.

    Returns:
        The answer: ``location`` when the hub said yes, ``problem`` when it
        said no, ``warning`` when it could not be asked.

    Raises:
        InvalidSettingError: the handle has no uncompressed form (a gs:// path,
            a folder, a Kaggle API download URL).
    """
    from hubmagic.core import handle as handles
    from hubmagic.core.errors import (
        HubmagicError,
        ModelNotFoundError,
        UncompressedNotSupportedError,
    )

    raw = handle or DEFAULT_PROBE_HANDLE
    mirror = config.endpoint() if endpoint is None else endpoint
    try:
        parsed = handles.parse(raw, endpoint=mirror)
    except HubmagicError as exc:
        raise InvalidSettingError(f"probe handle: {exc}") from None
    url = parsed.uncompressed_url
    if url is None:
        raise InvalidSettingError(
            f"probe handle {raw!r} has no uncompressed form: give a tfhub.dev, Kaggle model "
            "page or hub server URL."
        )
    if config.offline() if offline is None else offline:
        return UncompressedProbe(
            raw,
            None,
            warning=(
                "offline mode is on (HUBMAGIC_OFFLINE), so whether the hub serves uncompressed "
                f"models was not checked; loads will ask it for {raw} and the like"
            ),
        )
    from hubmagic.core.http import ask_uncompressed

    try:
        location = ask_uncompressed(url)
    except UncompressedNotSupportedError as exc:
        return UncompressedProbe(
            raw,
            url,
            problem=Problem(
                f"the hub does not serve uncompressed models, so UNCOMPRESSED loads would "
                f"fail (asked about {raw}): {exc}",
                DROP_UNCOMPRESSED,
            ),
        )
    except ModelNotFoundError:
        return UncompressedProbe(
            raw,
            url,
            warning=(
                f"could not check that the hub serves uncompressed models: it has no {raw} "
                f"({url} is HTTP 404); check with --probe HANDLE naming a model it has"
            ),
        )
    except HubmagicError as exc:
        return UncompressedProbe(
            raw,
            url,
            warning=(
                f"could not check that the hub serves uncompressed models ({exc}); "
                "UNCOMPRESSED loads need it"
            ),
        )
    return UncompressedProbe(raw, url, location=location)


def models_from(cache_dir: str, load_format: str, probe: UncompressedProbe | None = None) -> str:
    """Where loads read model files from, in a few words."""
    if load_format == config.UNCOMPRESSED:
        text = "GCS, uncompressed (the hub's gs:// paths; archive URLs use the cache)"
        if probe is not None and probe.location is not None:
            text += f"; checked: {probe.location}"
        elif probe is not None and probe.problem is not None:
            text += "; the hub does not serve them"
        return text
    where = "the gs:// cache" if _is_gcs(cache_dir) else "the cache folder"
    return f"{where} (each model downloaded once, compressed)"


def _fold_bucket_check(
    check: BucketCheck,
    remote_worker: bool,
    reasons: list[str],
    warnings: list[str],
    problems: list[Problem],
) -> None:
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
            "fix the bucket name or its permissions as the message says, or choose "
            "another cache with --cache DIR|gs://bucket/prefix",
        )
    )


def _fold_probe(
    probe: UncompressedProbe,
    reasons: list[str],
    warnings: list[str],
    problems: list[Problem],
) -> None:
    if probe.location is not None:
        reasons.append(
            f"uncompressed protocol: the hub answered for {probe.handle} with "
            f"{probe.location}, so models are read from GCS there"
        )
    if probe.problem is not None:
        problems.append(probe.problem)
    if probe.warning is not None:
        warnings.append(probe.warning)


# --- decisions ----------------------------------------------------------------


def _auto_profile(runtime: Runtime) -> tuple[str, str]:
    if runtime.accelerator == "tpu-remote":
        where = runtime.tpu_address or "address resolved by TensorFlow"
        return "tpu", f"the TPU worker is another machine ({where})"
    if runtime.accelerator == "tpu-vm":
        return "tpu", "a TPU is attached to this machine (TPU VM)"
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
            f"safe for a remote TPU worker are applied anyway ({IO_DEVICE_LOCALHOST} unless "
            "the cache is gs:// or loads are UNCOMPRESSED)"
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
            f"goes to the home folder anyway, but {_CACHE_POLICY[runtime.platform][1]}"
        )
        if runtime.accelerator == "tpu-remote":
            warnings.append(
                "mode 'local' with a remote TPU worker: loads on the worker need "
                f"io_device={IO_DEVICE_LOCALHOST!r} or a gs:// cache (tensorflow/hub#604)"
            )
    return mode


def _home(runtime: Runtime) -> str:
    # The runtime's HOME (from the environment it was detected in), so a plan is
    # a pure function of the runtime; expanduser only when HOME was unset
    # (it then asks the password database).
    return runtime.home or os.path.expanduser("~")


def _expand_home(path: str, runtime: Runtime) -> str:
    if path == "~" or path.startswith(("~/", "~" + os.sep)):
        return os.path.join(_home(runtime), path[2:]) if len(path) > 1 else _home(runtime)
    return os.path.expanduser(path)  # ~user/... (or no ~ at all)


def _is_gcs(path: str) -> bool:
    return path.startswith("gs://")


def _normalize_cache(cache: str) -> str:
    value = cache.strip()
    if not value:
        raise InvalidSettingError("cache is empty: give a folder or gs://bucket/prefix.")
    if _is_gcs(value):
        if not value[len("gs://") :].split("/", 1)[0]:
            raise InvalidSettingError(f"cache={cache!r} has no bucket: write gs://bucket/prefix.")
        return value.rstrip("/")
    if "://" in value:
        raise InvalidSettingError(
            f"cache={cache!r}: the cache is a local folder or a gs://bucket/prefix URL."
        )
    return value


def _choose_cache(
    runtime: Runtime,
    profile: str,
    cache: str | None,
    reasons: list[str],
    warnings: list[str],
) -> str:
    if cache is not None:
        value = _normalize_cache(cache)
        if _is_gcs(value):
            reasons.append(
                f"cache {value}: given; a gs:// cache is readable by every worker (bucket "
                "access is checked when it is first used)"
            )
            return value
        expanded = _expand_home(value, runtime)
        absolute = os.path.abspath(expanded)
        if os.path.isabs(expanded):
            reasons.append(f"cache {absolute}: given")
        else:
            reasons.append(
                f"cache {absolute}: given as {value!r}, made absolute now because "
                "tensorflow_hub would resolve a relative path again at every load, from "
                "whatever folder is current then"
            )
        return absolute

    current = runtime.settings.cache_dir
    if current:
        reasons.append(
            f"cache {current}: kept, TFHUB_CACHE_DIR was already set (pass --cache to change it)"
        )
        if not _is_gcs(current) and not os.path.isabs(current):
            warnings.append(
                f"TFHUB_CACHE_DIR={current!r} is not an absolute path: tensorflow_hub "
                "resolves it from the current folder at every load"
                + (" and does not expand ~" if current.startswith("~") else "")
                + "; set an absolute one with --cache"
            )
        return current

    home_cache = os.path.join(_home(runtime), PERSISTENT_CACHE)
    if profile == "local":
        reasons.append(
            f"cache {home_cache}: local profile; the home folder survives reboots, as the "
            f"tensorflow_hub guide recommends, so {_PERSISTENT_WHY}"
        )
        return home_cache
    persistent, fact = _CACHE_POLICY[runtime.platform]
    path = home_cache if persistent else config.default_cache_dir()
    reasons.append(f"cache {path}: {fact}, so {_PERSISTENT_WHY if persistent else _TEMP_WHY}")
    return path


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


def _choose_io_device(
    profile: str,
    remote_worker: bool,
    io_device: str | None,
    cache_dir: str,
    load_format: str,
) -> tuple[str | None, str]:
    if io_device is not None:
        value = io_device.strip()
        if not value:
            raise InvalidSettingError("io_device is empty: give a device like /job:localhost.")
        return value, f"io device {value}: given"
    if remote_worker:
        if _is_gcs(cache_dir):
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
            f"io device: not needed; on a TPU VM the TPU is attached to this machine and "
            f"reads the local cache, so {IO_DEVICE_LOCALHOST} is not needed"
        )
    return None, "io device: TensorFlow's default; this machine reads the cache itself"


def _check_endpoint(endpoint: str) -> str:
    value = endpoint.strip().rstrip("/")
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidSettingError(
            f"endpoint={endpoint!r} is not an http(s) URL: give the mirror's base URL, "
            "like https://hub-mirror.example.com."
        )
    return value


def _choose_endpoint(runtime: Runtime, endpoint: str | None) -> tuple[str | None, str]:
    if endpoint is not None:
        value = _check_endpoint(endpoint)
        return value, (
            f"endpoint {value}: given; tfhub.dev and Kaggle downloads go there, cache keys "
            "stay the canonical handles"
        )
    if runtime.settings.endpoint:
        return runtime.settings.endpoint, (
            f"endpoint {runtime.settings.endpoint}: kept, HUBMAGIC_ENDPOINT was already set"
        )
    return None, "endpoint: none; downloads go to tfhub.dev / Kaggle"


# --- checks -------------------------------------------------------------------


def _nearest_existing(path: str) -> str:
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return current


def _can_write(path: str) -> bool:
    """The folder can be written, or created: its nearest existing parent is a writable folder."""
    existing = _nearest_existing(path)
    return os.path.isdir(existing) and os.access(existing, os.W_OK | os.X_OK)


def disk_free(path: str) -> int:
    """Free bytes on the disk that holds ``path`` (or would: its nearest existing parent)."""
    return shutil.disk_usage(_nearest_existing(path)).free


def _check_cache_folder(
    cache_dir: str,
    load_format: str,
    free_bytes: Callable[[str], int],
    can_write: Callable[[str], bool],
    problems: list[Problem],
    warnings: list[str],
) -> None:
    found: list[Problem] = []
    if not can_write(cache_dir):
        found.append(
            Problem(
                f"the cache folder {cache_dir} cannot be written or created",
                "choose a writable folder: %hub_setup --cache DIR (or fix its permissions)",
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
                        "free space (hubmagic.prune(max_bytes) removes the least recently used "
                        "models), or %hub_setup --cache DIR on a larger disk, or "
                        "%hub_setup --uncompressed to read models from GCS",
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


def _check_packages(runtime: Runtime, problems: list[Problem], warnings: list[str]) -> None:
    if not runtime.has_tensorflow:
        problems.append(
            Problem(
                "TensorFlow is not installed, so models cannot be loaded (hubmagic can still "
                "download and manage them; Colab TPU images ship without TensorFlow)",
                f"{TF_INSTALL}   (or: {TF_EXTRA_INSTALL})",
            )
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
        problems.append(
            Problem(
                "tensorflow-hub is not installed: TensorFlow is, but hub.load and "
                "hub.KerasLayer come from tensorflow-hub",
                f"pip install tensorflow-hub{extra}",
            )
        )
    elif keras_needed:
        problems.append(
            Problem(
                f"tf-keras is not installed: TensorFlow {tf_version} uses Keras 3, and "
                "import tensorflow_hub fails without tf-keras",
                f"pip install {_tf_keras_spec(tf_version)}",
            )
        )
    keras_version = runtime.version(TF_KERAS)
    keras_mm = _major_minor(keras_version)
    if mm and keras_mm and keras_mm != mm:
        warnings.append(
            f"tf-keras {keras_version} does not match TensorFlow {tf_version}: hub.KerasLayer "
            f"may fail to import; fix: pip install {_tf_keras_spec(tf_version)}"
        )
