"""Finds where this notebook runs: platform, frontend, accelerator, packages and settings.

:func:`detect_runtime` is a pure function of facts it can be given (the
environment, which paths exist, glob results, small file contents, the IPython
shell, installed package versions, loaded modules), so every runtime hubmagic
knows is one row in a test table (the habit of tqdm's ``autonotebook`` and
TensorBoard's ``_get_context``). It never imports TensorFlow (which takes
seconds and grabs devices) nor IPython (it only looks at a shell that already
exists), and it never runs ``nvidia-smi`` (often missing, and slow).

Every conclusion comes with :class:`~hubmagic.plan.runtime.Evidence`: the facts
that led there and the misleading ones that were seen and discounted, so
``%hub_info`` can show *why* hubmagic believes it runs where it does. This
module holds the platform, frontend and package rules; the TPU and GPU rules
are in :mod:`hubmagic.plan.accelerator`, the records in :mod:`hubmagic.plan.runtime`.
"""

from __future__ import annotations

import glob as _glob
import importlib.metadata
import os
import platform as _platform
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hubmagic.core import config
from hubmagic.plan.accelerator import detect_accelerator
from hubmagic.plan.runtime import (
    TENSORFLOW,
    TENSORFLOW_DISTRIBUTIONS,
    TENSORFLOW_HUB,
    TF_KERAS,
    Evidence,
    Frontend,
    PackageInfo,
    Platform,
    Runtime,
    Settings,
)

# Signals of the platform, read from the environment. They describe the
# machine, they are not hubmagic settings, so they live here beside the rules
# that read them rather than in config.py (which names what users set).
# Meanings: docs/compatibility.md, "Runtime signals".
COLAB_RELEASE_TAG = "COLAB_RELEASE_TAG"
VERTEX_PRODUCT = "VERTEX_PRODUCT"
KAGGLE_KERNEL_RUN_TYPE = "KAGGLE_KERNEL_RUN_TYPE"
KAGGLE_URL_BASE = "KAGGLE_URL_BASE"
DATABRICKS_RUNTIME_VERSION = "DATABRICKS_RUNTIME_VERSION"
SAGEMAKER_METADATA = "/opt/ml/metadata/resource-metadata.json"


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
    env: Mapping[str, str] = config.environ() if environ is None else environ
    path_exists = os.path.exists if exists is None else exists
    find = _glob.glob if glob is None else glob
    read = _read_text if read_text is None else read_text
    version_of = _package_version if package_version is None else package_version
    loaded: Mapping[str, Any] = sys.modules if modules is None else modules
    if shell is None:
        shell = _current_shell(loaded)

    platform, platform_evidence = _detect_platform(env, path_exists, shell, loaded, version_of)
    frontend, frontend_evidence = _detect_frontend(shell, loaded)
    accelerator, address, accelerator_evidence = detect_accelerator(env, path_exists, find, read)
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
    # proves nothing (docs/compatibility.md, "Runtime signals").
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


# --- packages ---------------------------------------------------------------


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
