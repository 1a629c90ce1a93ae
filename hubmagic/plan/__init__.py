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

Import the names below from here: the modules behind them may move.
"""

from hubmagic.plan.apply import apply_plan, check_uncompressed, setup
from hubmagic.plan.checks import disk_free
from hubmagic.plan.decide import MODES, plan_setup
from hubmagic.plan.detect import detect_runtime
from hubmagic.plan.records import Problem, SetupPlan, UncompressedProbe, models_from
from hubmagic.plan.runtime import PACKAGE_NAMES, Evidence, PackageInfo, Runtime, Settings

__all__ = [
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
