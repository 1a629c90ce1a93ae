"""Frozen records as JSON: every record a front end shows gives its own ``to_dict()``.

``hubmagic ... --json`` prints ``record.to_dict()``; there is no hand-written
mapper per command (huggingface_hub's ``cli/_output.py`` habit). A record
overrides ``to_dict`` only where its JSON form is not simply its fields (a
display property to add, an internal field to leave out).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` made of dicts, lists, strings, numbers, booleans and ``None``."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):
        return to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


class Record:
    """Mixin for frozen dataclasses: ``to_dict()`` is every field, as JSON values."""

    def to_dict(self) -> dict[str, Any]:
        assert dataclasses.is_dataclass(self)
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}
