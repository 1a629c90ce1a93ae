"""One display per magic: ``%hub_setup``, ``%hub_cache`` and ``%hub_info`` show their record once.

The returned record's display is the output (HTML in a notebook, the text form
in a terminal); an assigned record is shown only when it needs attention, and
then once, after the cell. Checked in a plain InteractiveShell (the terminal
form) and in a real kernel through nbclient (the notebook form). Run on IPython
9 and on Colab's IPython 7.34 (``.venv-ipy7``).
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from hubmagic.core.names import cache_key
from hubmagic.plan import SetupPlan
from tests.shell_fixtures import Shell

PASSWORD = "s3cr3t-pw"


@pytest.fixture
def not_a_folder(tmp_path: Path) -> Path:
    """A file where a cache folder should be (a problem in the plan), its name with ``&``."""
    file = tmp_path / "cache&<file>"
    file.write_text("x")
    return file


# -- the terminal form ---------------------------------------------------------------


def test_hub_setup_shows_its_text_once_and_no_repr_line(shell: Shell, cache: str) -> None:
    plan, out = shell.show(f"%hub_setup local --cache {cache}")
    assert isinstance(plan, SetupPlan) and plan.applied
    assert out == plan.describe("magic") + "\n"
    assert out.count("Runtime:") == 1 and "<SetupPlan" not in out


def test_an_assigned_plan_without_problems_shows_nothing(shell: Shell, cache: str) -> None:
    _, out = shell.show(f"plan = %hub_setup local --cache {cache} --dry-run")
    assert out == ""
    plan = shell.user_ns["plan"]
    assert isinstance(plan, SetupPlan) and plan.ok and plan.cache_dir == cache
    assert plan.to_dict()["cache_dir"] == cache


@pytest.mark.parametrize(
    "cell",
    [
        "plan = %hub_setup local --cache '{file}' --dry-run",
        "%hub_setup local --cache '{file}' --dry-run\nx = 1",
        "plan = %hub_setup local --cache '{file}' --dry-run\nplan",
        "plan = %hub_setup local --cache '{file}' --dry-run\nprint(plan.ok)",
    ],
)
def test_a_plan_with_a_problem_is_shown_once_however_the_cell_ends(
    shell: Shell, not_a_folder: Path, cell: str
) -> None:
    _, out = shell.show(cell.format(file=not_a_folder))
    assert out.count("Problems:") == 1, out
    assert out.count(f"x the cache folder {not_a_folder} is a file") == 1
    assert out.count("(dry run: nothing was changed)") == 1
    assert "<SetupPlan" not in out


def test_a_plan_made_outside_a_cell_is_not_shown_by_the_next_cell(
    shell: Shell, not_a_folder: Path
) -> None:
    plan = shell.magic("hub_setup", f"local --cache '{not_a_folder}' --dry-run")
    assert not plan.ok  # the caller holds it; a later cell does not show it
    assert shell.show("x = 1")[1] == ""


def test_hub_cache_and_hub_info_show_their_text_once(
    shell: Shell, tmp_path: Path, damaged_cache: Path
) -> None:
    cache = tmp_path / "empty"
    cache.mkdir()
    listing, out = shell.show(f"%hub_cache ls --cache {cache}")
    assert out == listing.text() + "\n" and out.count("0 entries") == 1
    _, out = shell.show(f"report = %hub_cache ls --cache {cache}")
    assert out == ""
    _, out = shell.show(f"report = %hub_cache verify --cache {damaged_cache}")
    assert out.count("need attention:") == 1  # not ok: shown although assigned
    assert not shell.user_ns["report"].ok
    info, out = shell.show("%hub_info")
    assert out == info.text() + "\n" and out.count("Settings in force:") == 1


def test_hub_cache_not_done_shows_the_report_once_then_one_line(
    shell: Shell, damaged_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = shell.ip.run_cell(f"%hub_cache rm h/live --yes --cache {damaged_cache}")  # type: ignore[no-untyped-call]
    captured = capsys.readouterr()
    assert isinstance(result.error_in_exec, UsageError)
    (said,) = str(result.error_in_exec).splitlines()
    assert said.startswith("not removed: ") and "being downloaded" in said
    assert captured.out.count("Nothing to delete") + captured.out.count("Will delete") == 1
    assert (damaged_cache / f"{cache_key('h/live')}.lock").exists()


# -- the notebook form ---------------------------------------------------------------


def test_the_html_form_is_the_same_wording_escaped_and_themed(
    shell: Shell, not_a_folder: Path
) -> None:
    plan = shell.magic(
        "hub_setup",
        f"local --cache '{not_a_folder}' --endpoint https://u:{PASSWORD}@127.0.0.1:1 --dry-run",
    )
    page = plan._repr_html_()
    assert "cache&amp;&lt;file&gt;" in page and "<file>" not in page
    assert "var(--jp-error-color1, #c62828)" in page  # the problem, in the theme's error colour
    for part in plan.parts("magic"):
        assert part.heading.replace("'", "&#x27;") in page
    assert "fix: choose a folder: %hub_setup --cache DIR" in page
    assert "(dry run: nothing was changed)" in page
    assert PASSWORD not in page and PASSWORD not in plan.text() and "REDACTED@" in page


def test_the_cache_and_info_html_keep_every_line_of_the_text_escaped(
    shell: Shell, tmp_path: Path, damaged_cache: Path
) -> None:
    folder = tmp_path / "c&<x>"
    folder.mkdir()
    page = shell.magic("hub_cache", f"ls --cache '{folder}'")._repr_html_()
    assert "c&amp;&lt;x&gt;" in page and "<x>" not in page and "<table" in page
    listing = shell.magic("hub_cache", f"ls --cache {damaged_cache}")
    page = listing._repr_html_()
    text = listing.text().splitlines()
    assert text[0].split() == ["STATUS", "SIZE", "LAST", "USED", "HANDLE"]
    trailer = text[len(listing.result.info.entries) + 2 :]  # after the table and its blank line
    assert "Problems:" in trailer and "Warnings:" in trailer
    for line in trailer:
        assert html.escape(line) in page, line
    for entry in listing.result.info.entries:
        assert f">{html.escape(entry.label)}</td>" in page
    assert "var(--jp-error-color1, #c62828)" in page and "var(--jp-warn-color1, #e65100)" in page
    verify = shell.magic("hub_cache", f"verify --cache {damaged_cache}")
    for line in verify.text().splitlines():
        assert html.escape(line.strip()) in verify._repr_html_(), line
    info = shell.magic("hub_info")
    for line in info.text().splitlines():
        assert html.escape(line) in info._repr_html_(), line


# -- in a kernel ---------------------------------------------------------------------


def _kernel_run(cells: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Runs ``cells`` in a fresh python3 kernel; returns each cell's outputs."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    for name in list(os.environ):
        if name.startswith(("TFHUB_", "HUBMAGIC_", "JUPYTER", "IPYTHON")):
            monkeypatch.delenv(name)
    for name in ("runtime", "ipython"):
        (tmp_path / "kernel" / name).mkdir(parents=True)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "kernel" / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "kernel" / "ipython"))
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "default-cache"))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(
        notebook, timeout=60, startup_timeout=60, kernel_name="python3", allow_errors=True
    )
    client.execute()
    return [cell.outputs for cell in notebook.cells]


@pytest.mark.timeout(180)
# The jupyter_client that installs beside Colab's pins calls utcnow(), deprecated since 3.12.
@pytest.mark.filterwarnings("ignore:datetime.datetime.utcnow:DeprecationWarning")
def test_in_a_kernel_each_magic_makes_exactly_one_output(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    not_a_folder: Path,
    damaged_cache: Path,
) -> None:
    cache = str(tmp_path / "models")
    os.makedirs(cache)
    cells = [
        "%load_ext hubmagic",
        f"%hub_setup local --cache {cache}",
        f"plan = %hub_setup local --cache {cache} --dry-run",
        f"plan = %hub_setup local --cache '{not_a_folder}' --dry-run",
        "import hubmagic\nprint(isinstance(plan, hubmagic.SetupPlan), plan.ok)",
        "%hub_info",
        f"%hub_cache ls --cache {cache}",
        f"report = %hub_cache verify --cache {damaged_cache}",
        f"%hub_cache rm h/live --yes --cache {damaged_cache}",
        # IPython passes a trailing ";" to a line magic (it does not silence it): read as
        # no argument, and the plan is still shown once.
        f"%hub_setup local --cache '{not_a_folder}' --dry-run;",
    ]
    out = _kernel_run(cells, tmp_path, monkeypatch)
    assert out[0] == []

    (setup,) = out[1]
    assert setup.output_type == "execute_result"
    assert {"text/html", "text/plain"} <= set(setup.data)
    assert setup.data["text/plain"].count("Runtime:") == 1
    assert "<SetupPlan" not in setup.data["text/plain"]
    assert "hubmagic-plan" in setup.data["text/html"] and cache in setup.data["text/html"]

    assert out[2] == []  # assigned, no problem: nothing

    (problem,) = out[3]  # assigned, with a problem: shown once, after the cell
    assert problem.output_type == "display_data"
    assert "is a file, not a folder" in problem.data["text/plain"]
    assert "cache&amp;&lt;file&gt;" in problem.data["text/html"]
    assert "var(--jp-error-color1" in problem.data["text/html"]
    (printed,) = out[4]
    assert printed.text.strip() == "True False"

    (info,) = out[5]
    assert info.output_type == "execute_result" and "text/html" in info.data
    assert "Settings in force:" in info.data["text/html"]

    (listing,) = out[6]
    assert listing.output_type == "execute_result" and "0 entries" in listing.data["text/plain"]
    assert "<table" in listing.data["text/html"]

    (verify,) = out[7]
    assert verify.output_type == "display_data" and "need attention" in verify.data["text/plain"]

    report, error = out[8]
    assert report.output_type == "display_data" and "text/html" in report.data
    # IPython shows a UsageError as one stderr line, not as a traceback.
    assert error.output_type == "stream" and error.name == "stderr"
    assert error.text.startswith("UsageError: not removed:") and "Traceback" not in error.text

    (problem,) = out[9]
    assert problem.data["text/plain"].count("is a file, not a folder") == 1
