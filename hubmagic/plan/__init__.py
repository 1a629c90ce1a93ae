"""The setup layer: where this runs, what to set up, applying it.

- :mod:`.runtime`: the records of a runtime (:class:`Runtime`, ...);
  :mod:`.detect` and :mod:`.accelerator`: :func:`detect_runtime`'s rules.
- :mod:`.records`: :class:`SetupPlan`, :class:`Problem`, :class:`UncompressedProbe`.
- :mod:`.decide`: :func:`plan_setup` and its rules, with :mod:`.cache_choice`
  (where the cache goes) and :mod:`.checks` (cache folder, disk, packages).
- :mod:`.apply`: :func:`apply_plan`, :func:`setup`, :func:`check_uncompressed`.
- :mod:`.info`: what ``%hub_info`` / ``hubmagic info`` report.

Pure decisions over injectable facts; the only side effects are in applying a
plan (environment variables and the session), and a plan with problems is
never applied. Never imports hubmagic.tf, hubmagic.ui, IPython, ipywidgets or
TensorFlow (an import-linter contract checks it).

Import the names below from here: the modules behind them may move. They are
imported on first use, so that ``%load_ext`` (which needs only :data:`MODES`)
stays light.
"""

from typing import TYPE_CHECKING

from hubmagic._lazy import lazy_exports

if TYPE_CHECKING:
    from hubmagic.plan.apply import apply_plan, check_uncompressed, setup
    from hubmagic.plan.checks import disk_free
    from hubmagic.plan.decide import plan_setup
    from hubmagic.plan.detect import detect_runtime
    from hubmagic.plan.modes import DEFAULT_PROBE_HANDLE, IO_DEVICE_LOCALHOST, MODES
    from hubmagic.plan.records import Problem, SetupPlan, UncompressedProbe, models_from
    from hubmagic.plan.runtime import PACKAGE_NAMES, Evidence, PackageInfo, Runtime, Settings

_EXPORTS = {
    "DEFAULT_PROBE_HANDLE": ("hubmagic.plan.modes", "DEFAULT_PROBE_HANDLE"),
    "Evidence": ("hubmagic.plan.runtime", "Evidence"),
    "IO_DEVICE_LOCALHOST": ("hubmagic.plan.modes", "IO_DEVICE_LOCALHOST"),
    "MODES": ("hubmagic.plan.modes", "MODES"),
    "PACKAGE_NAMES": ("hubmagic.plan.runtime", "PACKAGE_NAMES"),
    "PackageInfo": ("hubmagic.plan.runtime", "PackageInfo"),
    "Problem": ("hubmagic.plan.records", "Problem"),
    "Runtime": ("hubmagic.plan.runtime", "Runtime"),
    "Settings": ("hubmagic.plan.runtime", "Settings"),
    "SetupPlan": ("hubmagic.plan.records", "SetupPlan"),
    "UncompressedProbe": ("hubmagic.plan.records", "UncompressedProbe"),
    "apply_plan": ("hubmagic.plan.apply", "apply_plan"),
    "check_uncompressed": ("hubmagic.plan.apply", "check_uncompressed"),
    "detect_runtime": ("hubmagic.plan.detect", "detect_runtime"),
    "disk_free": ("hubmagic.plan.checks", "disk_free"),
    "models_from": ("hubmagic.plan.records", "models_from"),
    "plan_setup": ("hubmagic.plan.decide", "plan_setup"),
    "setup": ("hubmagic.plan.apply", "setup"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "DEFAULT_PROBE_HANDLE",
    "IO_DEVICE_LOCALHOST",
    "MODES",
    "PACKAGE_NAMES",
    "Evidence",
    "PackageInfo",
    "Problem",
    "Runtime",
    "Settings",
    "SetupPlan",
    "UncompressedProbe",
    "apply_plan",
    "check_uncompressed",
    "detect_runtime",
    "disk_free",
    "models_from",
    "plan_setup",
    "setup",
]
