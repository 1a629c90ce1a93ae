"""The package users install: ``python -m build`` makes a wheel and an sdist, and the
wheel works in a clean venv that has only the hard dependencies.

The venv is made with ``python -m venv`` from the Python running the tests (so on
the Colab-pins lane of ``tests/run.sh`` it is the newest Python of the machine,
3.13 where there is one), and gets ``pip install <wheel>``: the hard dependencies
come from PyPI (through pip's cache), isal only as a wheel. Under Colab's pins
(IPython 7) the same pins go into the install, as on Colab, where installing
hubmagic must not move them. No TensorFlow: ``%load_ext hubmagic``,
``hubmagic --version`` and ``hubmagic info`` must work without it.
"""

from __future__ import annotations

import email.parser
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import IPython
import ipywidgets
import pytest

from hubmagic._version import __version__
from tests.subprocess_env import REPO

pytestmark = pytest.mark.slow

HARD_DEPENDENCIES = ("ipython", "ipywidgets", "google-auth", "google-cloud-storage", "requests")
MAGICS = ("hub_setup", "hub_load", "hub_cache", "hub_panel", "hub_info")
COLAB_PINS = (
    [f"ipython=={IPython.__version__}", f"ipywidgets=={ipywidgets.__version__}"]
    if IPython.version_info[0] < 8
    else []
)


@dataclass(frozen=True)
class Dists:
    wheel: Path
    sdist: Path


@dataclass(frozen=True)
class Venv:
    root: Path
    python: Path
    hubmagic: Path
    work: Path  # a folder outside the checkout, for cwd, HOME and the cache

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env.update(
            HOME=str(self.work / "home"),
            TFHUB_CACHE_DIR=str(self.work / "cache"),
            TMPDIR=str(self.work),
            HUBMAGIC_PROGRESS="text",
        )
        env.pop("VIRTUAL_ENV", None)
        return env

    def run(self, *cmd: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(c) for c in cmd],
            cwd=self.work,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _run(*cmd: str | Path, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    out = tmp_path_factory.mktemp("dist")
    # As a user would: from the checkout, sdist first, the wheel built from it.
    _run(sys.executable, "-m", "build", "--outdir", out, REPO, cwd=out)
    (wheel,) = out.glob("hubmagic-*.whl")
    (sdist,) = out.glob("hubmagic-*.tar.gz")
    return Dists(wheel, sdist)


@pytest.fixture(scope="module")
def venv(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    work = tmp_path_factory.mktemp("clean")
    (work / "home").mkdir()
    root = work / "venv"
    _run(sys.executable, "-m", "venv", root, cwd=work)
    python = root / "bin" / "python"
    _run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--only-binary",
        "isal",
        dists.wheel,
        *COLAB_PINS,
        cwd=work,
        timeout=280,
    )
    yield Venv(root, python, root / "bin" / "hubmagic", work)


def metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(f"hubmagic-{__version__}.dist-info/METADATA").decode()
    return email.parser.Parser().parsestr(text)


def test_build_makes_a_wheel_and_an_sdist_with_the_right_metadata(dists: Dists) -> None:
    assert dists.wheel.name == f"hubmagic-{__version__}-py3-none-any.whl"
    assert dists.sdist.name == f"hubmagic-{__version__}.tar.gz"
    meta = metadata(dists.wheel)
    assert meta["Name"] == "hubmagic" and meta["Version"] == __version__
    assert meta["Requires-Python"] == ">=3.10"
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["License-File"] == "LICENSE"
    assert meta["Description-Content-Type"] == "text/markdown"
    classifiers = meta.get_all("Classifier") or []
    for needed in ("Framework :: IPython", "Framework :: Jupyter", "Typing :: Typed"):
        assert needed in classifiers
    # The Python running this test is one the test command uses: it must be listed.
    here = f"Programming Language :: Python :: {sys.version_info[0]}.{sys.version_info[1]}"
    assert here in classifiers, f"{here!r} not in {classifiers}"
    assert not [c for c in classifiers if c.startswith("License ::")]  # License-Expression
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert set(urls) >= {"Homepage", "Source", "Issues"}
    assert all(u.startswith("https://") for u in urls.values())
    hard = [d for d in meta.get_all("Requires-Dist") or [] if "extra ==" not in d]
    names = [d.split(">")[0].split(";")[0].strip() for d in hard]
    assert sorted(names) == sorted([*HARD_DEPENDENCIES, "isal"])
    # Lower bounds only, so installing on Colab never replaces what Colab pins.
    assert not [d for d in hard if "<" in d.split(";")[0] or "==" in d.split(";")[0]]
    with zipfile.ZipFile(dists.wheel) as zf:
        names_in_wheel = set(zf.namelist())
        entry_points = zf.read(f"hubmagic-{__version__}.dist-info/entry_points.txt").decode()
    assert "hubmagic/py.typed" in names_in_wheel
    assert f"hubmagic-{__version__}.dist-info/licenses/LICENSE" in names_in_wheel
    assert not [n for n in names_in_wheel if n.startswith(("tests/", "benchmarks/", "tools/"))]
    assert "hubmagic = hubmagic.cli:main" in entry_points


def test_the_sdist_holds_the_package_and_its_license_and_nothing_else(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
    for needed in ("pyproject.toml", "README.md", "LICENSE", "PKG-INFO", "hubmagic/py.typed"):
        assert needed in names
    assert "hubmagic/core/extract.py" in names
    tops = {n.split("/")[0] for n in names}
    assert tops <= {
        "hubmagic",
        "hubmagic.egg-info",
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "MANIFEST.in",
        "PKG-INFO",
        "setup.cfg",
    }, tops
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_the_clean_venv_has_the_hard_dependencies_and_no_tensorflow(venv: Venv) -> None:
    probe = textwrap.dedent(
        """
        import importlib.metadata as md, importlib.util, json
        import hubmagic
        from hubmagic.core.extract import decompressor_name
        print(json.dumps({
            "file": hubmagic.__file__,
            "tensorflow": importlib.util.find_spec("tensorflow") is not None,
            "tensorflow_hub": importlib.util.find_spec("tensorflow_hub") is not None,
            "decompressor": decompressor_name(),
            "ipython": md.version("ipython"),
            "ipywidgets": md.version("ipywidgets"),
        }))
        """
    )
    done = venv.run(venv.python, "-c", probe)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["file"].startswith(str(venv.root)), found  # the wheel, not the checkout
    assert (found["tensorflow"], found["tensorflow_hub"]) == (False, False)
    assert found["decompressor"] == "isal"  # isal's wheel exists for this Python
    if COLAB_PINS:  # installing hubmagic kept Colab's pins
        assert [f"ipython=={found['ipython']}", f"ipywidgets=={found['ipywidgets']}"] == COLAB_PINS


def test_hubmagic_version_and_info_from_the_wheel(venv: Venv) -> None:
    version = venv.run(venv.hubmagic, "--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"hubmagic {__version__}")
    info = venv.run(venv.hubmagic, "info")
    assert info.returncode == 0, info.stderr
    assert f"hubmagic {__version__}" in info.stdout
    assert str(venv.work / "cache") in info.stdout
    assert "tensorflow" in info.stdout
    assert "Traceback" not in info.stdout + info.stderr


def test_load_ext_hubmagic_from_the_wheel(venv: Venv) -> None:
    cell = textwrap.dedent(
        f"""
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        ip = InteractiveShell.instance()
        ip.run_line_magic("load_ext", "hubmagic")
        missing = [m for m in {MAGICS!r} if ip.find_line_magic(m) is None]
        assert not missing, missing
        assert "tensorflow" not in sys.modules
        ip.run_cell("plan = %hub_setup --dry-run\\nplan")  # the plan, displayed once
        print("applied:", ip.user_ns["plan"].applied)
        """
    )
    done = venv.run(venv.python, "-c", cell)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "TensorFlow is not installed" in done.stdout
    assert "applied: False" in done.stdout  # --dry-run changes nothing
    assert "Traceback" not in done.stdout + done.stderr
