"""Where this notebook runs: platform, frontend, accelerator, packages and settings.

:func:`detect_runtime` is a pure function of facts it can be given (the
environment, which paths exist, glob results, small file contents, the IPython
shell, installed package versions, loaded modules), so every runtime hubmagic
knows is one row in a test table (the habit of tqdm's ``autonotebook`` and
TensorBoard's ``_get_context``). It never imports TensorFlow (which takes
seconds and grabs devices) nor IPython (it only looks at a shell that already
exists), and it never runs ``nvidia-smi`` (often missing, and slow).

Every conclusion comes with :class:`Evidence`: the facts that led there and
the misleading ones that were seen and discounted, so ``%hub_info`` can show
*why* hubmagic believes it runs where it does.
"""

from __future__ import annotations

import glob as _glob
import importlib.metadata
import os
import platform as _platform
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from hubmagic.core import config

Platform = Literal[
    "local", "colab", "colab-enterprise", "kaggle", "vertex-workbench", "sagemaker", "databricks"
]
Frontend = Literal["kernel", "terminal", "none"]
Accelerator = Literal["cpu", "gpu", "tpu-vm", "tpu-remote"]

PLATFORMS: tuple[str, ...] = get_args(Platform)
FRONTENDS: tuple[str, ...] = get_args(Frontend)
ACCELERATORS: tuple[str, ...] = get_args(Accelerator)

# Signals read from the environment. They describe the machine, they are not
# hubmagic settings, so they live here beside the rules that read them rather
# than in config.py (which names what users set). Meanings: hub-protocol.md,
# "Runtime signals".
COLAB_RELEASE_TAG = "COLAB_RELEASE_TAG"
COLAB_GPU = "COLAB_GPU"
COLAB_TPU_ADDR = "COLAB_TPU_ADDR"
VERTEX_PRODUCT = "VERTEX_PRODUCT"
KAGGLE_KERNEL_RUN_TYPE = "KAGGLE_KERNEL_RUN_TYPE"
KAGGLE_URL_BASE = "KAGGLE_URL_BASE"
DATABRICKS_RUNTIME_VERSION = "DATABRICKS_RUNTIME_VERSION"
TPU_NAME = "TPU_NAME"
# TensorFlow's Cloud TPU client reads this before TPU_NAME (GKE TPU endpoints,
# tensorflow/python/tpu/client/client.py `_get_tpu_name`).
KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS = "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS"
TPU_ACCELERATOR_TYPE = "TPU_ACCELERATOR_TYPE"
TPU_WORKER_ID = "TPU_WORKER_ID"
PJRT_DEVICE = "PJRT_DEVICE"
CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"

SAGEMAKER_METADATA = "/opt/ml/metadata/resource-metadata.json"
NVIDIA_DEVICE_FILES = ("/dev/nvidia0", "/dev/nvidiactl")
TPU_ACCEL_GLOB = "/dev/accel*"
VFIO_GLOB = "/dev/vfio/*"
PCI_VENDOR_GLOB = "/sys/bus/pci/devices/*/vendor"
GOOGLE_PCI_VENDOR = "0x1ae0"
# Vendor 0x1ae0 alone is not a TPU: every Compute Engine VM (Colab, Vertex,
# Kaggle) has Google PCI devices, e.g. 0x0042 the gVNIC network card, 0x001f
# an NVMe disk, 0x0f48 PCI bridges. Only these device ids are TPU chips
# (v2/v3, an unnamed one, v4, v5p, v5e, v6e, 7x; the public pci.ids lists and
# the ids JAX's hardware detection checks).
TPU_PCI_DEVICE_IDS = frozenset(
    {"0x0027", "0x0056", "0x005e", "0x0062", "0x0063", "0x006f", "0x0076"}
)
_KNOWN_GOOGLE_PCI_DEVICES = {"0x0042": "gVNIC network card", "0x001f": "NVMe disk"}
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0"})

# Each distribution that installs the `tensorflow` module, in the order one is
# reported when several are installed (Windows pulls tensorflow-intel in under
# tensorflow; Colab TPU images used tensorflow-tpu).
TENSORFLOW_DISTRIBUTIONS = (
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-tpu",
    "tensorflow-intel",
    "tensorflow-macos",
    "tf-nightly",
)
TENSORFLOW = "tensorflow"
TENSORFLOW_HUB = "tensorflow-hub"
TF_KERAS = "tf-keras"
PACKAGE_NAMES = (TENSORFLOW, TENSORFLOW_HUB, TF_KERAS)


@dataclass(frozen=True)
class Evidence:
    """Why one conclusion was reached.

    Attributes:
        topic: what was concluded: ``platform``, ``frontend``, ``accelerator``
            or a package name.
        conclusion: the value concluded, in words (``colab``, ``2.21.0 (tensorflow-cpu)``).
        facts: the facts seen, in order of weight, including the misleading
            signals that were discounted and why.
    """

    topic: str
    conclusion: str
    facts: tuple[str, ...]


@dataclass(frozen=True)
class PackageInfo:
    """One Python distribution hubmagic cares about.

    Attributes:
        name: the package's role: ``tensorflow``, ``tensorflow-hub`` or ``tf-keras``.
        version: its installed version, ``None`` when not installed.
        distribution: the distribution that provides it (``tensorflow-cpu``
            provides ``tensorflow``), ``None`` when not installed.
    """

    name: str
    version: str | None
    distribution: str | None = None

    @property
    def installed(self) -> bool:
        return self.version is not None

    @property
    def status(self) -> str:
        """``"2.21.0"``, ``"2.21.0 (tensorflow-cpu)"`` or ``"not installed"``."""
        if self.version is None:
            return "not installed"
        via = f" ({self.distribution})" if self.distribution not in (None, self.name) else ""
        return f"{self.version}{via}"

    def __str__(self) -> str:
        return f"{self.name} {self.status}"


@dataclass(frozen=True)
class Settings:
    """The user's current values of the variables hubmagic's setup changes.

    Empty values count as unset, as tensorflow_hub treats them.

    Attributes:
        cache_dir: ``TFHUB_CACHE_DIR``.
        load_format: ``TFHUB_MODEL_LOAD_FORMAT``, as written (not checked here).
        endpoint: ``HUBMAGIC_ENDPOINT``.
    """

    cache_dir: str | None = None
    load_format: str | None = None
    endpoint: str | None = None

    def items(self) -> tuple[tuple[str, str | None], ...]:
        """``(variable name, value)`` pairs, in display order."""
        return (
            (config.TFHUB_CACHE_DIR, self.cache_dir),
            (config.TFHUB_MODEL_LOAD_FORMAT, self.load_format),
            (config.HUBMAGIC_ENDPOINT, self.endpoint),
        )


@dataclass(frozen=True)
class Runtime:
    """What :func:`detect_runtime` found; every field can also be given directly.

    Attributes:
        platform: ``local``, ``colab``, ``colab-enterprise``, ``kaggle``,
            ``vertex-workbench``, ``sagemaker`` or ``databricks``.
        frontend: ``kernel`` (Jupyter, Colab), ``terminal`` (plain IPython) or
            ``none`` (a script).
        accelerator: ``cpu``, ``gpu``, ``tpu-vm`` (a TPU attached to this
            machine) or ``tpu-remote`` (the TPU worker is another machine).
        tpu_address: the remote worker's ``grpc://host:port`` when known.
        packages: tensorflow, tensorflow-hub and tf-keras, installed or not.
        python: the Python version, e.g. ``3.11.9``.
        settings: the current ``TFHUB_CACHE_DIR``, ``TFHUB_MODEL_LOAD_FORMAT``
            and ``HUBMAGIC_ENDPOINT``.
        home: the home folder from the environment (``HOME``), used to expand
            ``~`` in cache paths; ``None`` when unset.
        evidence: why each conclusion was reached.
    """

    platform: Platform = "local"
    frontend: Frontend = "none"
    accelerator: Accelerator = "cpu"
    tpu_address: str | None = None
    packages: tuple[PackageInfo, ...] = ()
    python: str = field(default_factory=_platform.python_version)
    settings: Settings = field(default_factory=Settings)
    home: str | None = None
    evidence: tuple[Evidence, ...] = ()

    def __post_init__(self) -> None:
        # Runtimes are also built by hand (tests, %hub_setup overrides): a typo
        # must fail here, not silently pick the wrong cache policy later.
        for name, value, allowed in (
            ("platform", self.platform, PLATFORMS),
            ("frontend", self.frontend, FRONTENDS),
            ("accelerator", self.accelerator, ACCELERATORS),
        ):
            if value not in allowed:
                raise ValueError(f"{name}={value!r}: use one of {', '.join(allowed)}.")

    def package(self, name: str) -> PackageInfo | None:
        """The record for ``name`` (a role like ``tf-keras`` or a distribution name)."""
        wanted = _normalize(name)
        for info in self.packages:
            if wanted in (_normalize(info.name), _normalize(info.distribution or "")):
                return info
        return None

    def version(self, name: str) -> str | None:
        """The installed version of ``name``, or ``None`` when it is not installed."""
        info = self.package(name)
        return None if info is None else info.version

    @property
    def has_tensorflow(self) -> bool:
        return self.version(TENSORFLOW) is not None

    @property
    def has_tensorflow_hub(self) -> bool:
        return self.version(TENSORFLOW_HUB) is not None

    @property
    def has_tf_keras(self) -> bool:
        return self.version(TF_KERAS) is not None

    @property
    def is_tpu(self) -> bool:
        return self.accelerator in ("tpu-vm", "tpu-remote")

    @property
    def accelerator_str(self) -> str:
        if self.accelerator == "tpu-remote":
            return f"tpu-remote at {self.tpu_address or '(address resolved by TensorFlow)'}"
        return self.accelerator

    @property
    def summary(self) -> str:
        """One line: platform, frontend, accelerator, packages, python."""
        packages = ", ".join(str(p) for p in self._all_packages())
        return (
            f"{self.platform}, {self.frontend}, {self.accelerator_str}; {packages}; "
            f"python {self.python}"
        )

    def describe(self) -> str:
        """Multi-line text for ``%hub_info``: what was found, then why."""
        rows: list[tuple[str, str]] = [
            ("platform", self.platform),
            ("frontend", self.frontend),
            ("accelerator", self.accelerator_str),
        ]
        for info in self._all_packages():
            rows.append((info.name, info.status))
        rows.append(("python", self.python))
        for name, value in self.settings.items():
            rows.append((name, "(unset)" if value is None else value))
        width = max(len(label) for label, _ in rows)
        lines = [f"{label.ljust(width)}  {value}" for label, value in rows]
        if self.evidence:
            lines.append("")
            lines.append("Why:")
            for item in self.evidence:
                lines.append(f"  {item.topic}: {item.conclusion}")
                lines.extend(f"    - {fact}" for fact in item.facts)
        return "\n".join(lines)

    def _all_packages(self) -> tuple[PackageInfo, ...]:
        # Show every package hubmagic cares about, even when the runtime was
        # built by hand with only some of them.
        return tuple(self.package(name) or PackageInfo(name, None) for name in PACKAGE_NAMES)


def detect_runtime(
    environ: Mapping[str, str] | None = None,
    exists: Callable[[str], bool] | None = None,
    shell: Any = None,
    *,
    glob: Callable[[str], Iterable[str]] | None = None,
    read_text: Callable[[str], str | None] | None = None,
    package_version: Callable[[str], str | None] | None = None,
    modules: Mapping[str, Any] | None = None,
) -> Runtime:
    """Finds where this code runs, from facts that can all be injected.

    Args:
        environ: the environment; default ``os.environ``.
        exists: whether a path exists; default ``os.path.exists``.
        shell: the IPython shell object. ``None`` means: ask
            ``modules["IPython"].get_ipython()`` if IPython is already loaded
            (it is never imported here), else there is no shell.
        glob: paths matching a pattern; default ``glob.glob``.
        read_text: a small file's text, ``None`` when it cannot be read.
        package_version: an installed distribution's version, ``None`` when it
            is not installed; default ``importlib.metadata.version``.
        modules: the loaded modules; default ``sys.modules``.

    Returns:
        A :class:`Runtime`, with :class:`Evidence` for every conclusion.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    path_exists = os.path.exists if exists is None else exists
    find = _glob.glob if glob is None else glob
    read = _read_text if read_text is None else read_text
    version_of = _package_version if package_version is None else package_version
    loaded: Mapping[str, Any] = sys.modules if modules is None else modules
    if shell is None:
        shell = _current_shell(loaded)

    platform, platform_evidence = _detect_platform(env, path_exists, shell, loaded, version_of)
    frontend, frontend_evidence = _detect_frontend(shell, loaded)
    accelerator, address, accelerator_evidence = _detect_accelerator(env, path_exists, find, read)
    packages, package_evidence = _detect_packages(version_of)
    return Runtime(
        platform=platform,
        frontend=frontend,
        accelerator=accelerator,
        tpu_address=address,
        packages=packages,
        python=_platform.python_version(),
        settings=Settings(
            cache_dir=env.get(config.TFHUB_CACHE_DIR) or None,
            load_format=env.get(config.TFHUB_MODEL_LOAD_FORMAT) or None,
            endpoint=env.get(config.HUBMAGIC_ENDPOINT) or None,
        ),
        # USERPROFILE: Windows has no HOME unless a shell set one.
        home=env.get("HOME") or env.get("USERPROFILE") or None,
        evidence=(platform_evidence, frontend_evidence, accelerator_evidence, *package_evidence),
    )


# --- defaults for the injectable facts -------------------------------------


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(4096)
    except OSError:
        return None


def _package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _current_shell(modules: Mapping[str, Any]) -> Any:
    ipython = modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if not callable(get_ipython):
        return None
    try:
        return get_ipython()
    except Exception:  # a half-initialised IPython must not break detection
        return None


# --- platform ---------------------------------------------------------------


def _shell_type(shell: Any) -> str:
    cls = type(shell)
    return f"{cls.__module__}.{cls.__qualname__}"


def _detect_platform(
    env: Mapping[str, str],
    exists: Callable[[str], bool],
    shell: Any,
    modules: Mapping[str, Any],
    version_of: Callable[[str], str | None],
) -> tuple[Platform, Evidence]:
    # Every signal seen, in precedence order: the first one decides. Colab
    # Enterprise runs Colab's own frontend (its shell and COLAB_RELEASE_TAG look
    # like Colab), so only VERTEX_PRODUCT tells them apart and it goes first.
    seen: list[tuple[Platform, str]] = []
    facts: list[str] = []
    vertex = env.get(VERTEX_PRODUCT, "").strip()
    if vertex == "COLAB_ENTERPRISE":
        seen.append(("colab-enterprise", f"{VERTEX_PRODUCT}='COLAB_ENTERPRISE'"))
    colab_shell = shell is not None and "google.colab" in _shell_type(shell)
    if colab_shell:
        seen.append(("colab", f"the shell is {_shell_type(shell)}"))
    if env.get(COLAB_RELEASE_TAG):
        seen.append(("colab", f"{COLAB_RELEASE_TAG}={env[COLAB_RELEASE_TAG]!r}"))
    for name in (KAGGLE_KERNEL_RUN_TYPE, KAGGLE_URL_BASE):
        if env.get(name):
            seen.append(("kaggle", f"{name}={env[name]!r}"))
    if vertex == "WORKBENCH_INSTANCE":
        seen.append(("vertex-workbench", f"{VERTEX_PRODUCT}='WORKBENCH_INSTANCE'"))
    elif vertex and vertex != "COLAB_ENTERPRISE":
        facts.append(f"{VERTEX_PRODUCT}={vertex!r} is not a Vertex product hubmagic knows: ignored")
    if exists(SAGEMAKER_METADATA):
        seen.append(("sagemaker", f"{SAGEMAKER_METADATA} exists"))
    if env.get(DATABRICKS_RUNTIME_VERSION):
        seen.append(
            ("databricks", f"{DATABRICKS_RUNTIME_VERSION}={env[DATABRICKS_RUNTIME_VERSION]!r}")
        )

    if seen:
        platform = seen[0][0]
        facts[:0] = [fact for where, fact in seen if where == platform]
        facts.extend(
            f"also {fact}: that points to {where}, but {platform} is checked first"
            for where, fact in seen
            if where != platform
        )
    else:
        platform = "local"
        facts.insert(
            0,
            "no hosted-notebook signal (Colab shell, COLAB_RELEASE_TAG, VERTEX_PRODUCT, "
            "KAGGLE_*, SageMaker metadata, DATABRICKS_RUNTIME_VERSION)",
        )

    # `pip install google-colab` works anywhere, so an importable google.colab
    # proves nothing (hub-protocol.md, Runtime signals).
    if platform not in ("colab", "colab-enterprise"):
        colab_version = version_of("google-colab")
        if "google.colab" in modules or colab_version is not None:
            how = "loaded" if "google.colab" in modules else f"installed ({colab_version})"
            facts.append(
                f"google.colab is importable ({how}) but there is no {COLAB_RELEASE_TAG} "
                "and the shell is not Colab's: not proof of Colab"
            )
    return platform, Evidence("platform", platform, tuple(facts))


# --- frontend ---------------------------------------------------------------


def _has_kernel(shell: Any) -> bool:
    # ipykernel's ZMQInteractiveShell (and Colab's subclass) has a `kernel`
    # trait; IPython's TerminalInteractiveShell has none.
    try:
        has_trait = getattr(shell, "has_trait", None)
        if callable(has_trait) and has_trait("kernel"):
            return True
        return hasattr(shell, "kernel")
    except Exception:  # an odd shell object: treat as no kernel
        return False


def _detect_frontend(shell: Any, modules: Mapping[str, Any]) -> tuple[Frontend, Evidence]:
    zmq = "ipykernel.zmqshell" in modules
    frontend: Frontend
    if shell is None:
        frontend = "none"
        facts = ["no IPython shell is running"]
        if zmq:
            facts.append(
                "ipykernel.zmqshell is loaded, but with no running shell that only means "
                "something imported ipykernel: not a kernel frontend"
            )
    elif _has_kernel(shell):
        frontend = "kernel"
        facts = [f"the shell ({_shell_type(shell)}) has a kernel"]
    elif zmq:
        frontend = "kernel"
        facts = [f"the shell is {_shell_type(shell)}", "ipykernel.zmqshell is loaded"]
    else:
        frontend = "terminal"
        facts = [
            f"the shell ({_shell_type(shell)}) has no kernel and ipykernel.zmqshell is not loaded"
        ]
    return frontend, Evidence("frontend", frontend, tuple(facts))


# --- accelerator ------------------------------------------------------------


def _grpc_endpoints(value: str) -> list[str]:
    """``grpc://`` URLs from a comma-separated list, adding the scheme if missing."""
    out = []
    for part in value.split(","):
        part = part.strip()
        if part:
            out.append(part if part.startswith("grpc://") else f"grpc://{part}")
    return out


def _grpc_host(url: str) -> str:
    rest = url.removeprefix("grpc://")
    if rest.startswith("["):  # [::1]:8470
        return rest.split("]", 1)[0] + "]"
    return rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest


def _local_tpu_signals(
    env: Mapping[str, str],
    find: Callable[[str], Iterable[str]],
    read: Callable[[str], str | None],
    notes: list[str],
) -> list[str]:
    """Facts showing a TPU attached to this machine; discounted ones go to ``notes``."""
    found: list[str] = []
    accel = sorted(find(TPU_ACCEL_GLOB))
    if accel:
        found.append(f"TPU device files {', '.join(accel)}")
    vfio = sorted(find(VFIO_GLOB))
    # /dev/vfio/vfio is VFIO's control file, there wherever the module is
    # loaded; only numbered groups are devices (TPU v5e and later use them).
    groups = [path for path in vfio if os.path.basename(path) != "vfio"]
    if groups:
        found.append(f"VFIO device groups {', '.join(groups)} (TPU v5e and later)")
    elif vfio:
        notes.append("/dev/vfio/vfio alone is VFIO's control file, not a device: not a TPU")

    tpu_chips: list[str] = []
    other_google: list[str] = []
    for vendor_path in sorted(find(PCI_VENDOR_GLOB)):
        vendor = (read(vendor_path) or "").strip().lower()
        if vendor != GOOGLE_PCI_VENDOR:
            continue
        device = (read(os.path.join(os.path.dirname(vendor_path), "device")) or "").strip()
        device = device.lower() or "unreadable"
        (tpu_chips if device in TPU_PCI_DEVICE_IDS else other_google).append(device)
    if tpu_chips:
        found.append(
            f"{len(tpu_chips)} Google TPU PCI device(s) (vendor {GOOGLE_PCI_VENDOR}, "
            f"device {', '.join(sorted(set(tpu_chips)))})"
        )
    if other_google:
        named = ", ".join(
            f"{d} ({_KNOWN_GOOGLE_PCI_DEVICES[d]})" if d in _KNOWN_GOOGLE_PCI_DEVICES else d
            for d in sorted(set(other_google))
        )
        notes.append(
            f"Google PCI device(s) {named} are not TPU chips: vendor {GOOGLE_PCI_VENDOR} "
            "alone is on every Compute Engine VM"
        )

    if env.get(TPU_ACCELERATOR_TYPE):
        found.append(f"{TPU_ACCELERATOR_TYPE}={env[TPU_ACCELERATOR_TYPE]!r}")
    if env.get(PJRT_DEVICE, "").strip().upper() == "TPU":
        found.append(f"{PJRT_DEVICE}={env[PJRT_DEVICE]!r}")
    if env.get(TPU_WORKER_ID, "").strip():
        found.append(f"{TPU_WORKER_ID}={env[TPU_WORKER_ID]!r}")
    return found


def _detect_accelerator(
    env: Mapping[str, str],
    exists: Callable[[str], bool],
    find: Callable[[str], Iterable[str]],
    read: Callable[[str], str | None],
) -> tuple[Accelerator, str | None, Evidence]:
    """TPU (remote, then attached), then NVIDIA GPU, else CPU.

    The rule when remote and local TPU signals disagree: an explicit remote
    address (``COLAB_TPU_ADDR``, ``KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS``, or a
    ``TPU_NAME`` of ``grpc://`` to another host) wins even over TPU devices
    on this machine. Reasons: TensorFlow's ``TPUClusterResolver`` connects to
    exactly that address (its Cloud TPU client reads those variables itself),
    so the machine that opens the model files is the remote one; and the cost
    is lopsided: settings made for a remote worker (a ``gs://`` cache, or
    reads through ``/job:localhost``) also work on a TPU VM, while a local
    cache on a remote worker fails with "File system scheme '[local]' not
    implemented" (tensorflow/hub#604). A *plain* ``TPU_NAME`` (a Cloud TPU
    resource name, or ``local``) is not an address: with a TPU attached here
    it names this TPU; with none, it names a TPU Node that is another machine.
    """
    facts: list[str] = []
    notes: list[str] = []
    if COLAB_GPU in env:
        notes.append(f"{COLAB_GPU}={env[COLAB_GPU]!r} ignored: unreliable, only device files count")

    local = _local_tpu_signals(env, find, read, notes)

    remote: list[tuple[str, str]] = []  # (address, fact)
    colab_addr = env.get(COLAB_TPU_ADDR, "").strip()
    if colab_addr:
        remote.extend(
            (address, f"{COLAB_TPU_ADDR}={colab_addr!r}: Colab's legacy TPU Node, another machine")
            for address in _grpc_endpoints(colab_addr)[:1]
        )
    kube = env.get(KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS, "").strip()
    if kube:
        remote.extend(
            (address, f"{KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS}={kube!r}: GKE Cloud TPU workers")
            for address in _grpc_endpoints(kube)[:1]
        )
    tpu_name = env.get(TPU_NAME, "").strip()
    plain_name: str | None = None
    if tpu_name == "local":
        notes.append(
            f"{TPU_NAME}='local' asks TensorFlow for a TPU attached here: "
            "not a remote worker (and not proof of a TPU by itself)"
        )
    elif tpu_name.startswith("grpc://"):
        target = _grpc_endpoints(tpu_name)[0]
        if _grpc_host(target) in _LOOPBACK_HOSTS:
            local.append(f"{TPU_NAME}={tpu_name!r} is a TPU server on this machine")
        else:
            remote.append((target, f"{TPU_NAME}={tpu_name!r} names a worker on another host"))
    elif tpu_name:
        plain_name = tpu_name

    accelerator: Accelerator
    address: str | None = None
    if remote:
        accelerator = "tpu-remote"
        address = remote[0][0]
        facts.extend(fact for _, fact in remote)
        if local:
            facts.append(
                f"also seen here: {'; '.join(local)}. Discounted: TensorFlow connects to the "
                "remote address, so the remote worker opens the model files; settings safe "
                "for a remote worker also work on a TPU VM, not the reverse (tensorflow/hub#604)"
            )
    elif local:
        accelerator = "tpu-vm"
        facts.extend(local)
        if plain_name is not None:
            notes.append(
                f"{TPU_NAME}={plain_name!r} is a name, not an address, and a TPU is attached "
                "here: it names this TPU, not a remote worker"
            )
    elif plain_name is not None:
        accelerator = "tpu-remote"
        facts.append(
            f"{TPU_NAME}={plain_name!r} names a Cloud TPU (TensorFlow resolves its address "
            "through the Cloud TPU API) and no TPU is attached here: the worker is another "
            "machine"
        )
    else:
        accelerator = _detect_gpu(env, exists, facts, notes)
    return accelerator, address, Evidence("accelerator", accelerator, tuple(facts + notes))


def _detect_gpu(
    env: Mapping[str, str], exists: Callable[[str], bool], facts: list[str], notes: list[str]
) -> Accelerator:
    # Device files, not nvidia-smi: it is missing from many images (and slow),
    # while the driver always creates these nodes.
    devices = [path for path in NVIDIA_DEVICE_FILES if exists(path)]
    visible = env.get(CUDA_VISIBLE_DEVICES)
    if devices:
        if visible is not None and visible.strip() in ("", "-1"):
            facts.append(
                f"{CUDA_VISIBLE_DEVICES}={visible!r} hides {', '.join(devices)}: "
                "TensorFlow will see no GPU"
            )
            return "cpu"
        facts.append(f"NVIDIA device files {', '.join(devices)}")
        if visible is not None:
            facts.append(f"{CUDA_VISIBLE_DEVICES}={visible!r}")
        return "gpu"
    facts.append("no TPU and no NVIDIA device file (/dev/nvidia0, /dev/nvidiactl)")
    if visible is not None and visible.strip() not in ("", "-1"):
        notes.append(
            f"{CUDA_VISIBLE_DEVICES}={visible!r} is set, but without a device file it "
            "shows no GPU: not proof of one"
        )
    return "cpu"


# --- packages ---------------------------------------------------------------


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _detect_packages(
    version_of: Callable[[str], str | None],
) -> tuple[tuple[PackageInfo, ...], list[Evidence]]:
    found = [(dist, version_of(dist)) for dist in TENSORFLOW_DISTRIBUTIONS]
    installed = [(dist, version) for dist, version in found if version is not None]
    if installed:
        dist, version = installed[0]
        tensorflow = PackageInfo(TENSORFLOW, version, dist)
        tf_facts = [f"distribution {dist} {version} is installed"]
        tf_facts.extend(f"{d} {v} is installed too" for d, v in installed[1:])
    else:
        tensorflow = PackageInfo(TENSORFLOW, None)
        tf_facts = [f"none of {', '.join(TENSORFLOW_DISTRIBUTIONS)} is installed"]
    packages = [tensorflow]
    evidence = [Evidence(TENSORFLOW, tensorflow.status, tuple(tf_facts))]
    for name in (TENSORFLOW_HUB, TF_KERAS):
        found_version = version_of(name)
        info = PackageInfo(name, found_version, name if found_version is not None else None)
        packages.append(info)
        fact = (
            f"distribution {name} {found_version} is installed"
            if found_version
            else f"{name} is not installed"
        )
        evidence.append(Evidence(name, info.status, (fact,)))
    return tuple(packages), evidence
