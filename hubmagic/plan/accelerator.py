"""Which accelerator this code runs with: a remote TPU worker, an attached TPU, a GPU, or none.

Part of :func:`hubmagic.plan.detect.detect_runtime`: the same injectable facts
(environment, paths, glob results, small file contents), never TensorFlow nor
``nvidia-smi``. :func:`detect_accelerator` states the rule for remote and local
TPU signals that disagree.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping

from hubmagic.core.units import plural
from hubmagic.plan.runtime import Accelerator, Evidence

# Signals of the accelerator, read from the environment and /dev, /sys (their
# meanings: docs/compatibility.md, "Runtime signals").
COLAB_GPU = "COLAB_GPU"
COLAB_TPU_ADDR = "COLAB_TPU_ADDR"
TPU_NAME = "TPU_NAME"
# TensorFlow's Cloud TPU client reads this before TPU_NAME (GKE TPU endpoints,
# tensorflow/python/tpu/client/client.py `_get_tpu_name`).
KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS = "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS"
TPU_ACCELERATOR_TYPE = "TPU_ACCELERATOR_TYPE"
TPU_WORKER_ID = "TPU_WORKER_ID"
PJRT_DEVICE = "PJRT_DEVICE"
CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"

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
            f"{plural(len(tpu_chips), 'Google TPU PCI device')} (vendor {GOOGLE_PCI_VENDOR}, "
            f"device {', '.join(sorted(set(tpu_chips)))})"
        )
    if other_google:
        named = ", ".join(
            f"{d} ({_KNOWN_GOOGLE_PCI_DEVICES[d]})" if d in _KNOWN_GOOGLE_PCI_DEVICES else d
            for d in sorted(set(other_google))
        )
        kind = "Google PCI devices" if len(set(other_google)) > 1 else "Google PCI device"
        verb = "are not TPU chips" if len(set(other_google)) > 1 else "is not a TPU chip"
        notes.append(
            f"{kind} {named} {verb}: vendor {GOOGLE_PCI_VENDOR} alone is on every Compute Engine VM"
        )

    if env.get(TPU_ACCELERATOR_TYPE):
        found.append(f"{TPU_ACCELERATOR_TYPE}={env[TPU_ACCELERATOR_TYPE]!r}")
    if env.get(PJRT_DEVICE, "").strip().upper() == "TPU":
        found.append(f"{PJRT_DEVICE}={env[PJRT_DEVICE]!r}")
    if env.get(TPU_WORKER_ID, "").strip():
        found.append(f"{TPU_WORKER_ID}={env[TPU_WORKER_ID]!r}")
    return found


def detect_accelerator(
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
            (
                address,
                f"{COLAB_TPU_ADDR}={colab_addr!r}: Colab's legacy TPU Node (runtimes before "
                "mid-2024), another machine",
            )
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
