"""What :func:`~hubmagic.plan.detect.detect_runtime` finds, as records.

:class:`Runtime` (platform, frontend, accelerator, packages, settings), with
:class:`PackageInfo`, :class:`Settings` and the :class:`Evidence` behind each
conclusion. Every record can also be built by hand (tests, notebooks comparing
runtimes); the detection rules themselves are in :mod:`hubmagic.plan.detect`
and :mod:`hubmagic.plan.accelerator`.
"""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass, field
from typing import Literal, get_args

from hubmagic.core import config
from hubmagic.core.errors import InvalidSettingError
from hubmagic.core.redact import redact_optional

Platform = Literal[
    "local", "colab", "colab-enterprise", "kaggle", "vertex-workbench", "sagemaker", "databricks"
]
Frontend = Literal["kernel", "terminal", "none"]
Accelerator = Literal["cpu", "gpu", "tpu-vm", "tpu-remote"]

PLATFORMS: tuple[str, ...] = get_args(Platform)
FRONTENDS: tuple[str, ...] = get_args(Frontend)
ACCELERATORS: tuple[str, ...] = get_args(Accelerator)

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
        """``(variable name, value)`` pairs, in display order (redacted: for showing)."""
        return (
            (config.TFHUB_CACHE_DIR, self.cache_dir),
            (config.TFHUB_MODEL_LOAD_FORMAT, self.load_format),
            (config.HUBMAGIC_ENDPOINT, redact_optional(self.endpoint)),
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
                raise InvalidSettingError(f"{name}={value!r}: use one of {', '.join(allowed)}.")

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


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")
