"""detect_runtime: one table row per runtime, misleading signals included."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hubmagic.core.errors import InvalidSettingError
from hubmagic.plan.detect import SAGEMAKER_METADATA, detect_runtime
from hubmagic.plan.runtime import Evidence, PackageInfo, Runtime, Settings

TF = {"tensorflow": "2.21.0", "tensorflow-hub": "0.16.1", "tf-keras": "2.21.0"}
REPO = Path(__file__).resolve().parents[2]


# Fake shells: only their type name and a `kernel` attribute/trait matter.
def _shell_class(module: str, name: str, **attrs: Any) -> type:
    return type(name, (), {"__module__": module, **attrs})


ColabShell = _shell_class("google.colab._shell", "Shell", kernel=object())
ZMQShell = _shell_class("ipykernel.zmqshell", "ZMQInteractiveShell", kernel=object())
TerminalShell = _shell_class("IPython.terminal.interactiveshell", "TerminalInteractiveShell")


class TraitShell:
    """Like a traitlets HasTraits shell whose `kernel` trait is declared but unset."""

    def has_trait(self, name: str) -> bool:
        return name == "kernel"


def _pci(*devices: tuple[str, str | None]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The glob result and file contents for PCI devices given as (vendor, device)."""
    vendors = []
    files = {}
    for i, (vendor, device) in enumerate(devices):
        folder = f"/sys/bus/pci/devices/0000:00:{i:02x}.0"
        vendors.append(f"{folder}/vendor")
        files[f"{folder}/vendor"] = vendor + "\n"
        if device is not None:
            files[f"{folder}/device"] = device + "\n"
    return {"/sys/bus/pci/devices/*/vendor": vendors}, files


@dataclass
class Facts:
    environ: dict[str, str] = field(default_factory=dict)
    paths: set[str] = field(default_factory=set)
    globs: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    shell: Any = None
    packages: dict[str, str] = field(default_factory=lambda: dict(TF))
    modules: dict[str, Any] = field(default_factory=dict)

    def with_pci(self, *devices: tuple[str, str | None]) -> Facts:
        globs, files = _pci(*devices)
        self.globs.update(globs)
        self.files.update(files)
        return self

    def detect(self) -> Runtime:
        return detect_runtime(
            self.environ,
            self.paths.__contains__,
            self.shell,
            glob=lambda pattern: self.globs.get(pattern, []),
            read_text=self.files.get,
            package_version=self.packages.get,
            modules=self.modules,
        )


COLAB_ENV = {"COLAB_RELEASE_TAG": "release-colab_20250101-060000_RC00"}
KAGGLE_ENV = {"KAGGLE_KERNEL_RUN_TYPE": "Interactive", "KAGGLE_URL_BASE": "https://www.kaggle.com"}
ACCEL4 = {"/dev/accel*": ["/dev/accel0", "/dev/accel1", "/dev/accel2", "/dev/accel3"]}
GVNIC = ("0x1ae0", "0x0042")

ROWS = [
    # (id, facts, platform, frontend, accelerator, tpu_address, {topic: [words in its facts]})
    ("local-script", Facts(), "local", "none", "cpu", None, {"platform": ["no hosted-notebook"]}),
    ("local-terminal-ipython", Facts(shell=TerminalShell()), "local", "terminal", "cpu", None, {}),
    (
        "local-jupyter-with-google-colab-installed",
        Facts(
            shell=ZMQShell(),
            packages={**TF, "google-colab": "1.0.0"},
            modules={"google.colab": object(), "ipykernel.zmqshell": object()},
        ),
        "local",
        "kernel",
        "cpu",
        None,
        {"platform": ["google.colab is importable", "not proof of Colab"]},
    ),
    (
        "local-gpu",
        Facts(paths={"/dev/nvidia0", "/dev/nvidiactl"}),
        "local",
        "none",
        "gpu",
        None,
        {"accelerator": ["NVIDIA device files /dev/nvidia0, /dev/nvidiactl"]},
    ),
    (
        "gpu-hidden-by-cuda-visible-devices-minus-one",
        Facts(environ={"CUDA_VISIBLE_DEVICES": "-1"}, paths={"/dev/nvidia0"}),
        "local",
        "none",
        "cpu",
        None,
        {"accelerator": ["CUDA_VISIBLE_DEVICES='-1' hides /dev/nvidia0"]},
    ),
    (
        "gpu-hidden-by-empty-cuda-visible-devices",
        Facts(environ={"CUDA_VISIBLE_DEVICES": ""}, paths={"/dev/nvidia0"}),
        "local",
        "none",
        "cpu",
        None,
        {"accelerator": ["CUDA_VISIBLE_DEVICES='' hides /dev/nvidia0"]},
    ),
    (
        "cuda-visible-devices-without-a-device",
        Facts(environ={"CUDA_VISIBLE_DEVICES": "0"}),
        "local",
        "none",
        "cpu",
        None,
        {"accelerator": ["CUDA_VISIBLE_DEVICES='0' is set", "not proof"]},
    ),
    (
        "colab-cpu-with-colab-gpu-set",
        Facts(environ={**COLAB_ENV, "COLAB_GPU": "1"}, shell=ColabShell()),
        "colab",
        "kernel",
        "cpu",
        None,
        {
            "platform": ["the shell is google.colab._shell.Shell", "COLAB_RELEASE_TAG="],
            "accelerator": ["COLAB_GPU='1' ignored: unreliable"],
        },
    ),
    (
        "colab-gpu",
        Facts(environ=COLAB_ENV, shell=ColabShell(), paths={"/dev/nvidia0", "/dev/nvidiactl"}),
        "colab",
        "kernel",
        "gpu",
        None,
        {},
    ),
    (
        "colab-shell-without-release-tag",
        Facts(shell=ColabShell()),
        "colab",
        "kernel",
        "cpu",
        None,
        {"platform": ["google.colab._shell.Shell"]},
    ),
    (
        "colab-script-run-with-bang-python",
        Facts(environ=COLAB_ENV),
        "colab",
        "none",
        "cpu",
        None,
        {},
    ),
    (
        "colab-tpu-vm-v5e-without-tensorflow",
        Facts(
            environ={**COLAB_ENV, "TPU_ACCELERATOR_TYPE": "v5litepod-1"},
            shell=ColabShell(),
            globs={"/dev/vfio/*": ["/dev/vfio/0", "/dev/vfio/vfio"]},
            packages={},
        ).with_pci(("0x1ae0", "0x0063"), GVNIC, ("0x1af4", "0x1005")),
        "colab",
        "kernel",
        "tpu-vm",
        None,
        {
            "accelerator": [
                "VFIO device groups /dev/vfio/0",
                "1 Google TPU PCI device",
                "TPU_ACCELERATOR_TYPE='v5litepod-1'",
                "0x0042 (gVNIC network card) is not a TPU chip",
            ],
            "tensorflow": ["none of tensorflow, tensorflow-cpu"],
        },
    ),
    (
        "colab-legacy-tpu-node",
        Facts(
            environ={
                **COLAB_ENV,
                "COLAB_TPU_ADDR": "10.0.0.2:8470",
                "TPU_NAME": "grpc://10.0.0.2:8470",
            },
            shell=ColabShell(),
        ),
        "colab",
        "kernel",
        "tpu-remote",
        "grpc://10.0.0.2:8470",
        {"accelerator": ["COLAB_TPU_ADDR='10.0.0.2:8470'", "legacy TPU Node"]},
    ),
    (
        "colab-enterprise-beats-colab-signals",
        Facts(
            environ={**COLAB_ENV, "VERTEX_PRODUCT": "COLAB_ENTERPRISE"},
            shell=ColabShell(),
            modules={"google.colab": object()},
        ),
        "colab-enterprise",
        "kernel",
        "cpu",
        None,
        {"platform": ["VERTEX_PRODUCT='COLAB_ENTERPRISE'", "colab-enterprise is checked first"]},
    ),
    (
        "kaggle-cpu",
        Facts(environ=KAGGLE_ENV, shell=ZMQShell()),
        "kaggle",
        "kernel",
        "cpu",
        None,
        {},
    ),
    (
        "kaggle-gpu",
        Facts(environ=KAGGLE_ENV, shell=ZMQShell(), paths={"/dev/nvidiactl"}),
        "kaggle",
        "kernel",
        "gpu",
        None,
        {},
    ),
    (
        "kaggle-tpu-vm-with-tpu-name-local",
        Facts(
            environ={**KAGGLE_ENV, "TPU_NAME": "local"},
            shell=ZMQShell(),
            globs=dict(ACCEL4),
        ).with_pci(*[("0x1ae0", "0x0027")] * 4),
        "kaggle",
        "kernel",
        "tpu-vm",
        None,
        {
            "accelerator": [
                "TPU device files /dev/accel0",
                "4 Google TPU PCI devices",
                "TPU_NAME='local'",
                "not a remote worker",
            ]
        },
    ),
    (
        "vertex-workbench-with-google-pci-devices",
        Facts(environ={"VERTEX_PRODUCT": "WORKBENCH_INSTANCE"}, shell=ZMQShell()).with_pci(
            GVNIC, ("0x1ae0", "0x001f")
        ),
        "vertex-workbench",
        "kernel",
        "cpu",
        None,
        {"accelerator": ["0x0042 (gVNIC network card)", "0x001f (NVMe disk)", "not TPU chips"]},
    ),
    (
        "unknown-vertex-product",
        Facts(environ={"VERTEX_PRODUCT": "SOMETHING_NEW"}),
        "local",
        "none",
        "cpu",
        None,
        {"platform": ["VERTEX_PRODUCT='SOMETHING_NEW' is not a Vertex product"]},
    ),
    (
        "sagemaker",
        Facts(paths={SAGEMAKER_METADATA}, shell=ZMQShell()),
        "sagemaker",
        "kernel",
        "cpu",
        None,
        {"platform": [SAGEMAKER_METADATA]},
    ),
    (
        "databricks",
        Facts(environ={"DATABRICKS_RUNTIME_VERSION": "15.4"}),
        "databricks",
        "none",
        "cpu",
        None,
        {"platform": ["DATABRICKS_RUNTIME_VERSION='15.4'"]},
    ),
    (
        "cloud-tpu-vm-with-plain-tpu-name",
        Facts(
            environ={"TPU_NAME": "my-tpu", "TPU_WORKER_ID": "0"},
            globs={"/dev/accel*": ["/dev/accel0"]},
        ),
        "local",
        "none",
        "tpu-vm",
        None,
        {"accelerator": ["TPU_WORKER_ID='0'", "TPU_NAME='my-tpu' is a name", "names this TPU"]},
    ),
    (
        "cloud-tpu-node-from-a-plain-vm",
        Facts(environ={"TPU_NAME": "my-tpu-node"}),
        "local",
        "none",
        "tpu-remote",
        None,
        {"accelerator": ["TPU_NAME='my-tpu-node' names a Cloud TPU", "another machine"]},
    ),
    (
        "grpc-tpu-name-beats-a-local-device",
        Facts(environ={"TPU_NAME": "grpc://10.1.2.3:8470"}, globs={"/dev/accel*": ["/dev/accel0"]}),
        "local",
        "none",
        "tpu-remote",
        "grpc://10.1.2.3:8470",
        {"accelerator": ["names a worker on another host", "/dev/accel0", "Discounted"]},
    ),
    (
        "grpc-tpu-name-on-loopback-is-local",
        Facts(environ={"TPU_NAME": "grpc://localhost:8470"}),
        "local",
        "none",
        "tpu-vm",
        None,
        {"accelerator": ["TPU server on this machine"]},
    ),
    (
        "gke-tpu-endpoints",
        Facts(
            environ={"KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS": "grpc://10.4.0.2:8470,grpc://10.4.0.3:8470"}
        ),
        "local",
        "none",
        "tpu-remote",
        "grpc://10.4.0.2:8470",
        {"accelerator": ["KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS"]},
    ),
    (
        "pjrt-device-tpu",
        Facts(environ={"PJRT_DEVICE": "TPU"}),
        "local",
        "none",
        "tpu-vm",
        None,
        {"accelerator": ["PJRT_DEVICE='TPU'"]},
    ),
    (
        "vfio-control-file-alone-is-no-tpu",
        Facts(globs={"/dev/vfio/*": ["/dev/vfio/vfio"]}),
        "local",
        "none",
        "cpu",
        None,
        {"accelerator": ["/dev/vfio/vfio alone is VFIO's control file"]},
    ),
    (
        "google-pci-device-with-unreadable-id",
        Facts().with_pci(("0x1ae0", None)),
        "local",
        "none",
        "cpu",
        None,
        {"accelerator": ["unreadable", "is not a TPU chip"]},
    ),
    ("shell-with-a-kernel-trait", Facts(shell=TraitShell()), "local", "kernel", "cpu", None, {}),
    (
        "ipykernel-loaded-terminal-shell",
        Facts(shell=TerminalShell(), modules={"ipykernel.zmqshell": object()}),
        "local",
        "kernel",
        "cpu",
        None,
        {"frontend": ["ipykernel.zmqshell is loaded"]},
    ),
    (
        "ipykernel-loaded-without-a-shell",
        Facts(modules={"ipykernel.zmqshell": object()}),
        "local",
        "none",
        "cpu",
        None,
        {"frontend": ["no running shell", "not a kernel frontend"]},
    ),
    (
        "shell-found-through-loaded-ipython",
        Facts(modules={"IPython": SimpleNamespace(get_ipython=lambda: ColabShell())}),
        "colab",
        "kernel",
        "cpu",
        None,
        {},
    ),
]


@pytest.mark.parametrize(
    ("facts", "platform_", "frontend", "accelerator", "address", "mentions"),
    [pytest.param(*row[1:], id=row[0]) for row in ROWS],
)
def test_detects_each_runtime(
    facts: Facts,
    platform_: str,
    frontend: str,
    accelerator: str,
    address: str | None,
    mentions: dict[str, list[str]],
) -> None:
    runtime = facts.detect()
    assert (runtime.platform, runtime.frontend, runtime.accelerator) == (
        platform_,
        frontend,
        accelerator,
    )
    assert runtime.tpu_address == address
    evidence = {item.topic: item for item in runtime.evidence}
    assert evidence["platform"].conclusion == platform_
    assert evidence["frontend"].conclusion == frontend
    assert evidence["accelerator"].conclusion == accelerator
    for topic, words in mentions.items():
        text = " | ".join(evidence[topic].facts)
        for word in words:
            assert word in text, f"{word!r} not in {topic} evidence: {text}"


@pytest.mark.parametrize(
    ("versions", "tensorflow", "distribution", "hub", "keras", "also"),
    [
        pytest.param(TF, "2.21.0", "tensorflow", True, True, None, id="all-three"),
        pytest.param(
            {"tensorflow-cpu": "2.19.0", "tensorflow-hub": "0.16.1"},
            "2.19.0",
            "tensorflow-cpu",
            True,
            False,
            None,
            id="tensorflow-cpu-no-tf-keras",
        ),
        pytest.param(
            {"tensorflow-tpu": "2.18.0"}, "2.18.0", "tensorflow-tpu", False, False, None, id="tpu"
        ),
        pytest.param(
            {"tensorflow": "2.15.1", "tensorflow-intel": "2.15.1"},
            "2.15.1",
            "tensorflow",
            False,
            False,
            "tensorflow-intel 2.15.1 is installed too",
            id="windows-tensorflow-intel-too",
        ),
        pytest.param(
            {"tensorflow-hub": "0.16.1", "tf-keras": "2.18.0"},
            None,
            None,
            True,
            True,
            "none of tensorflow",
            id="colab-tpu-image-without-tensorflow",
        ),
    ],
)
def test_packages(
    versions: dict[str, str],
    tensorflow: str | None,
    distribution: str | None,
    hub: bool,
    keras: bool,
    also: str | None,
) -> None:
    runtime = Facts(packages=versions).detect()
    assert [p.name for p in runtime.packages] == ["tensorflow", "tensorflow-hub", "tf-keras"]
    assert runtime.version("tensorflow") == tensorflow
    info = runtime.package("tensorflow")
    assert info is not None and info.distribution == distribution
    assert runtime.has_tensorflow is (tensorflow is not None)
    assert (runtime.has_tensorflow_hub, runtime.has_tf_keras) == (hub, keras)
    assert runtime.version("tf_keras") == versions.get("tf-keras")  # either spelling
    if distribution not in (None, "tensorflow"):
        assert runtime.version(distribution) == tensorflow
    if also:
        tf_evidence = next(e for e in runtime.evidence if e.topic == "tensorflow")
        assert any(also in fact for fact in tf_evidence.facts)


def test_settings_and_home_come_from_the_environment() -> None:
    runtime = Facts(
        environ={
            "TFHUB_CACHE_DIR": "/data/hub",
            "TFHUB_MODEL_LOAD_FORMAT": "UNCOMPRESSED",
            "HUBMAGIC_ENDPOINT": "",  # empty counts as unset, as in tensorflow_hub
            "HOME": "/home/me",
        }
    ).detect()
    assert runtime.settings == Settings("/data/hub", "UNCOMPRESSED", None)
    assert runtime.home == "/home/me"
    assert runtime.python == platform.python_version()
    assert Facts().detect().settings == Settings()


def test_describe_lists_findings_then_the_evidence() -> None:
    runtime = Facts(
        environ={**COLAB_ENV, "COLAB_GPU": "1", "TFHUB_CACHE_DIR": "/content/hub"},
        shell=ColabShell(),
        packages={"tensorflow-hub": "0.16.1"},
    ).detect()
    text = runtime.describe()
    lines = text.splitlines()
    assert lines[0].split() == ["platform", "colab"]
    assert "tensorflow               not installed" in text
    assert "TFHUB_CACHE_DIR          /content/hub" in text
    assert "HUBMAGIC_ENDPOINT        (unset)" in text
    assert text.index("Why:") > text.index("HUBMAGIC_ENDPOINT")
    assert "COLAB_GPU='1' ignored" in text
    assert "colab, kernel, cpu; tensorflow not installed" in runtime.summary


def test_a_runtime_built_by_hand_is_checked() -> None:
    runtime = Runtime(
        accelerator="tpu-remote",
        packages=(PackageInfo("tensorflow", "2.21.0", "tensorflow-cpu"),),
        evidence=(Evidence("platform", "local", ("by hand",)),),
    )
    assert runtime.has_tensorflow and not runtime.has_tensorflow_hub
    assert runtime.version("tensorflow-cpu") == "2.21.0"
    assert "tpu-remote at (address resolved by TensorFlow)" in runtime.describe()
    with pytest.raises(InvalidSettingError, match="platform='mars'") as info:
        Runtime(platform="mars")  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)


def test_a_broken_ipython_module_means_no_shell() -> None:
    def get_ipython() -> Any:
        raise RuntimeError("half-initialised")

    runtime = Facts(modules={"IPython": SimpleNamespace(get_ipython=get_ipython)}).detect()
    assert runtime.frontend == "none"


def test_real_detection_imports_neither_tensorflow_nor_ipython() -> None:
    code = textwrap.dedent(
        """
        import sys
        had_ipython = "IPython" in sys.modules
        from hubmagic.plan import detect_runtime
        runtime = detect_runtime()
        assert "tensorflow" not in sys.modules, "detect_runtime imported tensorflow"
        assert ("IPython" in sys.modules) == had_ipython, "detect_runtime imported IPython"
        assert not any(m.startswith(("hubmagic.tf", "hubmagic.ui")) for m in sys.modules)
        print(runtime.frontend, runtime.version("tensorflow"), runtime.version("tensorflow-hub"))
        print(runtime.describe())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    frontend, tf_version, hub_version = result.stdout.splitlines()[0].split()
    assert frontend == "none"  # a script: no shell

    def installed(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "None"

    assert hub_version == installed("tensorflow-hub")
    assert tf_version in {installed(d) for d in ("tensorflow", "tensorflow-cpu")}
    assert "Why:" in result.stdout
