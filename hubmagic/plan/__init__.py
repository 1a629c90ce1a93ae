"""The setup layer: where this runs (:mod:`.runtime`), what to set up (:mod:`.decide`), applying it.

Pure decisions over injectable facts; the only side effects are in applying a
plan (environment variables and the session). Never imports IPython,
ipywidgets or TensorFlow (``tests/test_architecture.py`` checks it).

The names below are re-exported so that ``hubmagic.plan.check_uncompressed``
and the like keep working as documented before the layers were folders.
"""

from hubmagic.plan.decide import (
    MODES,
    Problem,
    SetupPlan,
    UncompressedProbe,
    apply_plan,
    check_uncompressed,
    models_from,
    plan_setup,
    setup,
)

__all__ = [
    "MODES",
    "Problem",
    "SetupPlan",
    "UncompressedProbe",
    "apply_plan",
    "check_uncompressed",
    "models_from",
    "plan_setup",
    "setup",
]
