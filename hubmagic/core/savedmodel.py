"""Is this file listing a whole SavedModel? A pure check shared by every store.

tensorflow_hub's own hit check is "the folder exists and is not empty", so a
half-deleted or half-copied folder is returned and then fails to load with
"contains neither 'saved_model.pb' nor 'saved_model.pbtxt'" (tensorflow/hub
#896, #879, #850). hubmagic checks what the loader needs instead, on names and
sizes only, so the same check runs on a local folder and on a gs:// listing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

GRAPH_FILES = ("saved_model.pb", "saved_model.pbtxt")
_SHARD = re.compile(r"^variables/variables\.data-(\d+)-of-(\d+)$")


def find_problem(files: Mapping[str, int]) -> str | None:
    """Says what is wrong with a SavedModel folder, or ``None`` if it looks whole.

    Args:
        files: every file of the folder that matters, as a POSIX path relative
            to the folder mapped to its size in bytes. At least the root files
            and those under ``variables/`` must be present; a name ending in
            ``/`` stands for a folder whose content was not listed.

    Returns:
        A short phrase ("has no saved_model.pb", ...) or ``None``.
    """
    if not files:
        return "is empty"
    graph = next((name for name in GRAPH_FILES if name in files), None)
    if graph is None:
        nested = sorted(n for n in files if n.rsplit("/", 1)[-1] in GRAPH_FILES)
        where = f" (one is at {nested[0]}: the SavedModel must be at the root)" if nested else ""
        return f"has no saved_model.pb or saved_model.pbtxt at its root{where}"
    if files[graph] == 0:
        return f"has an empty {graph}"
    variables = [n for n in files if n.startswith("variables/")]
    if not variables:
        return None
    if "variables/variables.index" not in files:
        return "has variables but no variables/variables.index"
    shards: dict[int, set[int]] = {}
    for name in variables:
        match = _SHARD.match(name)
        if match:
            shards.setdefault(int(match.group(2)), set()).add(int(match.group(1)))
    if not shards:
        return "has variables/variables.index but no variables data file"
    for count, present in shards.items():
        missing = sorted(set(range(count)) - present)
        if missing:
            return f"is missing variables data shard {missing[0]} of {count}"
    return None
