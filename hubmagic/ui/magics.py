"""The IPython magics: parse the line, call the core, render the result.

``%hub_setup``, ``%hub_load``, ``%hub_cache``, ``%hub_panel`` and ``%hub_info``. Nothing here
touches files or the network itself; every decision lives in the core. A bad
argument or a :class:`~hubmagic.errors.HubmagicError` becomes a ``UsageError``:
IPython shows its message without a traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from traitlets import Bool, TraitError, Unicode, validate

from hubmagic.core import config, session
from hubmagic.core.actions import CACHE_ACTIONS
from hubmagic.core.errors import HubmagicError
from hubmagic.core.progress import Phase, ProgressCallback, ProgressEvent
from hubmagic.tf import plug as tfhub
from hubmagic.ui.options import SETUP_OPTIONS, Option, setup_arguments

if TYPE_CHECKING:
    from traitlets.config import Config

MAGIC_NAMES = ("hub_setup", "hub_load", "hub_cache", "hub_panel", "hub_info")
IPYWIDGETS_INSTALL = "pip install ipywidgets"
_warned_no_widgets = False


@contextmanager
def _usage_errors() -> Iterator[None]:
    """Shows hubmagic's own errors once, as a message and its fix line: no traceback."""
    try:
        yield
    except HubmagicError as exc:
        from hubmagic.ui.wording import error_lines  # on failure only: %load_ext stays light

        raise UsageError("\n".join(error_lines(exc, "magic"))) from None


class LoadInterrupted(KeyboardInterrupt):
    """Ctrl-C in ``%hub_load``: IPython shows it as its one line, not a traceback.

    Still a KeyboardInterrupt, so the cell stops (and "run all" with it), and
    code that catches Ctrl-C around the magic still does.
    """

    def _render_traceback_(self) -> list[str]:  # IPython's hook for its own rendering
        return [str(self)]


@contextmanager
def _one_line_interrupt(resolved: list[bool]) -> Iterator[None]:
    """Turns Ctrl-C into :class:`LoadInterrupted`, saying what happened to the cache.

    The resolver has cleaned up by then (lock and tmp folder removed); once it
    is done (``resolved[0]``), the model is in the cache and the load was stopped.
    """
    try:
        yield
    except KeyboardInterrupt as exc:
        if isinstance(exc, LoadInterrupted):
            raise
        from hubmagic.ui import wording  # on interrupt only: %load_ext stays light

        text = wording.LOAD_INTERRUPTED_LOADING if resolved[0] else wording.LOAD_INTERRUPTED
        raise LoadInterrupted(text) from None


def _print(text: str) -> None:
    progress = sys.modules.get("hubmagic.ui.textprogress")  # loaded once a download showed text
    if progress is None:
        print(text)
    else:  # above downloads still drawn (another thread's %hub_load), not inside them
        progress.print_line(text)


# A value that starts with "-" and a digit is a value, not an option: none of the
# magics has such an option, and "--max-size -1G" must reach the size check.
_DASH_DIGIT = re.compile(r"^-\.?\d")


def _parse(magic: Callable[..., Any], line: str) -> argparse.Namespace:
    """Splits ``line`` as a shell does (quotes group, ``''`` is an empty word) and parses it.

    IPython's own splitter (``parse_argstring``) keeps the quotes inside the
    words, so ``--cache "/My Drive/x"`` would name a folder with quotes in it.
    """
    # IPython leaves a trailing ";" in a line magic's line (it silences expressions only).
    line = line.rstrip().removesuffix(";")
    try:
        argv = shlex.split(line)
    except ValueError as exc:  # an unclosed quote, or a lone backslash at the end
        what = "a quote is not closed" if "quotation" in str(exc) else str(exc).lower()
        raise UsageError(
            f"cannot read the arguments: {what}. Quote a path with spaces once: "
            '"/content/drive/My Drive/tfhub"'
        ) from None
    parser: argparse.ArgumentParser = magic.parser  # type: ignore[attr-defined]
    parser._negative_number_matcher = _DASH_DIGIT
    return parser.parse_args(argv)


def _with_options(options: tuple[Option, ...]) -> Callable[[Any], Any]:
    """Declares shared :class:`Option` s on a magic (as ``magic_arguments.argument`` would)."""

    def decorate(func: Any) -> Any:
        for option in reversed(options):
            func = magic_arguments.argument(*option.flags, **option.kwargs)(func)
        return func

    return decorate


def _progress_error(value: object) -> str:
    return (
        f"HubMagics.progress={value!r} is not a progress mode: use one of "
        f"{', '.join(config.PROGRESS_MODES)}."
    )


def choose_progress(
    setting: str,
    *,
    in_kernel: Callable[[], bool],
    has_ipywidgets: Callable[[], bool],
    environ: Mapping[str, str] | None = None,
) -> str:
    """Which progress renderer to use: ``"widget"``, ``"text"`` or ``"off"``.

    ``HUBMAGIC_PROGRESS`` wins over ``setting`` (``%config HubMagics.progress``).
    ``auto`` means widgets in a Jupyter / Colab kernel when ipywidgets is
    installed, else text (tqdm.autonotebook's rule). ``widget`` without
    ipywidgets falls back to text, with a warning naming the install command
    (once per process).

    Args:
        setting: ``auto``, ``widget``, ``text`` or ``off``.
        in_kernel: whether the shell is a kernel's (asked only for ``auto``).
        has_ipywidgets: whether ipywidgets can be imported (asked only when needed).
        environ: the environment; default ``os.environ``.

    Raises:
        InvalidSettingError: ``HUBMAGIC_PROGRESS`` has another value.
    """
    global _warned_no_widgets
    choice = config.progress_mode(environ) or setting.lower()
    if choice == "auto":
        return "widget" if in_kernel() and has_ipywidgets() else "text"
    if choice == "widget" and not has_ipywidgets():
        if not _warned_no_widgets:
            _warned_no_widgets = True
            warnings.warn(
                f"hubmagic: progress widgets need ipywidgets ({IPYWIDGETS_INSTALL}); "
                "showing text progress instead.",
                UserWarning,
                stacklevel=3,
            )
        return "text"
    return choice


@magics_class
class HubMagics(Magics):
    """Magics to set up, load and manage TensorFlow Hub models.

    Options (``%config HubMagics.<name> = value``):
    """

    progress = Unicode(
        "auto",
        help=f"How downloads show progress: {', '.join(config.PROGRESS_MODES)}; "
        "HUBMAGIC_PROGRESS overrides it.",
    ).tag(config=True)
    summary = Bool(True, help="Print one summary line after %hub_load.").tag(config=True)

    @validate("progress")
    def _check_progress(self, proposal: Any) -> str:
        value = proposal["value"]
        if isinstance(value, str) and value.strip().lower() in config.PROGRESS_MODES:
            return value.strip().lower()
        # %config prints this one line. The refused value must not stay in the
        # shell's config either, or the next %reload_ext would meet it again.
        _forget_setting(self.config, "progress", value)
        raise TraitError(_progress_error(value))

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        self._panel: Any = None  # the last %hub_panel, which follows downloads
        try:
            super().__init__(shell=shell, **kwargs)
        except TraitError:
            # IPython's Magics.__init__ registers the instance before traitlets
            # loads the config: a refused value must not leave a half-made one.
            if shell is not None:
                shell.configurables[:] = [c for c in shell.configurables if c is not self]
            raise
        if shell is not None and self not in shell.configurables:
            shell.configurables.append(self)

    # -- progress ----------------------------------------------------------------
    def progress_callback(self, *, show_hits: bool = True) -> ProgressCallback | None:
        """The renderer the settings ask for (see :func:`choose_progress`)."""
        choice = choose_progress(
            self.progress, in_kernel=self._in_kernel, has_ipywidgets=_has_ipywidgets
        )
        if choice == "off":
            return None
        if choice == "widget":
            from hubmagic.ui.widgets import WidgetProgress

            return WidgetProgress(show_hits=show_hits)
        from hubmagic.ui.textprogress import TextProgress

        return TextProgress(show_hits=show_hits)

    def _in_kernel(self) -> bool:
        from hubmagic.plan import detect_runtime

        return detect_runtime(shell=self.shell).frontend == "kernel"

    # -- %hub_setup --------------------------------------------------------------
    @magic_arguments.magic_arguments()
    @_with_options(SETUP_OPTIONS)
    @magic_arguments.argument(
        "--dry-run", action="store_true", help="show the plan without applying it."
    )
    @line_magic
    def hub_setup(self, line: str) -> Any:
        """Detect the runtime, choose where models are cached and how they load, and say why.

        ``%hub_setup tpu`` is the one-line TPU cell. Without --dry-run the plan
        is applied: TFHUB_CACHE_DIR / TFHUB_MODEL_LOAD_FORMAT are set, so plain
        hub.load calls follow it too, and %hub_load uses its io device.
        --uncompressed first asks the hub for one model (--probe) in the
        uncompressed format: a hub that does not answer with a gs:// path is a
        problem in the plan. Returns the SetupPlan, which shows itself (once);
        a plan with problems is shown even when assigned (``plan = %hub_setup``).
        """
        args = _parse(self.hub_setup, line)
        from hubmagic.api import setup
        from hubmagic.ui.shown import UNSEEN, ShownPlan

        with _usage_errors():
            plan = setup(**setup_arguments(args), dry_run=args.dry_run)
        tfhub.install(self._hub_progress)  # the magics' progress for plain hub.load
        shown = ShownPlan.of(plan, "magic", dry_run=args.dry_run)
        UNSEEN.expect(shown)
        return shown

    def _hub_progress(self) -> ProgressCallback | None:
        return self.progress_callback()

    # -- %hub_load ---------------------------------------------------------------
    @magic_arguments.magic_arguments()
    @magic_arguments.argument(
        "handle", help="tfhub.dev / Kaggle / http(s) / gs:// handle or folder."
    )
    @magic_arguments.argument(
        "--keras", action="store_true", help="return a hub.KerasLayer (needs tf-keras)."
    )
    @magic_arguments.argument("--signature", metavar="NAME", help="the signature to use.")
    @magic_arguments.argument(
        "--output-key", metavar="KEY", help="with --keras --signature: the output to return."
    )
    @magic_arguments.argument("--tags", metavar="T,...", help="MetaGraph tags, comma separated.")
    @magic_arguments.argument(
        "--trainable", action="store_true", help="with --keras: a trainable layer."
    )
    @line_magic
    def hub_load(self, line: str) -> Any:
        """Download (with progress) and load a model: ``model = %hub_load HANDLE``.

        Uses the cache and LoadOptions chosen by %hub_setup, prints one summary
        line (from cache or downloaded, size, time per phase) and returns the
        model.
        """
        args = _parse(self.hub_load, line)
        if args.trainable and not args.keras:
            raise UsageError("%hub_load: --trainable goes with --keras.")
        if args.output_key and not (args.keras and args.signature):
            raise UsageError("%hub_load: --output-key goes with --keras and --signature.")
        from hubmagic.tf.loader import load_model

        tags = [t.strip() for t in args.tags.split(",") if t.strip()] if args.tags else None
        shown = self.progress_callback(show_hits=False)
        resolved = [False]

        def progress(event: ProgressEvent) -> None:
            resolved[0] = resolved[0] or event.phase is Phase.DONE
            if shown is not None:
                shown(event)

        with _usage_errors(), _one_line_interrupt(resolved):
            loaded = load_model(
                args.handle,
                keras=args.keras,
                signature=args.signature,
                output_key=args.output_key,
                tags=tags,
                trainable=args.trainable,
                progress=progress,
            )
        if self.summary:
            _print(loaded.summary())
        return loaded.model

    # -- %hub_cache --------------------------------------------------------------
    @magic_arguments.magic_arguments()
    @magic_arguments.argument(
        "action",
        nargs="?",
        default="ls",
        choices=CACHE_ACTIONS,
        help="ls (default), verify, rm HANDLE..., repair, clear, prune --max-size SIZE.",
    )
    @magic_arguments.argument("handles", nargs="*", help="with rm: handles or cache keys.")
    @magic_arguments.argument(
        "--max-size", metavar="SIZE", help="with prune: keep the cache under this (e.g. 20G)."
    )
    @magic_arguments.argument(
        "--yes", action="store_true", help="really delete (without it, only the plan is shown)."
    )
    @magic_arguments.argument(
        "--cache", metavar="DIR", help="another cache folder than TFHUB_CACHE_DIR."
    )
    @line_magic
    def hub_cache(self, line: str) -> Any:
        """List, verify and clean the model cache.

        Destructive actions (rm, repair, clear, prune) show what they would
        delete and how much it frees, and act only with --yes. Returns the
        report, which shows itself.
        """
        args = _parse(self.hub_cache, line)
        if args.handles and args.action != "rm":
            raise UsageError(f"%hub_cache {args.action} takes no handles.")
        if args.action == "rm" and not args.handles:
            raise UsageError("%hub_cache rm needs at least one handle (see %hub_cache ls).")
        if (args.max_size is None) == (args.action == "prune"):
            raise UsageError(
                "--max-size goes with prune, and prune needs it (e.g. --max-size 20G)."
            )
        from hubmagic.core.actions import cache_action
        from hubmagic.core.cache import require_cache_folder

        with _usage_errors():
            if args.cache is not None:
                require_cache_folder(args.cache)
            max_bytes = None if args.max_size is None else config.parse_size(args.max_size)
            result = cache_action(
                args.action,
                handles=args.handles,
                max_bytes=max_bytes,
                yes=args.yes,
                cache_dir=args.cache,
            )
        from hubmagic.ui.shown import UNSEEN, CacheReport

        report = CacheReport(result, front="magic")
        if report.not_done is not None:  # raised, so not returned: shown here, then said
            from IPython.display import display

            display(report)
            raise UsageError(report.not_done)
        UNSEEN.expect(report)
        return report

    # -- %hub_panel --------------------------------------------------------------
    @magic_arguments.magic_arguments()
    @magic_arguments.argument(
        "--cache", metavar="DIR", help="another cache folder than TFHUB_CACHE_DIR."
    )
    @line_magic
    def hub_panel(self, line: str) -> None:
        """Show the cache as a live panel: sizes, states, Delete / Repair / Clear all.

        Destructive buttons show what they would delete and act only after
        Confirm. Downloads in this kernel appear in the panel while they run;
        a new %hub_panel stops the previous one from following them.
        """
        args = _parse(self.hub_panel, line)
        if not _has_ipywidgets():
            raise UsageError(f"%hub_panel needs ipywidgets: {IPYWIDGETS_INSTALL}")
        from IPython.display import display

        from hubmagic.core.cache import require_cache_folder
        from hubmagic.ui.widgets import panel

        with _usage_errors():
            if args.cache is not None:
                require_cache_folder(args.cache)
            widget = panel(args.cache)
        self._stop_panel()
        self._panel = widget
        display(widget)

    def _stop_panel(self) -> None:
        if self._panel is not None:
            self._panel.stop_listening()
            self._panel = None

    # -- %hub_info ---------------------------------------------------------------
    @line_magic
    def hub_info(self, line: str) -> Any:
        """Runtime, evidence, settings in force and versions: paste it into a bug report."""
        if line.strip():
            raise UsageError("%hub_info takes no arguments.")
        from hubmagic.plan.info import info
        from hubmagic.ui.shown import UNSEEN, InfoShown

        shown = InfoShown(info(), front="magic")
        UNSEEN.expect(shown)
        return shown


def _has_ipywidgets() -> bool:
    # find_spec, not import: deciding must not load ipywidgets (and its comm machinery).
    return importlib.util.find_spec("ipywidgets") is not None


def _forget_setting(cfg: Config, name: str, value: object) -> None:
    """Drops ``HubMagics.<name>`` from a config when it still holds ``value``."""
    section = cfg.get("HubMagics") if "HubMagics" in cfg else None
    if section is not None and name in section and section[name] == value:
        del section[name]


def load(shell: Any) -> HubMagics:
    """Registers the magics and plugs into tensorflow_hub when it is (or gets) imported.

    Never fails on a bad ``%config HubMagics.*`` value left in the shell's
    config: it is dropped, with a one-line warning, and the default is used.
    """
    try:
        magics = HubMagics(shell)
    except TraitError as exc:
        section = shell.config.get("HubMagics") if "HubMagics" in shell.config else {}
        bad = {name: section[name] for name in list(section)}
        for name, value in bad.items():
            _forget_setting(shell.config, name, value)
        sys.stderr.write(f"hubmagic: {exc} Using the defaults instead.\n")
        magics = HubMagics(shell)
    shell.register_magics(magics)
    tfhub.install(magics._hub_progress)
    _unregister_events(shell)
    shell.events.register("pre_execute", _forget_unseen)
    shell.events.register("post_execute", _show_unseen)
    return magics


# A record with a problem that the cell did not display is displayed once after it
# (hubmagic.ui.shown.UNSEEN); one left by a magic run outside a cell is forgotten.
def _forget_unseen() -> None:
    shown = sys.modules.get("hubmagic.ui.shown")  # loaded by the first magic that returned one
    if shown is not None:
        shown.UNSEEN.clear()


def _show_unseen() -> None:
    shown = sys.modules.get("hubmagic.ui.shown")
    if shown is not None:
        shown.UNSEEN.show()


def _unregister_events(shell: Any) -> None:
    for event, callback in (("pre_execute", _forget_unseen), ("post_execute", _show_unseen)):
        if callback in shell.events.callbacks[event]:
            shell.events.unregister(event, callback)


def unload(shell: Any) -> None:
    """Removes the magics and stops the tensorflow_hub plug (for %unload_ext / %reload_ext)."""
    line_magics = shell.magics_manager.magics["line"]
    for name in MAGIC_NAMES:
        line_magics.pop(name, None)
    for magics in shell.configurables:
        if isinstance(magics, HubMagics):
            magics._stop_panel()
    shell.configurables[:] = [c for c in shell.configurables if not isinstance(c, HubMagics)]
    _unregister_events(shell)
    tfhub.uninstall()
    session.reset()
