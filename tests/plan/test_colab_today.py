"""Today's Colab TPU runtime: a TPU VM (v5e-1, v6e-1) whose image has no TensorFlow.

Colab's remote TPU workers (COLAB_TPU_ADDR, the v2-8) are gone since mid-2024;
its TPU runtimes are TPU VMs that read the local cache, and since March 2025
their images ship without TensorFlow and tensorflow-hub.
"""

from __future__ import annotations

from typing import Any

import pytest

from hubmagic.plan import plan_setup
from hubmagic.plan.checks import TF_INSTALL, TPU_VM_HUB_INSTALL, TPU_VM_TF_INSTALL
from hubmagic.plan.detect import detect_runtime
from hubmagic.plan.runtime import Runtime

GiB = 1024**3
COLAB_ENV = {"COLAB_RELEASE_TAG": "release-colab-external_20260901-060052_RC00"}
V5E = {"TPU_ACCELERATOR_TYPE": "v5litepod-1"}
V6E = {"TPU_ACCELERATOR_TYPE": "v6e-1"}


def colab_tpu_vm(env: dict[str, str], packages: dict[str, str]) -> Runtime:
    """What detection sees on a Colab TPU VM: VFIO groups, a TPU PCI chip, the gVNIC."""
    files = {
        "/sys/bus/pci/devices/0000:00:04.0/vendor": "0x1ae0\n",
        "/sys/bus/pci/devices/0000:00:04.0/device": "0x0063\n",
        "/sys/bus/pci/devices/0000:00:05.0/vendor": "0x1ae0\n",
        "/sys/bus/pci/devices/0000:00:05.0/device": "0x0042\n",
    }
    globs = {
        "/dev/vfio/*": ["/dev/vfio/0", "/dev/vfio/vfio"],
        "/sys/bus/pci/devices/*/vendor": [p for p in files if p.endswith("vendor")],
    }
    return detect_runtime(
        {**COLAB_ENV, **env, "HOME": "/root"},
        lambda path: False,
        None,
        glob=lambda pattern: globs.get(pattern, []),
        read_text=files.get,
        package_version=packages.get,
        modules={},
    )


def plan(rt: Runtime, mode: str = "tpu", **kwargs: Any) -> Any:
    return plan_setup(
        rt, mode, disk_usage=lambda path: 100 * GiB, writable=lambda p: True, **kwargs
    )


EXPECTED_NO_TF = (
    "TensorFlow is not installed on this TPU VM image (Colab's TPU runtimes ship without "
    "TensorFlow and tensorflow-hub), so models cannot be loaded here until it is; hubmagic "
    "still downloads and manages them; fix: pip install tensorflow tensorflow-hub tf-keras   "
    "(loads SavedModels and runs them on this VM's CPU; to run them on the TPU: "
    "pip install tensorflow-tpu, then pip install --no-deps tensorflow-hub 'tf-keras~=X.Y.0' "
    "with X.Y its version)"
)


@pytest.mark.parametrize("env", [V5E, V6E], ids=["v5e-1", "v6e-1"])
@pytest.mark.parametrize("mode", ["tpu", "auto"])
def test_hub_setup_tpu_on_a_tpu_vm_without_tensorflow_says_so_and_what_to_install(
    env: dict[str, str], mode: str
) -> None:
    rt = colab_tpu_vm(env, {})
    assert (rt.platform, rt.accelerator, rt.has_tensorflow) == ("colab", "tpu-vm", False)
    p = plan(rt, mode)
    assert p.mode == "tpu"
    assert p.problems == ()  # the setup stands without TensorFlow, and is applied
    assert p.io_device is None
    assert p.warnings == (EXPECTED_NO_TF,)
    assert TF_INSTALL in EXPECTED_NO_TF
    assert TPU_VM_TF_INSTALL in EXPECTED_NO_TF and TPU_VM_HUB_INSTALL in EXPECTED_NO_TF
    reasons = " | ".join(p.reasons)
    assert "TPU VM, as Colab's TPU runtimes are" in reasons
    assert "reads the local cache, so /job:localhost is not needed, nor a gs:// cache" in reasons
    assert "Cloud TPU Nodes, pod workers and older runtimes (Colab before mid-2024)" in reasons
    text = p.describe("magic")
    assert f"! {EXPECTED_NO_TF}" in text


def test_a_tpu_vm_with_tensorflow_tpu_installed_has_no_warning() -> None:
    rt = colab_tpu_vm(
        V6E, {"tensorflow-tpu": "2.20.0", "tensorflow-hub": "0.16.1", "tf-keras": "2.20.1"}
    )
    assert rt.has_tensorflow
    assert plan(rt).warnings == ()


def test_off_a_tpu_vm_the_missing_tensorflow_message_stays_general() -> None:
    rt = detect_runtime(
        {**COLAB_ENV, "HOME": "/root"},
        lambda path: False,
        None,
        glob=lambda pattern: [],
        read_text=lambda path: None,
        package_version=lambda name: None,
        modules={},
    )
    (warning,) = plan(rt, "auto").warnings
    assert warning.startswith("TensorFlow is not installed, so models cannot be loaded")
    assert "tensorflow-tpu" not in warning


def test_the_remote_worker_case_is_said_to_be_for_older_runtimes_nodes_and_pods() -> None:
    rt = detect_runtime(
        {**COLAB_ENV, "COLAB_TPU_ADDR": "10.0.0.2:8470", "HOME": "/root"},
        lambda path: False,
        None,
        glob=lambda pattern: [],
        read_text=lambda path: None,
        package_version={"tensorflow": "2.20.0", "tensorflow-hub": "0.16.1"}.get,
        modules={},
    )
    assert rt.accelerator == "tpu-remote"
    p = plan(rt, "auto")
    assert p.io_device == "/job:localhost"
    reasons = " | ".join(p.reasons)
    assert (
        "the TPU worker is another machine (grpc://10.0.0.2:8470): Cloud TPU Nodes, pod "
        "workers and older runtimes (Colab before mid-2024); Colab's TPU runtimes are now "
        "TPU VMs that read the local cache"
    ) in reasons
    assert "Colab's legacy TPU Node (runtimes before mid-2024)" in rt.describe()
