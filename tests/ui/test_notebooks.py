"""The notebooks in notebooks/ run top to bottom and show what their markdown promises.

Each notebook is executed with nbclient in this venv's ``python3`` ipykernel,
offline: tfhub.dev handles go to the session's ``hub_server`` through
``HUBMAGIC_ENDPOINT``, the cache is a fresh folder, and ``gs://`` goes to the GCS
emulator. The kernel inherits ``os.environ``, so the environment is built here
explicitly (with monkeypatch) before each run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from hubmagic.server import HubServer

pytestmark = [pytest.mark.notebooks, pytest.mark.tf, pytest.mark.timeout(180)]

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

# Variables of the machine running the tests that must not reach the kernel.
_DROPPED_PREFIXES = ("TFHUB_", "HUBMAGIC_", "JUPYTER", "IPYTHON", "PYTEST_", "DEMO_")
_DROPPED = {
    "STORAGE_EMULATOR_HOST",
    "MPLBACKEND",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
}


def _kernel_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    hub_server: HubServer,
    gcs_emulator: str | None = None,
    bucket: str | None = None,
) -> Path:
    """Sets exactly the kernel's environment in os.environ; returns the cache folder."""
    for name in list(os.environ):
        if name in _DROPPED or name.startswith(_DROPPED_PREFIXES):
            monkeypatch.delenv(name)
    base = tmp_path / "kernel"
    for name in ("runtime", "ipython", "tmp", "cache"):
        (base / name).mkdir(parents=True)
    settings = {
        "HUBMAGIC_ENDPOINT": hub_server.url,
        "TFHUB_CACHE_DIR": str(base / "cache"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "NO_PROXY": "127.0.0.1,localhost",
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "IPYTHONDIR": str(base / "ipython"),
        "TMPDIR": str(base / "tmp"),
        "PYTHONUNBUFFERED": "1",
    }
    if gcs_emulator is not None:
        settings.update(STORAGE_EMULATOR_HOST=gcs_emulator, DEMO_BUCKET=bucket or "")
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    return base / "cache"


def _run(name: str, tmp_path: Path) -> Any:
    """Executes notebooks/<name> in a fresh kernel; returns the notebook with its outputs."""
    source = NOTEBOOKS / name
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"{name}: commit notebooks with outputs cleared"
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        startup_timeout=60,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    nbformat.write(notebook, tmp_path / name)  # the executed notebook, to read after a failure
    return notebook


def _text(output: Any) -> str:
    if output.output_type == "stream":
        return str(output.text)
    if output.output_type == "error":
        return "\n".join(output.traceback)
    return str(output.get("data", {}).get("text/plain", ""))


def _outputs(notebook: Any, source: str) -> list[str]:
    """The text output of each code cell whose source is exactly ``source``, in order."""
    found = [
        "".join(_text(o) for o in cell.outputs)
        for cell in notebook.cells
        if cell.cell_type == "code" and cell.source.strip() == source.strip()
    ]
    assert found, f"no code cell {source!r}"
    return found


def _cell(notebook: Any, source: str) -> Any:
    (cell,) = [c for c in notebook.cells if c.cell_type == "code" and c.source == source]
    return cell


def _output(notebook: Any, source: str) -> str:
    (text,) = _outputs(notebook, source)
    return text


def _output_of_cell_with(notebook: Any, fragment: str) -> str:
    """The text output of the one code cell whose source contains ``fragment``."""
    (source,) = [c.source for c in notebook.cells if c.cell_type == "code" and fragment in c.source]
    return _output(notebook, source)


def _all_text(notebook: Any) -> str:
    return "\n".join(
        _text(o) for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs
    )


def _no_errors(notebook: Any) -> None:
    text = _all_text(notebook)
    for marker in ("Traceback", "UsageError"):
        assert marker not in text, f"{marker!r} in the outputs:\n{text[-3000:]}"


def test_quickstart(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hub_server: HubServer) -> None:
    cache = _kernel_env(monkeypatch, tmp_path, hub_server)
    notebook = _run("quickstart.ipynb", tmp_path)
    _no_errors(notebook)

    setup = _output(notebook, "%hub_setup")
    assert f"cache {cache}" in setup
    assert hub_server.url in setup  # the endpoint in force
    assert setup.count("Setup (local profile):") == 1 and "<SetupPlan" not in setup
    (shown,) = _cell(notebook, "%hub_setup").outputs  # one output: the plan, as HTML too
    assert shown.output_type == "execute_result" and "text/html" in shown.data
    assert "downloaded" in _output(notebook, "model = %hub_load https://tfhub.dev/google/tiny/1")
    assert "[3. 5.]" in _output_of_cell_with(notebook, "result = model(tf.constant")
    again = _output_of_cell_with(notebook, "model2 = %hub_load")
    assert "tiny/1: from the cache" in again
    assert "[3. 6.]" in again
    listing = _output(notebook, "%hub_cache")
    for handle in ("https://tfhub.dev/google/tiny/1", "https://tfhub.dev/google/tiny/2"):
        assert handle in listing
    assert "2 entries" in listing

    # nbclient saved the widgets' state: the panel's model, with its rows and buttons.
    (panel,) = [c for c in notebook.cells if c.source == "%hub_panel"]
    (view,) = [
        o.data["application/vnd.jupyter.widget-view+json"]
        for o in panel.outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    state = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert view["model_id"] in state
    saved = json.dumps(state)
    assert "https://tfhub.dev/google/tiny/2" in saved and "Clear all" in saved


def test_colab_tpu(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    hub_server: HubServer,
    gcs_emulator: str,
    gcs: Any,
) -> None:
    bucket = gcs.create_bucket("notebook-colab-tpu").name
    _kernel_env(monkeypatch, tmp_path, hub_server, gcs_emulator, bucket)
    notebook = _run("colab_tpu.ipynb", tmp_path)
    _no_errors(notebook)

    badge = notebook.cells[0].source
    assert "https://colab.research.google.com/github/" in badge
    assert "/blob/main/notebooks/colab_tpu.ipynb" in badge

    one_line = _output(notebook, "%hub_setup tpu")
    assert "Setup (tpu profile)" in one_line
    assert "/job:localhost" in one_line  # no TPU here: the TPU-safe settings

    (compare,) = [c for c in notebook.cells if "hubmagic.plan_setup(runtime" in c.source]
    text = _output(notebook, compare.source)
    remote, _, vm = text.partition("=== TPU VM")
    assert "=== remote TPU worker: io_device='/job:localhost'" in remote
    assert "io device /job:localhost" in remote
    assert "io_device=None" in vm
    assert "/job:localhost" not in vm.replace("so /job:localhost is not needed", "")
    assert "io device: not needed" in vm

    pod = _output(notebook, "%hub_setup tpu --cache gs://{BUCKET}/tfhub-cache --dry-run")
    assert f"gs://{bucket}/tfhub-cache" in pod
    assert "(dry run: nothing was changed)" in pod
    assert "gs:// cache checked" in pod and "Problems:" not in pod
    assert "the TPU worker reads the gs:// cache itself" in pod

    load = _output(notebook, "layer = %hub_load https://tfhub.dev/google/tiny/1 --keras")
    assert "hub.KerasLayer" in load and "reads through /job:localhost" in load
    layer = _output_of_cell_with(notebook, "layer(tf.constant")
    assert "KerasLayer" in layer
    assert "[3. 5.]" in layer


def test_cache_management(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    hub_server: HubServer,
    gcs_emulator: str,
    gcs: Any,
) -> None:
    bucket = gcs.create_bucket("notebook-cache-management").name
    cache = _kernel_env(monkeypatch, tmp_path, hub_server, gcs_emulator, bucket)
    notebook = _run("cache_management.ipynb", tmp_path)
    _no_errors(notebook)

    tiny_1, tiny_2, big_1 = (f"https://tfhub.dev/google/{m}" for m in ("tiny/1", "tiny/2", "big/1"))
    first, after_prune, after_clear = _outputs(notebook, "%hub_cache")
    for handle in (tiny_1, tiny_2, big_1):
        assert handle in first
    assert "3 entries" in first and str(cache) in first

    verify_ok, verify_bad, verify_repaired = _outputs(notebook, "%hub_cache verify")
    assert "All 3 entries" in verify_ok
    assert "1 of 3 entries needs attention" in verify_bad
    assert f"partial: {tiny_2}" in verify_bad
    assert "Nothing was deleted" in _output(notebook, "%hub_cache repair")
    assert "Removed 1 entry" in _output(notebook, "%hub_cache repair --yes")
    assert "All 2 entries" in verify_repaired
    resolved = _output(
        notebook, "resolved = hubmagic.resolve_model(TINY_2)\nprint(resolved.source)"
    )
    assert resolved.strip() == "download"

    assert _output(notebook, "print(hubmagic.resolve_model(TINY_1).source)").strip() == "cache"
    prune = _output(notebook, "%hub_cache prune --max-size 10M")
    assert "Will prune 1 entry" in prune and big_1 in prune
    assert "Removed 1 entry" in _output(notebook, "%hub_cache prune --max-size 10M --yes")
    assert big_1 not in after_prune
    assert tiny_1 in after_prune and tiny_2 in after_prune
    assert "0 entries" in after_clear
    assert os.listdir(cache) == []

    gs_cache = f"gs://{bucket}/cache"
    gs_listing = _output(notebook, "%hub_cache ls --cache {GCS_CACHE}")
    assert tiny_1 in gs_listing and "complete" in gs_listing and gs_cache in gs_listing
    assert "The 1 entry in" in _output(notebook, "%hub_cache verify --cache {GCS_CACHE}")
    assert "0 entries" in _output(notebook, "print(hubmagic.scan_cache(GCS_CACHE))")
    assert not list(gcs.list_blobs(bucket, prefix="cache/"))
