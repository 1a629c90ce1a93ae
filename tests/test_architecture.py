"""The rules the layout stands for, checked rather than hoped for (README, "Layout").

- import-linter contracts (``[tool.importlinter]`` in pyproject.toml): the
  layers, TensorFlow only in ``hubmagic.tf``, IPython and ipywidgets only in
  ``hubmagic.ui``, the server standalone;
- no module of the package over :data:`MAX_LINES` lines;
- no logic written twice: pylint's duplicate-code check (six or more equal
  lines, imports, docstrings, comments and signatures aside).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "hubmagic"
BIN = Path(sys.executable).parent
MAX_LINES = 500


def test_import_contracts_are_kept() -> None:
    run = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_no_module_is_over_the_line_limit() -> None:
    sizes = {
        str(path.relative_to(REPO)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert sizes, "no module found"
    over = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines (split them by concern): {over}"


def test_no_logic_stands_twice() -> None:
    run = subprocess.run(
        [
            str(BIN / "pylint"),
            "--disable=all",
            "--enable=duplicate-code",
            "--min-similarity-lines=6",
            "--ignore-imports=y",
            "--ignore-docstrings=y",
            "--ignore-comments=y",
            "--ignore-signatures=y",
            "--score=n",
            "hubmagic",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, "the same lines stand in two places:\n" + run.stdout
