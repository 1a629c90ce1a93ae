from __future__ import annotations

import pytest

from hubmagic.core.savedmodel import find_problem

WHOLE = {
    "saved_model.pb": 100,
    "fingerprint.pb": 10,
    "variables/variables.index": 50,
    "variables/variables.data-00000-of-00002": 1000,
    "variables/variables.data-00001-of-00002": 1000,
    "assets/vocab.txt": 5,
}


def without(name: str) -> dict[str, int]:
    return {k: v for k, v in WHOLE.items() if k != name}


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        (WHOLE, None),
        ({"saved_model.pbtxt": 3}, None),
        ({"saved_model.pb": 3}, None),
        ({}, "is empty"),
        (without("saved_model.pb"), "has no saved_model.pb or saved_model.pbtxt at its root"),
        (
            {"model/saved_model.pb": 3},
            "has no saved_model.pb or saved_model.pbtxt at its root (one is at "
            "model/saved_model.pb: the SavedModel must be at the root)",
        ),
        ({**WHOLE, "saved_model.pb": 0}, "has an empty saved_model.pb"),
        (without("variables/variables.index"), "has variables but no variables/variables.index"),
        (
            without("variables/variables.data-00001-of-00002"),
            "is missing variables data shard 1 of 2",
        ),
        (
            {"saved_model.pb": 1, "variables/variables.index": 1},
            "has variables/variables.index but no variables data file",
        ),
    ],
)
def test_find_problem(files: dict[str, int], problem: str | None) -> None:
    assert find_problem(files) == problem
