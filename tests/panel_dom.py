"""The cache panel's DOM as the browser tests find it: CSS selectors and column names.

What hubmagic/ui/panel*.py, cache_row.py and progress_widget.py put on the page
(``tests/ui/test_browser.py``, ``test_browser_panel.py``, ``test_frontends.py``
look for these): written out here, not imported from hubmagic, so a renamed
class fails the tests instead of following along.
"""

from __future__ import annotations

PANEL = ".hubmagic-panel"
ROW = ".hubmagic-row"
HEAD = ".hubmagic-table-head"
"""The table's head line: sort buttons (:data:`SORT`) over model, size and used."""
BADGE = ".hubmagic-badge"
"""A row's status badge; its ``data-status`` is the entry's status kind."""
MODEL = ".hubmagic-model"
"""A row's model cell; its ``title`` is the handle."""
SORT = ".hubmagic-sort"
"""A sort button of the head; its label ends with ▼ or ▲ once it sorts."""
DISK = ".hubmagic-disk"
FILTER = ".hubmagic-filter"
MESSAGE = ".hubmagic-message"
PROGRESS_ROW = ".hubmagic-progress-row"
PROGRESS_PHASE = ".hubmagic-progress-phase"
COLUMNS = ("model", "size", "used", "status", "actions")
"""The table's columns, left to right (each cell is ``.hubmagic-col-<name>``)."""
