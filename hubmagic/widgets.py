"""Kept so that ``from hubmagic.widgets import panel`` (documented before 0.2) still works.

The widgets live in :mod:`hubmagic.ui.widgets`.
"""

from hubmagic.ui.widgets import *  # noqa: F403
from hubmagic.ui.widgets import __all__  # noqa: F401
